import type * as grpc from '@grpc/grpc-js';
import type { AdminContext } from './config.js';
import { unary } from './unary.js';

/** tessera.admin.v1.HealthService: ready when the datastore answers and the CA can sign. Never fails itself. */
export function healthService(ctx: AdminContext): grpc.UntypedServiceImplementation {
  return {
    Check: unary(ctx.log, async () => {
      const reasons: string[] = [];
      try {
        await ctx.ping();
      } catch (err) {
        reasons.push('datastore unreachable');
        ctx.log.warn({ err }, 'Health check: datastore unreachable');
      }
      let canSign = false;
      try {
        canSign = await ctx.ca.canSign();
      } catch (err) {
        ctx.log.warn({ err }, 'Health check: CA test signature failed');
      }
      if (!canSign) reasons.push('CA cannot sign');
      let caExpiresAt = 0;
      try {
        caExpiresAt = Math.floor(ctx.ca.activeCaNotAfter().getTime() / 1000);
      } catch {
        caExpiresAt = 0;
      }
      if (reasons.length > 0) ctx.log.warn({ reasons }, 'Health check: not ready');
      return {
        ready: reasons.length === 0,
        trust_domain: ctx.trustDomain.name,
        version: ctx.version ?? '',
        ca_expires_at: caExpiresAt,
      };
    }),
  };
}
