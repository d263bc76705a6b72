import type { Clock } from '../clock.js';

/** The answer of a readiness check: ok, or why not (a lowercase reason an operator can act on). */
export interface Readiness {
  readonly ok: boolean;
  readonly reason?: string;
}

export type ReadinessCheck = () => Promise<Readiness> | Readiness;

/** How long a readiness answer is reused: /readyz is public, and the server's check signs and writes. */
export const READINESS_CACHE_MS = 1_000;

/**
 * Runs `check` at most once per `ttlMs` of `clock` time: callers within that time get the same answer, and callers
 * arriving while a check runs share it (so a flood of GET /readyz costs one check per second). A check that throws is
 * "not ready" with its message as the reason.
 */
export function cachedReadiness(check: ReadinessCheck, clock: Clock, ttlMs = READINESS_CACHE_MS): () => Promise<Readiness> {
  let cached: { readonly atMs: number; readonly result: Readiness } | undefined;
  let running: Promise<Readiness> | undefined;
  return () => {
    if (cached && clock.now().getTime() - cached.atMs < ttlMs) return Promise.resolve(cached.result);
    running ??= (async () => {
      let result: Readiness;
      try {
        result = await check();
      } catch (err) {
        result = { ok: false, reason: `readiness check failed: ${(err as Error).message}` };
      }
      cached = { atMs: clock.now().getTime(), result };
      running = undefined;
      return result;
    })();
    return running;
  };
}
