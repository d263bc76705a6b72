import { failedPrecondition, notFound, permissionDenied } from '../../../common/errors.js';
import type { AgentAttestation, AgentRecord, AgentStore } from '../agents.js';
import type { Selector } from '../entries.js';
import { canonicalSelectors } from '../selectors.js';
import type { SqliteContext } from './context.js';

interface AgentRow {
  spiffe_id: string;
  attestor: string;
  selectors: string;
  svid_serial: string;
  svid_expires_at: number;
  banned: number;
  attested_at: number;
  last_seen_at: number;
}

/** The DO UPDATE ... WHERE makes "refuse a banned agent" and the write one statement. */
const UPSERT = `
  INSERT INTO agents (spiffe_id, attestor, selectors, svid_serial, svid_expires_at, banned, attested_at, last_seen_at)
  VALUES (@spiffeId, @attestor, @selectors, @svidSerial, @svidExpiresAt, 0, @attestedAt, @attestedAt)
  ON CONFLICT (spiffe_id) DO UPDATE SET
    attestor = excluded.attestor, selectors = excluded.selectors, svid_serial = excluded.svid_serial,
    svid_expires_at = excluded.svid_expires_at, attested_at = excluded.attested_at,
    last_seen_at = excluded.last_seen_at
  WHERE agents.banned = 0
  RETURNING *`;

const UPDATE_SVID = `
  UPDATE agents SET svid_serial = @serial, svid_expires_at = @expiresAt
  WHERE spiffe_id = @spiffeId AND banned = 0 AND (@previousSerial IS NULL OR svid_serial = @previousSerial)
  RETURNING *`;

export class SqliteAgentStore implements AgentStore {
  readonly #ctx: SqliteContext;

  constructor(ctx: SqliteContext) {
    this.#ctx = ctx;
  }

  async upsertAttested(a: AgentAttestation): Promise<AgentRecord> {
    const row = this.#ctx.read(
      () =>
        this.#ctx.stmt(UPSERT).get({
          spiffeId: a.spiffeId,
          attestor: a.attestor,
          selectors: JSON.stringify(canonicalSelectors(a.selectors)),
          svidSerial: a.svidSerial,
          svidExpiresAt: a.svidExpiresAt,
          attestedAt: a.attestedAt,
        }) as AgentRow | undefined,
    );
    if (row === undefined) throw banned(a.spiffeId);
    return fromRow(row);
  }

  async get(spiffeId: string): Promise<AgentRecord | null> {
    return this.#ctx.read(() => this.#getSync(spiffeId));
  }

  async list(): Promise<AgentRecord[]> {
    return this.#ctx.read(() =>
      (this.#ctx.stmt('SELECT * FROM agents ORDER BY spiffe_id').all() as AgentRow[]).map(fromRow),
    );
  }

  async updateSvid(
    spiffeId: string,
    svid: { serial: string; expiresAt: number; previousSerial?: string },
  ): Promise<AgentRecord> {
    return this.#ctx.write(() => {
      const row = this.#ctx.stmt(UPDATE_SVID).get({
        spiffeId,
        serial: svid.serial,
        expiresAt: svid.expiresAt,
        previousSerial: svid.previousSerial ?? null,
      }) as AgentRow | undefined;
      if (row !== undefined) return fromRow(row);
      const current = this.#getSync(spiffeId);
      if (current === null) throw agentNotFound(spiffeId);
      if (current.banned) throw banned(spiffeId);
      throw failedPrecondition(
        `agent ${JSON.stringify(spiffeId)} holds SVID serial ${JSON.stringify(current.svidSerial)}, ` +
          `not ${JSON.stringify(svid.previousSerial)}`,
      );
    });
  }

  async setBanned(spiffeId: string, isBanned: boolean): Promise<AgentRecord> {
    const row = this.#ctx.read(
      () =>
        this.#ctx
          .stmt('UPDATE agents SET banned = ? WHERE spiffe_id = ? RETURNING *')
          .get(isBanned ? 1 : 0, spiffeId) as AgentRow | undefined,
    );
    if (row === undefined) throw agentNotFound(spiffeId);
    return fromRow(row);
  }

  async delete(spiffeId: string): Promise<void> {
    const { changes } = this.#ctx.read(() => this.#ctx.stmt('DELETE FROM agents WHERE spiffe_id = ?').run(spiffeId));
    if (changes === 0) throw agentNotFound(spiffeId);
  }

  async touch(spiffeId: string, atSeconds: number): Promise<void> {
    const { changes } = this.#ctx.read(() =>
      // max(): a late, out-of-order touch never moves lastSeenAt back
      this.#ctx
        .stmt('UPDATE agents SET last_seen_at = max(last_seen_at, ?) WHERE spiffe_id = ?')
        .run(atSeconds, spiffeId),
    );
    if (changes === 0) throw agentNotFound(spiffeId);
  }

  #getSync(spiffeId: string): AgentRecord | null {
    const row = this.#ctx.stmt('SELECT * FROM agents WHERE spiffe_id = ?').get(spiffeId) as AgentRow | undefined;
    return row === undefined ? null : fromRow(row);
  }
}

function fromRow(row: AgentRow): AgentRecord {
  return {
    spiffeId: row.spiffe_id,
    attestor: row.attestor,
    selectors: JSON.parse(row.selectors) as Selector[],
    svidSerial: row.svid_serial,
    svidExpiresAt: row.svid_expires_at,
    banned: row.banned === 1,
    attestedAt: row.attested_at,
    lastSeenAt: row.last_seen_at,
  };
}

function agentNotFound(spiffeId: string) {
  return notFound(`agent ${JSON.stringify(spiffeId)} not found`);
}

function banned(spiffeId: string) {
  return permissionDenied(`agent ${JSON.stringify(spiffeId)} is banned`);
}
