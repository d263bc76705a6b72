import { chmodSync, closeSync, constants, existsSync, openSync } from 'node:fs';
import Database from 'better-sqlite3';
import { systemClock, unixSeconds, type Clock } from '../../../common/clock.js';
import { unavailable } from '../../../common/errors.js';
import type { Logger } from '../../../common/log.js';
import { ChangeFeed } from '../change-feed.js';
import type { Datastore } from '../datastore.js';
import { SqliteAgentStore } from './agents.js';
import { SqliteAuditStore } from './audit.js';
import { SqliteBundleStore } from './bundles.js';
import { SqliteContext } from './context.js';
import { SqliteEntryStore } from './entries.js';
import { SqliteFederationStore } from './federation.js';
import { SqliteInstanceRoleStore } from './instance-roles.js';
import { SqliteJoinTokenStore } from './join-tokens.js';
import { SqliteKeyStore } from './keys.js';
import { applyMigrations } from './migrations.js';

export interface SqliteDatastoreOptions {
  /** The database file (created with mode 0600 if missing), e.g. `<dataDir>/datastore.sqlite3`. */
  path: string;
  /** Source of createdAt/updatedAt/activatedAt times. Defaults to the system clock. */
  clock?: Clock;
  /** Where failures of change listeners are reported. */
  log?: Logger;
  /** How long a write waits for another connection's lock before failing with UNAVAILABLE. Default 5000. */
  busyTimeoutMs?: number;
}

/**
 * Opens (creating if needed) the embedded SQLite datastore and brings its schema up to date.
 *
 * - WAL, so readers never block the writer and several connections/processes can share the file.
 * - synchronous=FULL: with WAL, NORMAL can lose the last commits on power loss. Here that would mean a consumed join
 *   token becoming usable again, a key activation or an audit record disappearing after the credential went out.
 *   FULL fsyncs the WAL on every commit; batch writes (createMany, appendMany) to pay it once.
 * - foreign_keys=ON (entry_selectors cascade with their entry), busy_timeout so writers queue instead of failing.
 * - The file and its -wal/-shm companions are mode 0600 (SQLite gives the companions the main file's mode).
 */
export function openSqliteDatastore(options: SqliteDatastoreOptions): Datastore {
  const clock = options.clock ?? systemClock;
  const db = openSqliteDatabase(options);
  const ctx = new SqliteContext(db, clock);
  return {
    entries: new SqliteEntryStore(ctx, new ChangeFeed(options.log)),
    agents: new SqliteAgentStore(ctx),
    joinTokens: new SqliteJoinTokenStore(ctx),
    keys: new SqliteKeyStore(ctx),
    bundles: new SqliteBundleStore(ctx),
    audit: new SqliteAuditStore(ctx),
    federation: new SqliteFederationStore(ctx),
    instanceRoles: new SqliteInstanceRoleStore(ctx),
    async ping() {
      ctx.read(() => ctx.stmt('SELECT 1').get());
    },
    async close() {
      ctx.close();
    },
  };
}

/** The connection behind {@link openSqliteDatastore}: file created 0600, pragmas set, migrations applied. */
export function openSqliteDatabase(options: SqliteDatastoreOptions): Database.Database {
  const clock = options.clock ?? systemClock;
  const path = options.path;
  const busyTimeoutMs = Math.trunc(options.busyTimeoutMs ?? 5000);
  const inMemory = path === ':memory:';
  if (!inMemory) ensurePrivateFile(path);

  const db = new Database(path, { timeout: busyTimeoutMs });
  try {
    db.pragma(`busy_timeout = ${busyTimeoutMs}`);
    if (!inMemory) {
      const mode = db.pragma('journal_mode = WAL', { simple: true });
      if (mode !== 'wal') throw unavailable(`cannot put the datastore in WAL mode (got ${String(mode)})`);
    }
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
    applyMigrations(db, () => unixSeconds(clock));
  } catch (err) {
    db.close();
    throw err;
  }
  if (!inMemory) for (const suffix of ['-wal', '-shm']) restrictIfPresent(path + suffix);
  return db;
}

function ensurePrivateFile(path: string): void {
  closeSync(openSync(path, constants.O_CREAT | constants.O_RDWR, 0o600));
  chmodSync(path, 0o600);
}

function restrictIfPresent(path: string): void {
  if (existsSync(path)) chmodSync(path, 0o600);
}
