import { adminCommand, type AdminCommandSpec } from '../../admin-command.js';
import { ExitCode } from '../../command.js';
import { formatUnixSeconds, plural, table } from '../../format.js';
import { bundleSource, federatedBundleJson, type FederatedBundleMessage } from './shared.js';

export const bundleListSpec: AdminCommandSpec = {
  name: 'list',
  path: 'bundle list',
  summary: "list federated trust domains' bundles",
  description:
    "List the federated trust domains' bundles the server holds: static ones (tessera bundle set) and those a\n" +
    'federation relationship fetches.',
  async run(ctx) {
    const { bundles } = await ctx.admin.call<{ bundles: FederatedBundleMessage[] }>(
      'BundleService',
      'ListFederatedBundles',
      {},
    );
    if (ctx.output === 'json') {
      ctx.json({ bundles: bundles.map(federatedBundleJson) });
      return ExitCode.ok;
    }
    if (bundles.length === 0) {
      ctx.io.out('No federated bundles.\n');
      return ExitCode.ok;
    }
    ctx.io.out(
      table(
        ['TRUST DOMAIN', 'SOURCE', 'X.509', 'JWT', 'SEQUENCE', 'UPDATED'],
        bundles.map((b) => [
          b.trust_domain,
          bundleSource(b),
          String(b.x509_authority_count),
          String(b.jwt_authority_count),
          String(b.sequence_number),
          formatUnixSeconds(b.updated_at, '-'),
        ]),
      ) + `\n${plural(bundles.length, 'federated bundle')}\n`,
    );
    return ExitCode.ok;
  },
};

export const bundleListCommand = adminCommand(bundleListSpec);
