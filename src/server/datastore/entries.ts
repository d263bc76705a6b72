import type { TesseraError } from '../../common/errors.js';

/**
 * Registration entries (architecture §3): which workloads get which identity. The store keeps them; it does not judge
 * their content (SPIFFE ID rules, TTL policy and selector syntax are checked by src/server/entries before a write),
 * but it never writes a partial entry and it refuses a second entry with the same identity.
 */

export type Role = 'worker' | 'supervisor';

export interface Selector {
  readonly type: string;
  readonly value: string;
}

/** The fields a caller sets. `id`, `revision` and `createdAt` belong to the store. */
export interface EntryInput {
  readonly spiffeId: string;
  readonly parentId: string;
  /** All must match. Stored as a set: order and duplicates are not kept; records list them sorted by (type, value). */
  readonly selectors: readonly Selector[];
  readonly role: Role;
  /** 0 means the server policy's default. */
  readonly x509SvidTtlSeconds: number;
  /** 0 means the server policy's default. */
  readonly jwtSvidTtlSeconds: number;
  readonly dnsNames: readonly string[];
  readonly federatesWith: readonly string[];
  /** '' when unset. */
  readonly hint: string;
  readonly admin: boolean;
  /** Unix seconds after which the entry is ignored; null = never. */
  readonly expiresAt: number | null;
}

export interface Entry extends EntryInput {
  /** UUID v4, assigned on create. */
  readonly id: string;
  /** 1 on create, +1 on every update. */
  readonly revision: number;
  /** Unix seconds. */
  readonly createdAt: number;
}

export interface EntryFilter {
  spiffeId?: string;
  parentId?: string;
  /**
   * Only entries all of whose selectors are among these (the workload-attestation match: the workload shows these
   * facts, which entries does it satisfy?). An empty list matches nothing.
   */
  matchingSelectors?: readonly Selector[];
  /** Entries whose spiffeId starts with this text. */
  spiffeIdPrefix?: string;
  /** Entries whose selectors relate to `selectors.list` as `selectors.match` says (an empty list matches nothing). */
  selectors?: { readonly list: readonly Selector[]; readonly match: SelectorMatch };
  /** Entries that federate with every one of these trust domains. */
  federatesWith?: readonly string[];
  hint?: string;
}

/**
 * spire-server's -matchSelectorsOn: `exact` the entry's selectors are the set; `subset` they are all in the set (the
 * workload match); `superset` they include the whole set; `any` they share at least one.
 */
export type SelectorMatch = 'exact' | 'subset' | 'superset' | 'any';

export type EntryChange =
  | { readonly kind: 'created'; readonly entry: Entry }
  | { readonly kind: 'updated'; readonly entry: Entry }
  /** `entry` is the record as it was just before deletion. */
  | { readonly kind: 'deleted'; readonly entry: Entry };

export type EntryChangeListener = (change: EntryChange) => void;

export type CreateResult =
  | { readonly ok: true; readonly entry: Entry }
  | { readonly ok: false; readonly error: TesseraError };

export interface EntryStore {
  /** One transaction. ALREADY_EXISTS if an entry has the same spiffeId, parentId and selector set. */
  create(input: EntryInput): Promise<Entry>;
  /** One result per item, in order; a failed item does not undo the others. */
  createMany(inputs: readonly EntryInput[]): Promise<CreateResult[]>;
  /**
   * Replaces every caller-set field; revision + 1. NOT_FOUND; ALREADY_EXISTS if the new identity is another entry's;
   * FAILED_PRECONDITION if `expectedRevision` is given and is not the stored revision.
   */
  update(id: string, input: EntryInput, options?: { expectedRevision?: number }): Promise<Entry>;
  /** Returns the deleted record. NOT_FOUND. */
  delete(id: string): Promise<Entry>;
  get(id: string): Promise<Entry | null>;
  /** Ordered by createdAt, then id. */
  list(filter?: EntryFilter): Promise<Entry[]>;
  /** How many entries `list(filter)` would return. */
  count(filter?: EntryFilter): Promise<number>;
  /** Every entry, for building the in-memory index that serves agents (subscribe with onChange first). */
  listAll(): Promise<Entry[]>;
  /**
   * Called after each commit of a change made through this store, before the writing call resolves. Changes made by
   * other connections or processes are not seen. Listener errors are logged and do not affect the write. Apply a
   * change only if its revision is newer than the one held. Returns a function that unsubscribes.
   */
  onChange(listener: EntryChangeListener): () => void;
}
