import { failedPrecondition, notFound } from '../../../common/errors.js';
import type { BundleRecord, BundleStore } from '../bundles.js';
import type { SqliteContext } from './context.js';

interface BundleRow {
  trust_domain: string;
  document: string;
  sequence: number;
  updated_at: number;
}

/** The sequence check and the write are one statement: a lower sequence leaves the row untouched. */
const PUT = `
  INSERT INTO bundles (trust_domain, document, sequence, updated_at) VALUES (@td, @document, @sequence, @now)
  ON CONFLICT (trust_domain) DO UPDATE SET
    document = excluded.document, sequence = excluded.sequence, updated_at = excluded.updated_at
  WHERE excluded.sequence >= bundles.sequence
  RETURNING *`;

export class SqliteBundleStore implements BundleStore {
  readonly #ctx: SqliteContext;

  constructor(ctx: SqliteContext) {
    this.#ctx = ctx;
  }

  async put(trustDomain: string, document: string, sequence: number): Promise<BundleRecord> {
    return this.#ctx.write(() => {
      const row = this.#ctx.stmt(PUT).get({ td: trustDomain, document, sequence, now: this.#ctx.nowSeconds() }) as
        | BundleRow
        | undefined;
      if (row !== undefined) return fromRow(row);
      const stored = this.#getSync(trustDomain);
      throw failedPrecondition(
        `bundle sequence ${sequence} for ${JSON.stringify(trustDomain)} is lower than the stored ${stored?.sequence}`,
      );
    });
  }

  async get(trustDomain: string): Promise<BundleRecord | null> {
    return this.#ctx.read(() => this.#getSync(trustDomain));
  }

  async list(): Promise<BundleRecord[]> {
    return this.#ctx.read(() =>
      (this.#ctx.stmt('SELECT * FROM bundles ORDER BY trust_domain').all() as BundleRow[]).map(fromRow),
    );
  }

  async delete(trustDomain: string): Promise<void> {
    const { changes } = this.#ctx.read(() =>
      this.#ctx.stmt('DELETE FROM bundles WHERE trust_domain = ?').run(trustDomain),
    );
    if (changes === 0) throw notFound(`bundle for ${JSON.stringify(trustDomain)} not found`);
  }

  #getSync(trustDomain: string): BundleRecord | null {
    const row = this.#ctx.stmt('SELECT * FROM bundles WHERE trust_domain = ?').get(trustDomain) as
      | BundleRow
      | undefined;
    return row === undefined ? null : fromRow(row);
  }
}

function fromRow(row: BundleRow): BundleRecord {
  return { trustDomain: row.trust_domain, document: row.document, sequence: row.sequence, updatedAt: row.updated_at };
}
