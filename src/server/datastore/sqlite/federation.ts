import { alreadyExists, notFound } from '../../../common/errors.js';
import type {
  BundleEndpointProfile,
  FederationRelationship,
  FederationRelationshipInput,
  OperatorBundle,
} from '../../federation/types.js';
import type { BundleRecord } from '../bundles.js';
import type { FederationStore } from '../federation.js';
import { isUniqueViolation, type SqliteContext } from './context.js';

interface RelationshipRow {
  trust_domain: string;
  bundle_endpoint_url: string;
  profile: string;
  endpoint_spiffe_id: string | null;
  created_at: number;
  updated_at: number;
}

interface BundleRow {
  trust_domain: string;
  document: string;
  sequence: number;
  updated_at: number;
}

const INSERT = `
  INSERT INTO federation_relationships
    (trust_domain, bundle_endpoint_url, profile, endpoint_spiffe_id, created_at, updated_at)
  VALUES (@trustDomain, @bundleEndpointUrl, @profile, @endpointSpiffeId, @now, @now)
  RETURNING *`;

const UPDATE = `
  UPDATE federation_relationships
  SET bundle_endpoint_url = @bundleEndpointUrl, profile = @profile, endpoint_spiffe_id = @endpointSpiffeId,
      updated_at = @now
  WHERE trust_domain = @trustDomain
  RETURNING *`;

/** An operator's bundle replaces the stored one whatever the sequences (unlike BundleStore.put). */
const REPLACE_BUNDLE = `
  INSERT INTO bundles (trust_domain, document, sequence, updated_at) VALUES (@td, @document, @sequence, @now)
  ON CONFLICT (trust_domain) DO UPDATE SET
    document = excluded.document, sequence = excluded.sequence, updated_at = excluded.updated_at`;

export class SqliteFederationStore implements FederationStore {
  readonly #ctx: SqliteContext;

  constructor(ctx: SqliteContext) {
    this.#ctx = ctx;
  }

  async create(rel: FederationRelationshipInput, bundle?: OperatorBundle): Promise<FederationRelationship> {
    return this.#ctx.write(() => {
      const now = this.#ctx.nowSeconds();
      let row: RelationshipRow;
      try {
        row = this.#ctx.stmt(INSERT).get({ ...params(rel), now }) as RelationshipRow;
      } catch (err) {
        if (isUniqueViolation(err)) {
          throw alreadyExists(`a federation relationship with ${JSON.stringify(rel.trustDomain)} already exists`, {
            cause: err,
          });
        }
        throw err;
      }
      if (bundle !== undefined) this.#replaceBundle(rel.trustDomain, bundle, now);
      return fromRow(row);
    });
  }

  async update(rel: FederationRelationshipInput, bundle?: OperatorBundle): Promise<FederationRelationship> {
    return this.#ctx.write(() => {
      const now = this.#ctx.nowSeconds();
      const row = this.#ctx.stmt(UPDATE).get({ ...params(rel), now }) as RelationshipRow | undefined;
      if (row === undefined) throw relationshipNotFound(rel.trustDomain);
      if (bundle !== undefined) this.#replaceBundle(rel.trustDomain, bundle, now);
      return fromRow(row);
    });
  }

  async get(trustDomain: string): Promise<FederationRelationship | null> {
    return this.#ctx.read(() => {
      const row = this.#ctx.stmt('SELECT * FROM federation_relationships WHERE trust_domain = ?').get(trustDomain) as
        | RelationshipRow
        | undefined;
      return row === undefined ? null : fromRow(row);
    });
  }

  async list(): Promise<FederationRelationship[]> {
    return this.#ctx.read(() =>
      (this.#ctx.stmt('SELECT * FROM federation_relationships ORDER BY trust_domain').all() as RelationshipRow[]).map(
        fromRow,
      ),
    );
  }

  async delete(trustDomain: string): Promise<FederationRelationship> {
    return this.#ctx.write(() => {
      const row = this.#ctx
        .stmt('DELETE FROM federation_relationships WHERE trust_domain = ? RETURNING *')
        .get(trustDomain) as RelationshipRow | undefined;
      if (row === undefined) throw relationshipNotFound(trustDomain);
      this.#ctx.stmt('DELETE FROM bundles WHERE trust_domain = ?').run(trustDomain);
      return fromRow(row);
    });
  }

  async bundle(trustDomain: string): Promise<BundleRecord | null> {
    return this.#ctx.read(() => {
      const row = this.#ctx.stmt('SELECT * FROM bundles WHERE trust_domain = ?').get(trustDomain) as
        | BundleRow
        | undefined;
      return row === undefined
        ? null
        : { trustDomain: row.trust_domain, document: row.document, sequence: row.sequence, updatedAt: row.updated_at };
    });
  }

  #replaceBundle(trustDomain: string, bundle: OperatorBundle, now: number): void {
    this.#ctx.stmt(REPLACE_BUNDLE).run({ td: trustDomain, document: bundle.document, sequence: bundle.sequence, now });
  }
}

function params(rel: FederationRelationshipInput) {
  return {
    trustDomain: rel.trustDomain,
    bundleEndpointUrl: rel.bundleEndpointUrl,
    profile: rel.profile,
    endpointSpiffeId: rel.endpointSpiffeId ?? null,
  };
}

function fromRow(row: RelationshipRow): FederationRelationship {
  return {
    trustDomain: row.trust_domain,
    bundleEndpointUrl: row.bundle_endpoint_url,
    profile: row.profile as BundleEndpointProfile,
    ...(row.endpoint_spiffe_id !== null ? { endpointSpiffeId: row.endpoint_spiffe_id } : {}),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function relationshipNotFound(trustDomain: string) {
  return notFound(`no federation relationship with ${JSON.stringify(trustDomain)}`);
}
