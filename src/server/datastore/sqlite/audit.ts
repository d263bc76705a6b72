import { invalidArgument } from '../../../common/errors.js';
import {
  AUDIT_DEFAULT_LIMIT,
  AUDIT_MAX_LIMIT,
  type AuditEvent,
  type AuditEventInput,
  type AuditQuery,
  type AuditStore,
} from '../audit.js';
import type { SqliteContext } from './context.js';

interface AuditRow {
  id: number;
  at_ms: number;
  kind: string;
  spiffe_id: string | null;
  entry_id: string | null;
  agent_id: string | null;
  instance_id: string | null;
  serial: string | null;
  jti: string | null;
  expires_at: number | null;
  details: string | null;
  details_bytes?: number | null;
}

const INSERT = `
  INSERT INTO audit_events (at_ms, kind, spiffe_id, entry_id, agent_id, instance_id, serial, jti, expires_at, details)
  VALUES (@atMs, @kind, @spiffeId, @entryId, @agentId, @instanceId, @serial, @jti, @expiresAt, @details)`;

interface PendingBatch {
  readonly events: readonly AuditEventInput[];
  readonly resolve: (ids: number[]) => void;
  readonly reject: (err: unknown) => void;
}

export class SqliteAuditStore implements AuditStore {
  readonly #ctx: SqliteContext;
  /** appendMany calls made in the same event-loop turn, committed together (group commit). */
  #pending: PendingBatch[] = [];

  constructor(ctx: SqliteContext) {
    this.#ctx = ctx;
  }

  async append(event: AuditEventInput): Promise<number> {
    return this.#ctx.read(() => this.#insert(event));
  }

  /**
   * Group commit: every appendMany of one event-loop turn shares one transaction (and one fsync), which is most of the
   * cost of a durable write. Each caller's promise still resolves only after its events are committed. If the shared
   * transaction fails, each batch is retried alone, so one bad batch cannot fail the others.
   */
  appendMany(events: readonly AuditEventInput[]): Promise<number[]> {
    if (events.length === 0) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      if (this.#pending.length === 0) setImmediate(() => this.#flush());
      this.#pending.push({ events, resolve, reject });
    });
  }

  #flush(): void {
    const batches = this.#pending;
    this.#pending = [];
    let results: number[][];
    try {
      results = this.#ctx.write(() => batches.map((b) => b.events.map((e) => this.#insert(e))));
    } catch (err) {
      if (batches.length === 1) {
        batches[0]!.reject(err);
        return;
      }
      for (const b of batches) {
        try {
          b.resolve(this.#ctx.write(() => b.events.map((e) => this.#insert(e))));
        } catch (one) {
          b.reject(one);
        }
      }
      return;
    }
    batches.forEach((b, i) => b.resolve(results[i]!));
  }

  async list(query: AuditQuery = {}): Promise<AuditEvent[]> {
    const limit = query.limit ?? AUDIT_DEFAULT_LIMIT;
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > AUDIT_MAX_LIMIT) {
      throw invalidArgument(`limit must be an integer between 1 and ${AUDIT_MAX_LIMIT}`);
    }
    const where: string[] = [];
    const args: Record<string, unknown> = { limit };
    const filters = [
      ['sinceMs', 'at_ms >= @sinceMs'],
      ['afterId', 'id > @afterId'],
      ['spiffeId', 'spiffe_id = @spiffeId'],
      ['instanceId', 'instance_id = @instanceId'],
      ['kind', 'kind = @kind'],
    ] as const;
    for (const [key, clause] of filters) {
      if (query[key] !== undefined) {
        where.push(clause);
        args[key] = query[key];
      }
    }
    const filter = where.length > 0 ? ` WHERE ${where.join(' AND ')}` : '';
    let columns = '*';
    if (query.maxDetailsBytes !== undefined) {
      // The oversized details never leave SQLite: only their length does.
      args['maxDetailsBytes'] = query.maxDetailsBytes;
      columns =
        'id, at_ms, kind, spiffe_id, entry_id, agent_id, instance_id, serial, jti, expires_at, ' +
        'CASE WHEN length(CAST(details AS BLOB)) > @maxDetailsBytes THEN NULL ELSE details END AS details, ' +
        'length(CAST(details AS BLOB)) AS details_bytes';
    }
    const sql = `SELECT ${columns} FROM audit_events${filter} ORDER BY id LIMIT @limit`;
    return this.#ctx.read(() => (this.#ctx.stmt(sql).all(args) as AuditRow[]).map(fromRow));
  }

  #insert(e: AuditEventInput): number {
    const { lastInsertRowid } = this.#ctx.stmt(INSERT).run({
      atMs: e.atMs,
      kind: e.kind,
      spiffeId: e.spiffeId ?? null,
      entryId: e.entryId ?? null,
      agentId: e.agentId ?? null,
      instanceId: e.instanceId ?? null,
      serial: e.serial ?? null,
      jti: e.jti ?? null,
      expiresAt: e.expiresAt ?? null,
      details: e.details === undefined ? null : JSON.stringify(e.details),
    });
    return Number(lastInsertRowid);
  }
}

function fromRow(row: AuditRow): AuditEvent {
  return {
    id: row.id,
    atMs: row.at_ms,
    kind: row.kind,
    spiffeId: row.spiffe_id,
    entryId: row.entry_id,
    agentId: row.agent_id,
    instanceId: row.instance_id,
    serial: row.serial,
    jti: row.jti,
    expiresAt: row.expires_at,
    details: row.details === null ? null : (JSON.parse(row.details) as Record<string, unknown>),
    ...(row.details === null && typeof row.details_bytes === 'number' && { detailsOmittedBytes: row.details_bytes }),
  };
}
