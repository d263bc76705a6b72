import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, constants, existsSync, fsyncSync, linkSync, openSync, readSync, rmSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { systemClock, unixSeconds, type Clock } from '../../../common/clock.js';
import { failedPrecondition, unavailable } from '../../../common/errors.js';
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
  /** The database file, e.g. `<dataDir>/datastore.sqlite3`. */
  path: string;
  /**
   * Whether a missing file may be created (mode 0600, schema applied in a temporary file that is then renamed into
   * place, so a crash never leaves a half-made datastore). Default true; the server passes false unless its data dir
   * is empty. An existing file is opened only if it is a Tessera datastore, whatever this says.
   */
  create?: boolean;
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
    async checkWritable() {
      // Rewrites a row with its own value: a real commit (WAL append and fsync) that changes nothing.
      ctx.write(() =>
        ctx.stmt('UPDATE schema_migrations SET applied_at = applied_at WHERE version = (SELECT max(version) FROM schema_migrations)').run(),
      );
    },
    async close() {
      ctx.close();
    },
  };
}

/**
 * The connection behind {@link openSqliteDatastore}: pragmas set, migrations applied. A missing file is created (0600)
 * when `create` allows it. An existing file that is not a Tessera datastore (0 bytes, not SQLite, SQLite without our
 * schema_migrations table, unreadable) is FAILED_PRECONDITION naming the file, and is never written to.
 */
export function openSqliteDatabase(options: SqliteDatastoreOptions): Database.Database {
  const path = options.path;
  if (path === ':memory:') return configure(new Database(path), options);
  if (!existsSync(path)) {
    if (options.create === false) {
      throw failedPrecondition(
        `datastore file ${JSON.stringify(path)} is missing; restore it from a backup, or move the whole data dir away to start a new trust domain`,
      );
    }
    createDatastoreFile(options);
  }
  checkIsTesseraDatastore(path);
  const db = configure(new Database(path, { fileMustExist: true, timeout: busyTimeout(options) }), options);
  for (const suffix of ['-wal', '-shm']) restrictIfPresent(path + suffix);
  return db;
}

function busyTimeout(options: SqliteDatastoreOptions): number {
  return Math.trunc(options.busyTimeoutMs ?? 5000);
}

/** Sets the pragmas and applies the migrations; closes `db` if that fails. */
function configure(db: Database.Database, options: SqliteDatastoreOptions): Database.Database {
  const clock = options.clock ?? systemClock;
  const busyTimeoutMs = busyTimeout(options);
  const inMemory = db.memory;
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
  return db;
}

/**
 * Builds a new datastore in `<path>.init-<random>` (0600, schema applied, WAL checkpointed on close), fsyncs it and
 * links it to `path`: the file either does not exist or is a complete datastore, never a 0-byte leftover.
 */
function createDatastoreFile(options: SqliteDatastoreOptions): void {
  const tmp = `${options.path}.init-${randomBytes(6).toString('hex')}`;
  try {
    closeSync(openSync(tmp, constants.O_CREAT | constants.O_EXCL | constants.O_RDWR, 0o600));
    chmodSync(tmp, 0o600);
    configure(new Database(tmp, { fileMustExist: true, timeout: busyTimeout(options) }), options).close();
    const fd = openSync(tmp, constants.O_RDONLY);
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    // link(2), not rename(2): if another process created the datastore meanwhile, theirs stays and ours is dropped.
    try {
      linkSync(tmp, options.path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const dir = openSync(dirname(options.path), constants.O_RDONLY);
    try {
      fsyncSync(dir);
    } finally {
      closeSync(dir);
    }
  } finally {
    for (const suffix of ['', '-wal', '-shm']) rmSync(tmp + suffix, { force: true });
  }
}

const SQLITE_HEADER = Buffer.from('SQLite format 3\0', 'latin1');

/** Refuses a file that is not a Tessera datastore, without writing to it. */
function checkIsTesseraDatastore(path: string): void {
  const what = `datastore file ${JSON.stringify(path)}`;
  const fix = 'restore it from a backup, or move the whole data dir away to start a new trust domain';
  if (statSync(path).size === 0) throw failedPrecondition(`${what} is empty (0 bytes), not a tessera datastore; ${fix}`);
  const header = Buffer.alloc(SQLITE_HEADER.length);
  const fd = openSync(path, constants.O_RDONLY);
  try {
    readSync(fd, header, 0, header.length, 0);
  } finally {
    closeSync(fd);
  }
  if (!header.equals(SQLITE_HEADER)) throw failedPrecondition(`${what} is not an sqlite database; ${fix}`);
  let hasSchema: boolean;
  try {
    const db = new Database(path, { readonly: true, fileMustExist: true });
    try {
      hasSchema = db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'`).get() !== undefined;
    } finally {
      db.close();
    }
  } catch (err) {
    throw failedPrecondition(`${what} cannot be read as an sqlite database (${(err as Error).message}); ${fix}`, { cause: err });
  }
  if (!hasSchema) throw failedPrecondition(`${what} is an sqlite database without tessera's schema; ${fix}`);
}

function restrictIfPresent(path: string): void {
  if (existsSync(path)) chmodSync(path, 0o600);
}
