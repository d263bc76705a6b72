import { alreadyExists } from '../../../common/errors.js';
import type { JoinTokenConsumeResult, JoinTokenRecord, JoinTokenStore } from '../join-tokens.js';
import { joinTokenHash } from '../selectors.js';
import { isUniqueViolation, type SqliteContext } from './context.js';

interface TokenRow {
  token_hash: string;
  expires_at: number;
  created_at: number;
  alias_spiffe_id: string | null;
  used_at: number | null;
}

/** Single use across connections and processes: the test and the mark are one UPDATE, and SQLite serializes writers. */
const CONSUME = `
  UPDATE join_tokens SET used_at = @now
  WHERE token_hash = @hash AND used_at IS NULL AND expires_at > @now
  RETURNING *`;

export class SqliteJoinTokenStore implements JoinTokenStore {
  readonly #ctx: SqliteContext;

  constructor(ctx: SqliteContext) {
    this.#ctx = ctx;
  }

  async create(token: string, options: { expiresAt: number; aliasSpiffeId?: string }): Promise<JoinTokenRecord> {
    const record: JoinTokenRecord = {
      tokenHash: joinTokenHash(token),
      expiresAt: options.expiresAt,
      createdAt: this.#ctx.nowSeconds(),
      aliasSpiffeId: options.aliasSpiffeId ?? null,
      usedAt: null,
    };
    this.#ctx.read(() => {
      try {
        this.#ctx
          .stmt(
            'INSERT INTO join_tokens (token_hash, expires_at, created_at, alias_spiffe_id) VALUES (?, ?, ?, ?)',
          )
          .run(record.tokenHash, record.expiresAt, record.createdAt, record.aliasSpiffeId);
      } catch (err) {
        // Never name the token (or its hash) in an error.
        throw isUniqueViolation(err) ? alreadyExists('join token already exists', { cause: err }) : err;
      }
    });
    return record;
  }

  async consume(token: string, nowSeconds: number): Promise<JoinTokenConsumeResult> {
    const hash = joinTokenHash(token);
    return this.#ctx.read(() => {
      const row = this.#ctx.stmt(CONSUME).get({ hash, now: nowSeconds }) as TokenRow | undefined;
      if (row !== undefined) return { ok: true, token: fromRow(row) };
      const found = this.#ctx.stmt('SELECT * FROM join_tokens WHERE token_hash = ?').get(hash) as TokenRow | undefined;
      if (found === undefined) return { ok: false, reason: 'not_found' };
      return { ok: false, reason: found.used_at !== null ? 'already_used' : 'expired' };
    });
  }

  async prune(nowSeconds: number): Promise<number> {
    return this.#ctx.read(
      () => this.#ctx.stmt('DELETE FROM join_tokens WHERE expires_at <= ?').run(nowSeconds).changes,
    );
  }
}

function fromRow(row: TokenRow): JoinTokenRecord {
  return {
    tokenHash: row.token_hash,
    expiresAt: row.expires_at,
    createdAt: row.created_at,
    aliasSpiffeId: row.alias_spiffe_id,
    usedAt: row.used_at,
  };
}
