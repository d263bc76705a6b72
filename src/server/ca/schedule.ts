import { DEFAULT_LEEWAY_SECONDS } from '../../spiffe/jwtsvid/index.js';

/**
 * The rotation schedule of the CA and JWT keys, derived from each key's own lifetime (SPIRE's thresholds):
 *
 *   start ---- 1/2: prepare next ---- 5/6: activate next ---- notAfter (+ grace): drop
 *
 * - At 1/2 of the ACTIVE key's life the next key is created in state `prepared` and published in the bundle
 *   (spiffe_sequence + 1). It signs nothing yet.
 * - At 5/6 the prepared key becomes `active` and the old one `retired`, but only once the prepared key is in the
 *   published bundle and has been there for at least one refresh hint (so relying parties that poll at the hint have
 *   fetched it). In the steady state it has been published for 1/3 of a lifetime, which is ≥ 3.3 refresh hints (see
 *   {@link refreshHintSeconds}), the "3–5× the refresh hint" the federation spec suggests.
 * - Everything a key signs is capped at its notAfter (leaf SVIDs by the signer, JWT-SVIDs by the CA), so a retired key
 *   stays in the bundle until its notAfter plus {@link RETENTION_GRACE_SECONDS} (validators accept `exp` up to one
 *   minute late) and is then dropped (sequence + 1) and its record deleted.
 * - If the active key expires or is missing (first start, long downtime) the prepared key is activated at once, or a
 *   fresh key is created directly as active: there is nothing valid to protect then.
 */
export const PREPARE_FRACTION = 1 / 2;
export const ACTIVATE_FRACTION = 5 / 6;
export const RETENTION_GRACE_SECONDS = DEFAULT_LEEWAY_SECONDS;

/** Refresh hint bounds (seconds). */
export const MIN_REFRESH_HINT_SECONDS = 60;
export const MAX_REFRESH_HINT_SECONDS = 3600;

export interface KeyLifetime {
  readonly startMs: number;
  readonly notAfterMs: number;
}

export function prepareAtMs(l: KeyLifetime): number {
  return l.startMs + Math.floor((l.notAfterMs - l.startMs) * PREPARE_FRACTION);
}

export function activateAtMs(l: KeyLifetime): number {
  return l.startMs + Math.floor((l.notAfterMs - l.startMs) * ACTIVATE_FRACTION);
}

/** A key is in the bundle while now ≤ notAfter + grace. */
export function bundleExpiryMs(notAfterMs: number): number {
  return notAfterMs + RETENTION_GRACE_SECONDS * 1000;
}

/**
 * `spiffe_refresh_hint`: a tenth of the shorter of the CA and JWT key lifetimes, clamped to [60 s, 1 h]. A tenth keeps
 * the publication lead (1/3 of a lifetime) at ≥ 3.3 hints; the floor spares the bundle endpoint, the ceiling keeps
 * federated peers reasonably fresh. The server config `ca.refreshHintSeconds` (1..3600) replaces this value outright
 * (tests, fast-moving federations); the CA then also waits only that long before activating a published key.
 */
export function refreshHintSeconds(caTtlSeconds: number, jwtKeyTtlSeconds: number): number {
  const tenth = Math.floor(Math.min(caTtlSeconds, jwtKeyTtlSeconds) / 10);
  return Math.min(MAX_REFRESH_HINT_SECONDS, Math.max(MIN_REFRESH_HINT_SECONDS, tenth));
}
