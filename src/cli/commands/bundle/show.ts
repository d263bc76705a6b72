import { adminCommand, type AdminCommandSpec } from '../../admin-command.js';
import { ExitCode, UsageError } from '../../command.js';

interface GetBundleResponse {
  trust_domain: string;
  spiffe_bundle: Buffer;
  x509_pem: string;
  sequence_number: number;
}

export const bundleShowSpec: AdminCommandSpec = {
  name: 'show',
  path: 'bundle show',
  summary: "print the trust domain's bundle, or a federated one",
  description:
    "Prints the trust domain's bundle (or with --trust-domain a federated trust domain's): its X.509 authorities as\n" +
    'PEM (default), or the SPIFFE bundle document (--format spiffe). With --output json, prints both with the trust\n' +
    'domain and sequence number.',
  options: {
    format: { type: 'string', value: 'FORMAT', description: 'pem (default) or spiffe' },
    'trust-domain': { type: 'string', value: 'TD', description: "a federated trust domain's bundle instead (e.g. b.test)" },
  },
  async run(ctx) {
    const format = ctx.flags.string('format') ?? 'pem';
    if (format !== 'pem' && format !== 'spiffe') {
      throw new UsageError(`--format must be "pem" or "spiffe", not ${JSON.stringify(format)}`);
    }
    const federated = ctx.flags.string('trust-domain');
    if (federated === '') throw new UsageError('--trust-domain must not be empty');
    const r =
      federated === undefined
        ? await ctx.admin.call<GetBundleResponse>('BundleService', 'GetBundle', {})
        : (
            await ctx.admin.call<{ bundle: GetBundleResponse }>('BundleService', 'GetFederatedBundle', {
              trust_domain: federated,
            })
          ).bundle;
    const document = JSON.parse(Buffer.from(r.spiffe_bundle).toString('utf8')) as unknown;
    if (ctx.output === 'json') {
      ctx.json({
        trustDomain: r.trust_domain,
        sequenceNumber: r.sequence_number,
        x509Pem: r.x509_pem,
        spiffeBundle: document,
      });
    } else if (format === 'pem') {
      ctx.io.out(r.x509_pem.endsWith('\n') || r.x509_pem === '' ? r.x509_pem : r.x509_pem + '\n');
    } else {
      ctx.io.out(JSON.stringify(document, null, 2) + '\n');
    }
    return ExitCode.ok;
  },
};

export const bundleShowCommand = adminCommand(bundleShowSpec);
