import type * as grpc from '@grpc/grpc-js';
import type { AdminContext } from './config.js';
import { unary } from './unary.js';

/**
 * tessera.admin.v1.HealthService: the server's readiness with its reason (ctx.ready, the check behind /readyz), or
 * without it: ready when the datastore answers and the CA can sign. Never fails itself.
 */
export function healthService(ctx: AdminContext): grpc.UntypedServiceImplementation {
  return {
    Check: unary(ctx.log, async () => {
      const reasons: string[] = [];
      if (ctx.ready) {
        const r = await ctx.ready().catch((err: unknown) => ({ ok: false, reason: (err as Error).message }));
        if (!r.ok) reasons.push(r.reason ?? 'not ready');
      } else {
        await legacyChecks(ctx, reasons);
      }
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
        reason: reasons.join('; '),
      };
    }),
  };
}

async function legacyChecks(ctx: AdminContext, reasons: string[]): Promise<void> {
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
}
