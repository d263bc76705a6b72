import Database from 'better-sqlite3';
import { unixSeconds, type Clock } from '../../../common/clock.js';
import {
  alreadyExists,
  internal,
  invalidArgument,
  isTesseraError,
  resourceExhausted,
  unavailable,
  type TesseraError,
} from '../../../common/errors.js';

/** What every SQLite store shares: the connection, a statement cache, the clock, and the error mapping. */
export class SqliteContext {
  readonly db: Database.Database;
  readonly clock: Clock;
  readonly #statements = new Map<string, Database.Statement>();
  #closed = false;

  constructor(db: Database.Database, clock: Clock) {
    this.db = db;
    this.clock = clock;
  }

  nowSeconds(): number {
    return unixSeconds(this.clock);
  }

  /** A prepared statement, prepared once per connection. */
  stmt(sql: string): Database.Statement {
    let statement = this.#statements.get(sql);
    if (statement === undefined) {
      statement = this.db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  /** Runs `fn` with SQLite errors turned into TesseraErrors. */
  read<T>(fn: () => T): T {
    if (this.#closed) throw unavailable('datastore is closed');
    try {
      return fn();
    } catch (err) {
      throw toTesseraError(err);
    }
  }

  /** Runs `fn` in one IMMEDIATE transaction (write lock taken up front, so no deadlock on upgrade). */
  write<T>(fn: () => T): T {
    return this.read(() => this.db.transaction(fn).immediate());
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#statements.clear();
    this.db.close();
  }
}

export function isUniqueViolation(err: unknown): boolean {
  return (
    err instanceof Database.SqliteError &&
    (err.code === 'SQLITE_CONSTRAINT_UNIQUE' || err.code === 'SQLITE_CONSTRAINT_PRIMARYKEY')
  );
}

/** Our errors pass through; SQLite's become coded errors; anything else (a TypeError: a bug) passes through too. */
export function toTesseraError(err: unknown): unknown {
  if (isTesseraError(err) || !(err instanceof Database.SqliteError)) return err;
  return mapSqliteError(err);
}

type SqliteError = InstanceType<typeof Database.SqliteError>;

function mapSqliteError(err: SqliteError): TesseraError {
  const code = err.code;
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    return unavailable('datastore is busy', { cause: err });
  }
  if (isUniqueViolation(err)) return alreadyExists('record already exists', { cause: err });
  if (
    code === 'SQLITE_CONSTRAINT_CHECK' ||
    code === 'SQLITE_CONSTRAINT_NOTNULL' ||
    code === 'SQLITE_CONSTRAINT_DATATYPE' ||
    code === 'SQLITE_CONSTRAINT_FOREIGNKEY' ||
    code === 'SQLITE_MISMATCH'
  ) {
    return invalidArgument('record has a field of the wrong type or out of range', { cause: err });
  }
  // Storage failures say what is wrong with the storage: the operator can fix them, the caller may retry afterwards.
  if (code === 'SQLITE_FULL') return resourceExhausted('datastore write failed: disk full', { cause: err });
  if (code.startsWith('SQLITE_IOERR')) return unavailable(`datastore i/o error (${code})`, { cause: err });
  if (code.startsWith('SQLITE_READONLY')) return unavailable(`datastore is read-only (${code})`, { cause: err });
  if (code.startsWith('SQLITE_CANTOPEN')) return unavailable(`datastore file cannot be opened (${code})`, { cause: err });
  return internal(`datastore failure: ${err.message}`, { cause: err });
}
