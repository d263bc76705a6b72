import { randomUUID } from 'node:crypto';
import { alreadyExists, failedPrecondition, isTesseraError, notFound } from '../../../common/errors.js';
import type { ChangeFeed } from '../change-feed.js';
import type {
  CreateResult,
  Entry,
  EntryChange,
  EntryChangeListener,
  EntryFilter,
  EntryInput,
  EntryStore,
  Role,
  Selector,
  SelectorMatch,
} from '../entries.js';
import { canonicalSelectors, entryIdentityHash } from '../selectors.js';
import { isUniqueViolation, toTesseraError, type SqliteContext } from './context.js';

interface EntryRow {
  id: string;
  spiffe_id: string;
  parent_id: string;
  role: string;
  x509_svid_ttl_seconds: number;
  jwt_svid_ttl_seconds: number;
  dns_names: string;
  federates_with: string;
  hint: string;
  admin: number;
  expires_at: number | null;
  revision: number;
  created_at: number;
  /** JSON [[type, value], ...] */
  selectors: string;
}

const SELECT = `
  SELECT e.id, e.spiffe_id, e.parent_id, e.role, e.x509_svid_ttl_seconds, e.jwt_svid_ttl_seconds, e.dns_names,
         e.federates_with, e.hint, e.admin, e.expires_at, e.revision, e.created_at,
         (SELECT json_group_array(json_array(s.type, s.value)) FROM entry_selectors s WHERE s.entry_id = e.id)
           AS selectors
  FROM entries e`;
const ORDER = ' ORDER BY e.created_at, e.id';

const INSERT_ENTRY = `
  INSERT INTO entries (id, spiffe_id, parent_id, identity_hash, role, x509_svid_ttl_seconds, jwt_svid_ttl_seconds,
                       dns_names, federates_with, hint, admin, expires_at, revision, created_at)
  VALUES (@id, @spiffeId, @parentId, @identityHash, @role, @x509SvidTtlSeconds, @jwtSvidTtlSeconds,
          @dnsNames, @federatesWith, @hint, @admin, @expiresAt, @revision, @createdAt)`;
const UPDATE_ENTRY = `
  UPDATE entries SET spiffe_id = @spiffeId, parent_id = @parentId, identity_hash = @identityHash, role = @role,
         x509_svid_ttl_seconds = @x509SvidTtlSeconds, jwt_svid_ttl_seconds = @jwtSvidTtlSeconds,
         dns_names = @dnsNames, federates_with = @federatesWith, hint = @hint, admin = @admin,
         expires_at = @expiresAt, revision = @revision
  WHERE id = @id`;
const INSERT_SELECTOR = 'INSERT INTO entry_selectors (entry_id, type, value) VALUES (?, ?, ?)';
const DELETE_SELECTORS = 'DELETE FROM entry_selectors WHERE entry_id = ?';

/**
 * Entries whose every selector is in the given set (JSON [[type, value], ...], deduplicated): count the entry's
 * selectors found in the set through the (type, value) index and compare with how many it has.
 */
const MATCHING = `
  e.id IN (
    SELECT s.entry_id FROM json_each(@matching) AS j
    JOIN entry_selectors s ON s.type = j.value ->> 0 AND s.value = j.value ->> 1
    GROUP BY s.entry_id
    HAVING count(*) = (SELECT count(*) FROM entry_selectors c WHERE c.entry_id = s.entry_id))`;

export class SqliteEntryStore implements EntryStore {
  readonly #ctx: SqliteContext;
  readonly #feed: ChangeFeed;

  constructor(ctx: SqliteContext, feed: ChangeFeed) {
    this.#ctx = ctx;
    this.#feed = feed;
  }

  async create(input: EntryInput): Promise<Entry> {
    const entry = this.#ctx.write(() => this.#insert(input));
    this.#feed.emit([{ kind: 'created', entry }]);
    return entry;
  }

  async createMany(inputs: readonly EntryInput[]): Promise<CreateResult[]> {
    const results = this.#ctx.write(() =>
      inputs.map((input): CreateResult => {
        try {
          // A nested transaction is a savepoint: a failed item rolls back alone.
          return { ok: true, entry: this.#ctx.db.transaction(() => this.#insert(input))() };
        } catch (err) {
          const mapped = toTesseraError(err);
          // Item faults become results; a failing database aborts the whole batch.
          if (isTesseraError(mapped) && mapped.code !== 'INTERNAL' && mapped.code !== 'UNAVAILABLE') {
            return { ok: false, error: mapped };
          }
          throw mapped;
        }
      }),
    );
    this.#feed.emit(results.flatMap((r): EntryChange[] => (r.ok ? [{ kind: 'created', entry: r.entry }] : [])));
    return results;
  }

  async update(id: string, input: EntryInput, options: { expectedRevision?: number } = {}): Promise<Entry> {
    const entry = this.#ctx.write(() => {
      const current = this.#ctx.stmt('SELECT revision, created_at FROM entries WHERE id = ?').get(id) as
        | { revision: number; created_at: number }
        | undefined;
      if (current === undefined) throw entryNotFound(id);
      if (options.expectedRevision !== undefined && options.expectedRevision !== current.revision) {
        throw failedPrecondition(
          `entry ${JSON.stringify(id)} is at revision ${current.revision}, not ${options.expectedRevision}`,
        );
      }
      const updated = normalize(input, id, current.revision + 1, current.created_at);
      try {
        this.#ctx.stmt(UPDATE_ENTRY).run(params(updated));
      } catch (err) {
        throw isUniqueViolation(err) ? duplicate(updated, err) : err;
      }
      this.#ctx.stmt(DELETE_SELECTORS).run(id);
      this.#insertSelectors(updated);
      return updated;
    });
    this.#feed.emit([{ kind: 'updated', entry }]);
    return entry;
  }

  async delete(id: string): Promise<Entry> {
    const entry = this.#ctx.write(() => {
      const found = this.#getSync(id);
      if (found === null) throw entryNotFound(id);
      this.#ctx.stmt('DELETE FROM entries WHERE id = ?').run(id); // selectors go by ON DELETE CASCADE
      return found;
    });
    this.#feed.emit([{ kind: 'deleted', entry }]);
    return entry;
  }

  async get(id: string): Promise<Entry | null> {
    return this.#ctx.read(() => this.#getSync(id));
  }

  async list(filter: EntryFilter = {}): Promise<Entry[]> {
    const { where, args } = whereClause(filter);
    const sql = SELECT + where + ORDER;
    return this.#ctx.read(() => (this.#ctx.stmt(sql).all(args) as EntryRow[]).map(fromRow));
  }

  async count(filter: EntryFilter = {}): Promise<number> {
    const { where, args } = whereClause(filter);
    const sql = `SELECT count(*) AS n FROM entries e${where}`;
    return this.#ctx.read(() => (this.#ctx.stmt(sql).get(args) as { n: number }).n);
  }

  async listAll(): Promise<Entry[]> {
    return this.#ctx.read(() => (this.#ctx.stmt(SELECT + ORDER).all() as EntryRow[]).map(fromRow));
  }

  onChange(listener: EntryChangeListener): () => void {
    return this.#feed.subscribe(listener);
  }

  #getSync(id: string): Entry | null {
    const row = this.#ctx.stmt(`${SELECT} WHERE e.id = ?`).get(id) as EntryRow | undefined;
    return row === undefined ? null : fromRow(row);
  }

  #insert(input: EntryInput): Entry {
    const entry = normalize(input, randomUUID(), 1, this.#ctx.nowSeconds());
    try {
      this.#ctx.stmt(INSERT_ENTRY).run(params(entry));
    } catch (err) {
      throw isUniqueViolation(err) ? duplicate(entry, err) : err;
    }
    this.#insertSelectors(entry);
    return entry;
  }

  #insertSelectors(entry: Entry): void {
    const insert = this.#ctx.stmt(INSERT_SELECTOR);
    for (const s of entry.selectors) insert.run(entry.id, s.type, s.value);
  }
}

/** The WHERE clause (with its leading space, or '') and named parameters of a filter; every condition must hold. */
function whereClause(filter: EntryFilter): { where: string; args: Record<string, unknown> } {
  const where: string[] = [];
  const args: Record<string, unknown> = {};
  if (filter.spiffeId !== undefined) {
    where.push('e.spiffe_id = @spiffeId');
    args['spiffeId'] = filter.spiffeId;
  }
  if (filter.parentId !== undefined) {
    where.push('e.parent_id = @parentId');
    args['parentId'] = filter.parentId;
  }
  if (filter.spiffeIdPrefix !== undefined) {
    // substr, not LIKE: no wildcard in the prefix to escape.
    where.push('substr(e.spiffe_id, 1, length(@spiffeIdPrefix)) = @spiffeIdPrefix');
    args['spiffeIdPrefix'] = filter.spiffeIdPrefix;
  }
  if (filter.matchingSelectors !== undefined) {
    where.push(MATCHING);
    args['matching'] = selectorJson(filter.matchingSelectors);
  }
  if (filter.selectors !== undefined) {
    const set = canonicalSelectors(filter.selectors.list);
    where.push(SELECTOR_MATCH[filter.selectors.match]);
    args['selectorSet'] = selectorJson(set);
    args['selectorCount'] = set.length;
  }
  (filter.federatesWith ?? []).forEach((td, i) => {
    where.push(`EXISTS (SELECT 1 FROM json_each(e.federates_with) f WHERE f.value = @federatesWith${i})`);
    args[`federatesWith${i}`] = td;
  });
  if (filter.hint !== undefined) {
    where.push('e.hint = @hint');
    args['hint'] = filter.hint;
  }
  return { where: where.length > 0 ? ` WHERE ${where.join(' AND ')}` : '', args };
}

function selectorJson(selectors: readonly Selector[]): string {
  return JSON.stringify(canonicalSelectors(selectors).map((s) => [s.type, s.value]));
}

/** Selectors of the entry found in @selectorSet (deduplicated), grouped per entry. */
const FOUND_IN_SET = `
    SELECT s.entry_id FROM json_each(@selectorSet) AS j
    JOIN entry_selectors s ON s.type = j.value ->> 0 AND s.value = j.value ->> 1`;
const OWN_COUNT = '(SELECT count(*) FROM entry_selectors c WHERE c.entry_id = s.entry_id)';

const SELECTOR_MATCH: Record<SelectorMatch, string> = {
  exact: `e.id IN (${FOUND_IN_SET} GROUP BY s.entry_id
    HAVING count(*) = @selectorCount AND ${OWN_COUNT} = @selectorCount)`,
  subset: `e.id IN (${FOUND_IN_SET} GROUP BY s.entry_id HAVING count(*) = ${OWN_COUNT})`,
  superset: `e.id IN (${FOUND_IN_SET} GROUP BY s.entry_id HAVING count(*) = @selectorCount)`,
  any: `e.id IN (${FOUND_IN_SET})`,
};

/** A fresh record from caller input: copies every array, so later changes to the input cannot reach it. */
function normalize(input: EntryInput, id: string, revision: number, createdAt: number): Entry {
  return {
    id,
    spiffeId: input.spiffeId,
    parentId: input.parentId,
    selectors: canonicalSelectors(input.selectors),
    role: input.role,
    x509SvidTtlSeconds: input.x509SvidTtlSeconds,
    jwtSvidTtlSeconds: input.jwtSvidTtlSeconds,
    dnsNames: [...input.dnsNames],
    federatesWith: [...input.federatesWith],
    hint: input.hint,
    admin: input.admin,
    expiresAt: input.expiresAt ?? null,
    revision,
    createdAt,
  };
}

function params(entry: Entry): Record<string, unknown> {
  return {
    id: entry.id,
    spiffeId: entry.spiffeId,
    parentId: entry.parentId,
    identityHash: entryIdentityHash(entry),
    role: entry.role,
    x509SvidTtlSeconds: entry.x509SvidTtlSeconds,
    jwtSvidTtlSeconds: entry.jwtSvidTtlSeconds,
    dnsNames: JSON.stringify(entry.dnsNames),
    federatesWith: JSON.stringify(entry.federatesWith),
    hint: entry.hint,
    admin: entry.admin ? 1 : 0,
    expiresAt: entry.expiresAt,
    revision: entry.revision,
    createdAt: entry.createdAt,
  };
}

function fromRow(row: EntryRow): Entry {
  const pairs = JSON.parse(row.selectors) as [string, string][];
  return {
    id: row.id,
    spiffeId: row.spiffe_id,
    parentId: row.parent_id,
    selectors: canonicalSelectors(pairs.map(([type, value]) => ({ type, value }))),
    role: row.role as Role,
    x509SvidTtlSeconds: row.x509_svid_ttl_seconds,
    jwtSvidTtlSeconds: row.jwt_svid_ttl_seconds,
    dnsNames: JSON.parse(row.dns_names) as string[],
    federatesWith: JSON.parse(row.federates_with) as string[],
    hint: row.hint,
    admin: row.admin === 1,
    expiresAt: row.expires_at,
    revision: row.revision,
    createdAt: row.created_at,
  };
}

function entryNotFound(id: string) {
  return notFound(`entry ${JSON.stringify(id)} not found`);
}

function duplicate(entry: Entry, cause: unknown) {
  return alreadyExists(
    `an entry with spiffe ID ${JSON.stringify(entry.spiffeId)}, parent ID ${JSON.stringify(entry.parentId)} ` +
      'and the same selectors already exists',
    { cause },
  );
}
