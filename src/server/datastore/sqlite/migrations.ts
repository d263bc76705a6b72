import type { Database } from 'better-sqlite3';
import { failedPrecondition } from '../../../common/errors.js';

/**
 * The schema, as an ordered list of migrations: MIGRATIONS[i] brings the database to version i + 1. Each one runs in
 * its own IMMEDIATE transaction together with its row in schema_migrations, so a crash leaves either the old or the
 * new version, and two processes opening the same file at once apply it once. Never edit a released migration;
 * append a new one. (Statements that cannot run inside a transaction, such as PRAGMA foreign_keys, do not belong
 * here.)
 *
 * Tables are STRICT: a value of the wrong type is refused instead of stored.
 */
export const MIGRATIONS: readonly string[] = [
  // 1: initial schema
  `
  CREATE TABLE entries (
    id TEXT PRIMARY KEY,
    spiffe_id TEXT NOT NULL,
    parent_id TEXT NOT NULL,
    -- SHA-256 of (spiffe_id, parent_id, sorted selector set): one entry per identity
    identity_hash TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL CHECK (role IN ('worker', 'supervisor')),
    x509_svid_ttl_seconds INTEGER NOT NULL CHECK (x509_svid_ttl_seconds >= 0),
    jwt_svid_ttl_seconds INTEGER NOT NULL CHECK (jwt_svid_ttl_seconds >= 0),
    dns_names TEXT NOT NULL CHECK (json_valid(dns_names) AND json_type(dns_names) = 'array'),
    federates_with TEXT NOT NULL CHECK (json_valid(federates_with) AND json_type(federates_with) = 'array'),
    hint TEXT NOT NULL,
    admin INTEGER NOT NULL CHECK (admin IN (0, 1)),
    expires_at INTEGER,
    revision INTEGER NOT NULL CHECK (revision >= 1),
    created_at INTEGER NOT NULL
  ) STRICT;
  CREATE INDEX entries_spiffe_id ON entries (spiffe_id);
  CREATE INDEX entries_parent_id ON entries (parent_id);
  CREATE INDEX entries_created_at ON entries (created_at, id);

  CREATE TABLE entry_selectors (
    entry_id TEXT NOT NULL REFERENCES entries (id) ON DELETE CASCADE,
    type TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (entry_id, type, value)
  ) STRICT, WITHOUT ROWID;
  CREATE INDEX entry_selectors_type_value ON entry_selectors (type, value);

  CREATE TABLE agents (
    spiffe_id TEXT PRIMARY KEY,
    attestor TEXT NOT NULL,
    -- JSON array of {"type","value"}, sorted
    selectors TEXT NOT NULL CHECK (json_valid(selectors)),
    svid_serial TEXT NOT NULL,
    svid_expires_at INTEGER NOT NULL,
    banned INTEGER NOT NULL DEFAULT 0 CHECK (banned IN (0, 1)),
    attested_at INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL
  ) STRICT;

  CREATE TABLE join_tokens (
    -- SHA-256 of the token; the token itself is never stored
    token_hash TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    alias_spiffe_id TEXT,
    used_at INTEGER
  ) STRICT;
  CREATE INDEX join_tokens_expires_at ON join_tokens (expires_at);

  CREATE TABLE signing_keys (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('x509_ca', 'jwt')),
    server_id TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('prepared', 'active', 'retired')),
    public_material BLOB NOT NULL,
    private_key_file TEXT NOT NULL,
    not_after INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    activated_at INTEGER,
    retired_at INTEGER
  ) STRICT;
  CREATE INDEX signing_keys_kind_server ON signing_keys (kind, server_id, state);
  -- at most one signing key per kind and server
  CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (kind, server_id) WHERE state = 'active';

  CREATE TABLE bundles (
    trust_domain TEXT PRIMARY KEY,
    document TEXT NOT NULL,
    sequence INTEGER NOT NULL CHECK (sequence >= 0),
    updated_at INTEGER NOT NULL
  ) STRICT;

  CREATE TABLE audit_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms INTEGER NOT NULL,
    kind TEXT NOT NULL,
    spiffe_id TEXT,
    entry_id TEXT,
    agent_id TEXT,
    instance_id TEXT,
    serial TEXT,
    jti TEXT,
    expires_at INTEGER,
    details TEXT CHECK (details IS NULL OR json_valid(details))
  ) STRICT;
  CREATE INDEX audit_events_at_ms ON audit_events (at_ms);
  CREATE INDEX audit_events_spiffe_id ON audit_events (spiffe_id, id);
  CREATE INDEX audit_events_instance_id ON audit_events (instance_id, id);
  CREATE INDEX audit_events_kind ON audit_events (kind, id);
  `,
  // 2: federation relationships (their bundles live in `bundles`, keyed by the same trust domain name)
  `
  CREATE TABLE federation_relationships (
    trust_domain TEXT PRIMARY KEY CHECK (trust_domain <> ''),
    bundle_endpoint_url TEXT NOT NULL CHECK (bundle_endpoint_url <> ''),
    profile TEXT NOT NULL CHECK (profile IN ('https_web', 'https_spiffe')),
    -- the SPIFFE ID the endpoint must present: set exactly when the profile is https_spiffe
    endpoint_spiffe_id TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    CHECK (
      (profile = 'https_spiffe' AND endpoint_spiffe_id IS NOT NULL AND endpoint_spiffe_id <> '')
      OR (profile = 'https_web' AND endpoint_spiffe_id IS NULL)
    )
  ) STRICT;
  `,
  // 3: the role each process instance was first issued, kept for its life (issue 10 item 4)
  `
  CREATE TABLE instance_roles (
    instance_id TEXT PRIMARY KEY CHECK (instance_id <> ''),
    role TEXT NOT NULL CHECK (role IN ('worker', 'supervisor')),
    agent_id TEXT NOT NULL,
    claimed_at INTEGER NOT NULL
  ) STRICT, WITHOUT ROWID;
  `,
];

/** Brings the database up to the last migration; returns the resulting version. */
export function applyMigrations(db: Database, nowSeconds: () => number): number {
  db.exec(
    'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL) STRICT',
  );
  const current = () =>
    (db.prepare('SELECT coalesce(max(version), 0) AS v FROM schema_migrations').get() as { v: number }).v;
  const known = MIGRATIONS.length;
  const found = current();
  if (found > known) {
    throw failedPrecondition(`database schema version ${found} is newer than this binary's (${known})`);
  }
  for (let version = found + 1; version <= known; version++) {
    db.transaction(() => {
      if (current() >= version) return; // another process got here first
      db.exec(MIGRATIONS[version - 1]!);
      db.prepare('INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)').run(version, nowSeconds());
    }).immediate();
  }
  return known;
}
