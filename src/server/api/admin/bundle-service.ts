import type * as grpc from '@grpc/grpc-js';
import type { AdminContext } from './config.js';
import { unary } from './unary.js';

/** tessera.admin.v1.BundleService: the trust domain's current bundle as the CA publishes it. */
export function bundleService(ctx: AdminContext): grpc.UntypedServiceImplementation {
  return {
    GetBundle: unary(ctx.log, async () => {
      const bundle = ctx.bundle.currentBundle();
      return {
        trust_domain: bundle.trustDomain.name,
        spiffe_bundle: Buffer.from(bundle.marshal(), 'utf8'),
        x509_pem: bundle.x509Bundle.toPem(),
        // uint64 on the wire; a sequence beyond 2^53 would lose precision as a JS number, so send it as a string.
        sequence_number: (bundle.sequenceNumber ?? 0n).toString(),
      };
    }),
  };
}
