import { alreadyExists, failedPrecondition, notFound } from '../../../common/errors.js';
import type { KeyKind, KeyRecord, KeyState, KeyStateChange, KeyStore, NewKeyRecord } from '../keys.js';
import { isUniqueViolation, type SqliteContext } from './context.js';

interface KeyRow {
  id: string;
  kind: string;
  server_id: string;
  state: string;
  public_material: Buffer;
  private_key_file: string;
  not_after: number;
  created_at: number;
  activated_at: number | null;
  retired_at: number | null;
}

const NEXT: Record<KeyState, readonly KeyState[]> = {
  prepared: ['active', 'retired'],
  active: ['retired'],
  retired: [],
};

/** Retire before activating, so a batch "activate B, retire A" never holds two active keys in between. */
const APPLY_ORDER: Record<KeyState, number> = { retired: 0, prepared: 1, active: 2 };

export class SqliteKeyStore implements KeyStore {
  readonly #ctx: SqliteContext;

  constructor(ctx: SqliteContext) {
    this.#ctx = ctx;
  }

  async list(filter: { kind?: KeyKind; serverId?: string; state?: KeyState } = {}): Promise<KeyRecord[]> {
    return this.#ctx.read(() =>
      (
        this.#ctx
          .stmt(
            `SELECT * FROM signing_keys
             WHERE (@kind IS NULL OR kind = @kind) AND (@serverId IS NULL OR server_id = @serverId)
               AND (@state IS NULL OR state = @state)
             ORDER BY created_at, id`,
          )
          .all({
            kind: filter.kind ?? null,
            serverId: filter.serverId ?? null,
            state: filter.state ?? null,
          }) as KeyRow[]
      ).map(fromRow),
    );
  }

  async insert(record: NewKeyRecord): Promise<KeyRecord> {
    return this.#ctx.write(() => {
      if (this.#getSync(record.id) !== null) throw alreadyExists(`key ${JSON.stringify(record.id)} already exists`);
      const state = record.state ?? 'prepared';
      const now = this.#ctx.nowSeconds();
      if (state === 'active') this.#assertNoOtherActive(record.kind, record.serverId, record.id);
      try {
        const row = this.#ctx
          .stmt(
            `INSERT INTO signing_keys (id, kind, server_id, state, public_material, private_key_file, not_after,
                                       created_at, activated_at, retired_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL) RETURNING *`,
          )
          .get(
            record.id,
            record.kind,
            record.serverId,
            state,
            Buffer.from(record.publicMaterial),
            record.privateKeyFile,
            record.notAfter,
            now,
            state === 'active' ? now : null,
          ) as KeyRow;
        return fromRow(row);
      } catch (err) {
        if (!isUniqueViolation(err)) throw err;
        throw alreadyExists(`key ${JSON.stringify(record.id)} already exists`, { cause: err });
      }
    });
  }

  async setState(changes: readonly KeyStateChange[]): Promise<KeyRecord[]> {
    return this.#ctx.write(() => {
      const now = this.#ctx.nowSeconds();
      const ordered = [...changes].sort((a, b) => APPLY_ORDER[a.state] - APPLY_ORDER[b.state]);
      for (const change of ordered) {
        const current = this.#getSync(change.id);
        if (current === null) throw keyNotFound(change.id);
        if (current.state === change.state) continue;
        if (!NEXT[current.state].includes(change.state)) {
          throw failedPrecondition(
            `key ${JSON.stringify(change.id)} cannot go from ${current.state} to ${change.state}`,
          );
        }
        if (change.state === 'active') this.#assertNoOtherActive(current.kind, current.serverId, current.id);
        this.#ctx
          .stmt(
            `UPDATE signing_keys SET state = @state,
               activated_at = CASE WHEN @state = 'active' THEN @now ELSE activated_at END,
               retired_at = CASE WHEN @state = 'retired' THEN @now ELSE retired_at END
             WHERE id = @id`,
          )
          .run({ id: change.id, state: change.state, now });
      }
      return changes.map((c) => this.#getSync(c.id)!);
    });
  }

  async delete(id: string): Promise<void> {
    this.#ctx.write(() => {
      const current = this.#getSync(id);
      if (current === null) throw keyNotFound(id);
      if (current.state !== 'retired') {
        throw failedPrecondition(`key ${JSON.stringify(id)} is ${current.state}; only retired keys can be deleted`);
      }
      this.#ctx.stmt('DELETE FROM signing_keys WHERE id = ?').run(id);
    });
  }

  #assertNoOtherActive(kind: KeyKind, serverId: string, id: string): void {
    const other = this.#ctx
      .stmt("SELECT id FROM signing_keys WHERE kind = ? AND server_id = ? AND state = 'active' AND id <> ?")
      .get(kind, serverId, id) as { id: string } | undefined;
    if (other !== undefined) {
      throw failedPrecondition(
        `key ${JSON.stringify(other.id)} is already the active ${kind} key of server ${JSON.stringify(serverId)}`,
      );
    }
  }

  #getSync(id: string): KeyRecord | null {
    const row = this.#ctx.stmt('SELECT * FROM signing_keys WHERE id = ?').get(id) as KeyRow | undefined;
    return row === undefined ? null : fromRow(row);
  }
}

function fromRow(row: KeyRow): KeyRecord {
  return {
    id: row.id,
    kind: row.kind as KeyKind,
    serverId: row.server_id,
    state: row.state as KeyState,
    publicMaterial: new Uint8Array(row.public_material),
    privateKeyFile: row.private_key_file,
    notAfter: row.not_after,
    createdAt: row.created_at,
    activatedAt: row.activated_at,
    retiredAt: row.retired_at,
  };
}

function keyNotFound(id: string) {
  return notFound(`key ${JSON.stringify(id)} not found`);
}
