import type { Clock } from './clock.js';

export interface RateLimit {
  /** Calls per second a key regains. */
  readonly perSecond: number;
  /** Calls a key may make at once (the bucket size). */
  readonly burst: number;
}

export interface KeyedRateLimiterOptions extends RateLimit {
  readonly clock: Clock;
  /** Most keys tracked at once; past it the least recently used key is forgotten. */
  readonly maxKeys: number;
}

interface Bucket {
  tokens: number;
  atMs: number;
}

/**
 * Token buckets per key (a remote address, an agent ID) with a bounded key table, so the limiter cannot be made to
 * grow without bound by callers inventing keys: the least recently used key is forgotten first (it comes back with a
 * full bucket, which only helps a caller that already controls more than `maxKeys` keys). Time comes from the
 * injected clock.
 */
export class KeyedRateLimiter {
  readonly #buckets = new Map<string, Bucket>();
  readonly #o: KeyedRateLimiterOptions;

  constructor(options: KeyedRateLimiterOptions) {
    if (!(options.perSecond > 0) || !(options.burst >= 1) || !(options.maxKeys >= 1)) {
      throw new TypeError('perSecond must be > 0, burst and maxKeys at least 1');
    }
    this.#o = options;
  }

  /** Takes one call from `key`'s bucket; false when it is empty (the call is refused). */
  take(key: string): boolean {
    const nowMs = this.#o.clock.now().getTime();
    let bucket = this.#buckets.get(key);
    if (bucket) {
      this.#buckets.delete(key); // re-inserted below: Map order is least recently used first
      const elapsed = Math.max(0, nowMs - bucket.atMs) / 1000;
      bucket.tokens = Math.min(this.#o.burst, bucket.tokens + elapsed * this.#o.perSecond);
      bucket.atMs = nowMs;
    } else {
      bucket = { tokens: this.#o.burst, atMs: nowMs };
      if (this.#buckets.size >= this.#o.maxKeys) this.#buckets.delete(this.#buckets.keys().next().value!);
    }
    this.#buckets.set(key, bucket);
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  /** Keys tracked now. */
  get size(): number {
    return this.#buckets.size;
  }
}
