import { systemClock, type Clock } from '../../common/clock.js';
import { silentLogger, type Logger } from '../../common/log.js';
import type { Entry, EntryChange, EntryStore, Selector } from '../datastore/index.js';

export interface EntryIndexConfig {
  readonly entries: Pick<EntryStore, 'listAll' | 'onChange'>;
  /** `spiffe://<td>/tessera/server`: entries with this parent are node aliases. */
  readonly serverId: string;
  readonly clock?: Clock;
  readonly log?: Logger;
}

/** The entries one agent may serve, and the same as a map by entry ID. */
export interface AuthorizedEntries {
  readonly entries: readonly Entry[];
  readonly byId: ReadonlyMap<string, Entry>;
}

/** Most (agent, selector set) answers kept between changes. */
const CACHE_LIMIT = 10_000;

/**
 * The in-memory index that serves agents (architecture §8: the database is the record, not the hot path). Built from
 * EntryStore.listAll() and kept current by EntryStore.onChange; a change whose revision is not newer than the one
 * held is ignored.
 *
 * Which entries an agent may serve ({@link EntryIndex.entriesForAgent}), as SPIRE computes it:
 * - node aliases: entries whose parent is the server ID and whose selectors (non-empty) are all among the agent's
 *   node selectors; their SPIFFE IDs stand for the agent;
 * - every entry whose parent is the agent ID or one of its aliases, and transitively every entry whose parent is the
 *   SPIFFE ID of an entry already included (workloads under workloads);
 * - entries with expiresAt in the past are left out (and do not carry their descendants).
 * Alias entries themselves are not served. Cost per call: one pass over the alias entries, then only the entries
 * reached (indexed by parent); answers are cached per (agent, node selectors) until the next change or expiry.
 */
export class EntryIndex {
  readonly #serverId: string;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #byId = new Map<string, Entry>();
  readonly #byParent = new Map<string, Map<string, Entry>>();
  readonly #aliases = new Map<string, Entry>();
  readonly #listeners = new Set<() => void>();
  readonly #cache = new Map<string, AuthorizedEntries & { validUntilMs: number }>();
  #unsubscribe: (() => void) | undefined;
  #version = 0;
  #emitQueued = false;
  #expiryTimer: NodeJS.Timeout | undefined;
  #nextExpiryMs = Infinity;
  /** Deletions seen while the initial listing was in flight (id → revision), so the listing cannot revive them. */
  #loading: Map<string, number> | undefined = new Map();

  private constructor(config: EntryIndexConfig) {
    this.#serverId = config.serverId;
    this.#clock = config.clock ?? systemClock;
    this.#log = config.log ?? silentLogger();
  }

  /** Subscribes to changes, then loads every entry. */
  static async create(config: EntryIndexConfig): Promise<EntryIndex> {
    const index = new EntryIndex(config);
    index.#unsubscribe = config.entries.onChange((change) => index.#apply(change));
    try {
      const all = await config.entries.listAll();
      for (const entry of all) {
        const tombstone = index.#loading?.get(entry.id);
        if (tombstone !== undefined && tombstone >= entry.revision) continue;
        index.#put(entry);
      }
    } catch (err) {
      index.close();
      throw err;
    }
    index.#loading = undefined;
    index.#changed();
    return index;
  }

  /** Increases with every applied change (and entry expiry). */
  get version(): number {
    return this.#version;
  }

  /** Subscribed onChange listeners (tests check that closed streams leave none behind). */
  get listenerCount(): number {
    return this.#listeners.size;
  }

  /** Entries held. */
  get size(): number {
    return this.#byId.size;
  }

  /** The entries agent `agentId` with node selectors `nodeSelectors` may serve, ordered by createdAt then id. */
  entriesForAgent(agentId: string, nodeSelectors: readonly Selector[]): readonly Entry[] {
    return this.authorizedFor(agentId, nodeSelectors).entries;
  }

  /** {@link entriesForAgent} with a by-ID map, for per-item authorization. Do not mutate the result. */
  authorizedFor(agentId: string, nodeSelectors: readonly Selector[]): AuthorizedEntries {
    const selectorKeys = nodeSelectors.map(selectorKey).sort();
    const cacheKey = agentId + '\n' + selectorKeys.join('\n');
    const nowMs = this.#clock.now().getTime();
    const cached = this.#cache.get(cacheKey);
    if (cached && nowMs < cached.validUntilMs) return cached;
    const computed = this.#compute(agentId, new Set(selectorKeys), nowMs);
    if (this.#cache.size >= CACHE_LIMIT) this.#cache.clear();
    this.#cache.set(cacheKey, computed);
    return computed;
  }

  /** Called (once per burst, asynchronously) after entries change or expire. Returns an unsubscribe function. */
  onChange(listener: () => void): () => void {
    const wrapped = () => listener();
    this.#listeners.add(wrapped);
    return () => void this.#listeners.delete(wrapped);
  }

  close(): void {
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    if (this.#expiryTimer) clearTimeout(this.#expiryTimer);
    this.#expiryTimer = undefined;
    this.#listeners.clear();
  }

  #compute(agentId: string, selectors: Set<string>, nowMs: number): AuthorizedEntries & { validUntilMs: number } {
    const nowS = Math.floor(nowMs / 1000);
    let validUntilMs = Infinity;
    const live = (e: Entry): boolean => {
      if (e.expiresAt === null) return true;
      if (e.expiresAt < nowS) return false;
      validUntilMs = Math.min(validUntilMs, (e.expiresAt + 1) * 1000);
      return true;
    };
    const parents: string[] = [agentId];
    const seenParents = new Set<string>([agentId, this.#serverId]);
    for (const alias of this.#aliases.values()) {
      if (seenParents.has(alias.spiffeId)) continue;
      if (!alias.selectors.every((s) => selectors.has(selectorKey(s)))) continue;
      if (!live(alias)) continue;
      seenParents.add(alias.spiffeId);
      parents.push(alias.spiffeId);
    }
    const entries: Entry[] = [];
    const byId = new Map<string, Entry>();
    for (let i = 0; i < parents.length; i++) {
      const children = this.#byParent.get(parents[i]!);
      if (!children) continue;
      for (const child of children.values()) {
        if (byId.has(child.id) || !live(child)) continue;
        byId.set(child.id, child);
        entries.push(child);
        if (!seenParents.has(child.spiffeId)) {
          seenParents.add(child.spiffeId);
          parents.push(child.spiffeId);
        }
      }
    }
    entries.sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return { entries, byId, validUntilMs };
  }

  #apply(change: EntryChange): void {
    const { entry } = change;
    const held = this.#byId.get(entry.id);
    if (change.kind === 'deleted') {
      if (held && held.revision > entry.revision) return;
      if (this.#loading) this.#loading.set(entry.id, entry.revision);
      if (!held) return;
      this.#remove(held);
    } else {
      if (held && held.revision >= entry.revision) return;
      const tombstone = this.#loading?.get(entry.id);
      if (tombstone !== undefined && tombstone >= entry.revision) return;
      if (held) this.#remove(held);
      this.#put(entry);
    }
    if (!this.#loading) this.#changed();
  }

  #put(entry: Entry): void {
    this.#byId.set(entry.id, entry);
    let siblings = this.#byParent.get(entry.parentId);
    if (!siblings) this.#byParent.set(entry.parentId, (siblings = new Map()));
    siblings.set(entry.id, entry);
    if (entry.parentId === this.#serverId && entry.selectors.length > 0) this.#aliases.set(entry.id, entry);
    if (entry.expiresAt !== null) this.#noteExpiry((entry.expiresAt + 1) * 1000);
  }

  #remove(entry: Entry): void {
    this.#byId.delete(entry.id);
    const siblings = this.#byParent.get(entry.parentId);
    siblings?.delete(entry.id);
    if (siblings?.size === 0) this.#byParent.delete(entry.parentId);
    this.#aliases.delete(entry.id);
  }

  #changed(): void {
    this.#version++;
    this.#cache.clear();
    if (this.#emitQueued) return;
    this.#emitQueued = true;
    queueMicrotask(() => {
      this.#emitQueued = false;
      for (const listener of [...this.#listeners]) {
        try {
          listener();
        } catch (err) {
          this.#log.error({ err }, 'Entry index listener failed');
        }
      }
    });
  }

  /** Makes sure a change is emitted when the entry expiring at `atMs` drops out. */
  #noteExpiry(atMs: number): void {
    const nowMs = this.#clock.now().getTime();
    if (atMs <= nowMs || atMs >= this.#nextExpiryMs) return;
    this.#nextExpiryMs = atMs;
    if (this.#expiryTimer) clearTimeout(this.#expiryTimer);
    // setTimeout's ceiling is 2^31-1 ms; a later expiry is rescheduled when the timer fires.
    const delay = Math.min(atMs - nowMs, 2 ** 31 - 1);
    this.#expiryTimer = setTimeout(() => this.#onExpiryTimer(), delay);
    this.#expiryTimer.unref();
  }

  #onExpiryTimer(): void {
    this.#expiryTimer = undefined;
    this.#nextExpiryMs = Infinity;
    for (const entry of this.#byId.values()) {
      if (entry.expiresAt !== null) this.#noteExpiry((entry.expiresAt + 1) * 1000);
    }
    if (this.#unsubscribe) this.#changed();
  }
}

function selectorKey(s: Selector): string {
  return s.type + '\u0000' + s.value;
}
