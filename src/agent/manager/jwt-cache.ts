import type { WorkloadJwtSvid } from '../types.js';

/** Bytes all cached JWT-SVIDs of one agent may take (tokens and keys, as UTF-16 string lengths × 2). */
export const JWT_CACHE_MAX_BYTES = 16 * 1024 * 1024;
/** Most cached JWT-SVIDs of one agent. */
export const JWT_CACHE_MAX_ENTRIES = 4096;

interface Cached {
  readonly svid: WorkloadJwtSvid;
  readonly freshUntilMs: number;
  readonly bytes: number;
}

/**
 * The agent's minted JWT-SVIDs, shared by all instance sessions and bounded in bytes and entries (issue 10: an
 * unbounded per-audience cache grew the agent by ~440 MiB in 35 s). Keys are opaque strings that start with the
 * owning instance's ID. When a new token does not fit, the least recently stored ones are dropped first.
 */
export class JwtSvidCache {
  readonly #items = new Map<string, Cached>();
  readonly #maxBytes: number;
  readonly #maxEntries: number;
  #bytes = 0;

  constructor(limits: { maxBytes?: number; maxEntries?: number } = {}) {
    this.#maxBytes = limits.maxBytes ?? JWT_CACHE_MAX_BYTES;
    this.#maxEntries = limits.maxEntries ?? JWT_CACHE_MAX_ENTRIES;
  }

  /** The cached SVID under `key` while `nowMs` is before its fresh-until time. */
  get(key: string, nowMs: number): WorkloadJwtSvid | undefined {
    const item = this.#items.get(key);
    if (!item) return undefined;
    if (nowMs < item.freshUntilMs) return item.svid;
    this.#delete(key);
    return undefined;
  }

  /** Stores `svid` until `freshUntilMs`; a token larger than the whole budget is not stored. */
  set(key: string, svid: WorkloadJwtSvid, freshUntilMs: number): void {
    const bytes = 2 * (key.length + svid.token.length + svid.spiffeId.length + svid.hint.length);
    this.#delete(key);
    if (bytes > this.#maxBytes) return;
    for (const oldest of this.#items.keys()) {
      if (this.#bytes + bytes <= this.#maxBytes && this.#items.size < this.#maxEntries) break;
      this.#delete(oldest);
    }
    this.#items.set(key, { svid, freshUntilMs, bytes });
    this.#bytes += bytes;
  }

  /** Drops every entry whose key starts with `prefix` (an instance that exited). */
  deletePrefix(prefix: string): void {
    for (const key of [...this.#items.keys()]) if (key.startsWith(prefix)) this.#delete(key);
  }

  get bytes(): number {
    return this.#bytes;
  }

  get size(): number {
    return this.#items.size;
  }

  #delete(key: string): void {
    const item = this.#items.get(key);
    if (!item) return;
    this.#items.delete(key);
    this.#bytes -= item.bytes;
  }
}
