import { readFileSync } from 'node:fs';
import { adminCommand, requireFlag, type AdminCommandSpec } from '../../admin-command.js';
import { ExitCode, UsageError } from '../../command.js';
import { federatedBundleJson, FEDERATED_TRUST_DOMAIN_OPTION, type FederatedBundleMessage } from './shared.js';

export const bundleSetSpec: AdminCommandSpec = {
  name: 'set',
  path: 'bundle set',
  summary: "store a federated trust domain's bundle (a static bundle when no relationship fetches it)",
  synopsis: '--trust-domain TD --bundle FILE',
  description:
    "Store a federated trust domain's bundle, replacing any stored one (like spire-server bundle set). Without a\n" +
    'federation relationship it is a static bundle, served to entries that --federates-with the trust domain and\n' +
    'never fetched; with one, the next successful fetch replaces it.',
  options: {
    ...FEDERATED_TRUST_DOMAIN_OPTION,
    bundle: {
      type: 'string',
      value: 'FILE',
      description: 'SPIFFE bundle JSON or PEM certificates ("-" = standard input)',
    },
  },
  async run(ctx) {
    const trustDomain = requireFlag(ctx.flags, 'trust-domain', 'the federated trust domain, e.g. b.test');
    const file = requireFlag(ctx.flags, 'bundle', 'a SPIFFE bundle JSON or PEM file, or "-" for standard input');
    let bytes: Buffer;
    try {
      bytes = file === '-' ? ctx.io.readStdin() : readFileSync(file);
    } catch (err) {
      const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      throw new UsageError(`cannot read --bundle ${file}: ${reason}`);
    }
    if (bytes.length === 0) throw new UsageError(`--bundle ${file} is empty`);
    const { bundle } = await ctx.admin.call<{ bundle: FederatedBundleMessage }>('BundleService', 'SetFederatedBundle', {
      trust_domain: trustDomain,
      bundle: bytes,
    });
    if (ctx.output === 'json') ctx.json(federatedBundleJson(bundle));
    else {
      ctx.io.out(
        `Stored the bundle of ${bundle.trust_domain} (${bundle.x509_authority_count} X.509, ` +
          `${bundle.jwt_authority_count} JWT ${bundle.jwt_authority_count === 1 ? 'authority' : 'authorities'}` +
          `${bundle.has_relationship ? '; its federation relationship replaces it at the next fetch' : '; static'}).\n`,
      );
    }
    return ExitCode.ok;
  },
};

export const bundleSetCommand = adminCommand(bundleSetSpec);
