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
  summary: "print the trust domain's bundle",
  description:
    "Prints the trust domain's bundle: its X.509 authorities as PEM (default), or the SPIFFE bundle document\n" +
    '(--format spiffe). With --output json, prints both with the trust domain and sequence number.',
  options: { format: { type: 'string', value: 'FORMAT', description: 'pem (default) or spiffe' } },
  async run(ctx) {
    const format = ctx.flags.string('format') ?? 'pem';
    if (format !== 'pem' && format !== 'spiffe') {
      throw new UsageError(`--format must be "pem" or "spiffe", not ${JSON.stringify(format)}`);
    }
    const r = await ctx.admin.call<GetBundleResponse>('BundleService', 'GetBundle', {});
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
