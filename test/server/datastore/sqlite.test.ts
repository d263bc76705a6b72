import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/common/log.js';
import { MIGRATIONS, openSqliteDatabase, openSqliteDatastore } from '../../../src/server/datastore/sqlite/index.js';
import { fakeClock } from '../../helpers/fake-clock.js';
import { expectCode, runDatastoreContract } from './contract.js';

const dir = mkdtempSync(join(tmpdir(), 'tessera-sqlite-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const path = join(dir, 'contract.sqlite3');
const moduleUrl = pathToFileURL(
  fileURLToPath(new URL('../../../src/server/datastore/sqlite/index.ts', import.meta.url)),
).href;
const tsxUrl = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

runDatastoreContract('sqlite', () => openSqliteDatastore({ path, log: silentLogger() }), {
  child: { module: moduleUrl, exportName: 'openSqliteDatastore', options: { path }, nodeArgs: ['--import', tsxUrl] },
});

describe('openSqliteDatastore', () => {
  it('creates the database and its WAL companions with mode 0600', async () => {
    const file = join(dir, 'mode.sqlite3');
    const ds = openSqliteDatastore({ path: file });
    try {
      await ds.audit.append({ atMs: 1, kind: 'x' });
      for (const f of [file, `${file}-wal`, `${file}-shm`]) {
        expect(existsSync(f), f).toBe(true);
        expect(statSync(f).mode & 0o777, f).toBe(0o600);
      }
    } finally {
      await ds.close();
    }
  });

  it('uses WAL, synchronous=FULL, foreign keys and the busy timeout', () => {
    const db = openSqliteDatabase({ path: join(dir, 'pragmas.sqlite3'), busyTimeoutMs: 1234 });
    try {
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      expect(db.pragma('synchronous', { simple: true })).toBe(2); // FULL
      expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
      expect(db.pragma('busy_timeout', { simple: true })).toBe(1234);
    } finally {
      db.close();
    }
  });

  it('records each migration once, also when reopened and when opened by several processes at once', async () => {
    const file = join(dir, 'migrations.sqlite3');
    await Promise.all(
      Array.from({ length: 4 }, (_, i) =>
        import('node:child_process').then(
          ({ execFile }) =>
            new Promise<void>((resolve, reject) =>
              execFile(
                process.execPath,
                [
                  '--import',
                  tsxUrl,
                  '--input-type=module',
                  '-e',
                  `const m = await import(${JSON.stringify(moduleUrl)});
                   const ds = m.openSqliteDatastore({ path: ${JSON.stringify(file)} });
                   await ds.audit.append({ atMs: ${i}, kind: 'opened' });
                   await ds.close();`,
                ],
                (err) => (err ? reject(err) : resolve()),
              ),
            ),
        ),
      ),
    );
    for (let i = 0; i < 3; i++) await openSqliteDatastore({ path: file }).close();
    const db = new Database(file, { readonly: true });
    const versions = db.prepare('SELECT version FROM schema_migrations ORDER BY version').pluck().all();
    expect(versions).toEqual(MIGRATIONS.map((_, i) => i + 1));
    expect(db.prepare("SELECT count(*) FROM audit_events WHERE kind = 'opened'").pluck().get()).toBe(4);
    db.close();
  });

  it('refuses a database written by a newer binary', async () => {
    const file = join(dir, 'newer.sqlite3');
    await openSqliteDatastore({ path: file }).close();
    const db = new Database(file);
    db.prepare('INSERT INTO schema_migrations (version, applied_at) VALUES (?, 0)').run(MIGRATIONS.length + 1);
    db.close();
    try {
      openSqliteDatastore({ path: file });
      expect.unreachable();
    } catch (err) {
      expect((err as { code: string }).code).toBe('FAILED_PRECONDITION');
    }
  });

  describe('refuses a file that is not a tessera datastore, naming it, and never writes to it', () => {
    const cases: Array<[string, (file: string) => void, RegExp]> = [
      ['an empty (0-byte) file', (f) => writeFileSync(f, ''), /is empty \(0 bytes\)/],
      ['a file that is not sqlite', (f) => writeFileSync(f, 'not a database at all, but long enough to have a header'), /is not an sqlite database/],
      [
        'an sqlite database without our schema',
        (f) => {
          const db = new Database(f);
          db.exec('CREATE TABLE notes (body TEXT)');
          db.close();
        },
        /is an sqlite database without tessera's schema/,
      ],
      [
        'an sqlite header over garbage',
        (f) => writeFileSync(f, Buffer.concat([Buffer.from('SQLite format 3\0', 'latin1'), Buffer.alloc(4096, 0xab)])),
        /cannot be read as an sqlite database/,
      ],
    ];
    it.each(cases)('%s', (_name, make, message) => {
      const file = join(dir, `foreign-${Math.random().toString(36).slice(2)}.sqlite3`);
      make(file);
      const before = readFileSync(file);
      for (const create of [true, false]) {
        try {
          openSqliteDatastore({ path: file, create });
          expect.unreachable();
        } catch (err) {
          expect((err as { code: string }).code).toBe('FAILED_PRECONDITION');
          expect((err as Error).message).toContain(JSON.stringify(file));
          expect((err as Error).message).toMatch(message);
          expect((err as Error).message).toMatch(/restore it from a backup/);
        }
      }
      expect(readFileSync(file).equals(before)).toBe(true);
      expect(existsSync(`${file}-wal`)).toBe(false);
    });
  });

  it('with create: false, refuses a missing file instead of creating one', () => {
    const file = join(dir, 'missing.sqlite3');
    try {
      openSqliteDatastore({ path: file, create: false });
      expect.unreachable();
    } catch (err) {
      expect((err as { code: string }).code).toBe('FAILED_PRECONDITION');
      expect((err as Error).message).toContain('is missing');
    }
    expect(existsSync(file)).toBe(false);
  });

  it('creates a new file complete or not at all: no temporary file is left, and it reopens as a datastore', async () => {
    const sub = mkdtempSync(join(dir, 'fresh-'));
    const file = join(sub, 'datastore.sqlite3');
    await openSqliteDatastore({ path: file }).close();
    expect(readdirSync(sub).filter((n) => n.includes('.init-'))).toEqual([]);
    expect(statSync(file).size).toBeGreaterThan(0);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    await openSqliteDatastore({ path: file, create: false }).close();
  });

  it('never writes a join token to disk, only its hash', async () => {
    const file = join(dir, 'tokens.sqlite3');
    const ds = openSqliteDatastore({ path: file });
    const token = 'tok-4f9c2a7d1e8b4c6a9f0e3d2c1b0a9f8e';
    await ds.joinTokens.create(token, { expiresAt: 2_000_000_000 });
    const onDisk = () =>
      [file, `${file}-wal`].filter(existsSync).map((f) => readFileSync(f).toString('latin1')).join('');
    expect(onDisk()).not.toContain(token);
    await ds.joinTokens.consume(token, 1);
    await ds.close();
    expect(onDisk()).not.toContain(token);
  });

  it('stamps records with the injected clock', async () => {
    const clock = fakeClock(Date.UTC(2030, 0, 1, 0, 0, 0, 900));
    const ds = openSqliteDatastore({ path: join(dir, 'clock.sqlite3'), clock });
    const entry = await ds.entries.create({
      spiffeId: 'spiffe://acme.test/w',
      parentId: 'spiffe://acme.test/p',
      selectors: [{ type: 'unix', value: 'uid:1' }],
      role: 'worker',
      x509SvidTtlSeconds: 0,
      jwtSvidTtlSeconds: 0,
      dnsNames: [],
      federatesWith: [],
      hint: '',
      admin: false,
      expiresAt: null,
    });
    expect(entry.createdAt).toBe(Date.UTC(2030, 0, 1) / 1000);
    clock.advance(5_000);
    expect((await ds.bundles.put('acme.test', '{}', 1)).updatedAt).toBe(Date.UTC(2030, 0, 1) / 1000 + 5);
    await ds.close();
  });

  it('maps a writer that cannot get the lock in time to UNAVAILABLE', async () => {
    const file = join(dir, 'busy.sqlite3');
    const ds = openSqliteDatastore({ path: file, busyTimeoutMs: 50 });
    const blocker = new Database(file);
    blocker.exec('BEGIN IMMEDIATE');
    try {
      await expectCode(ds.audit.append({ atMs: 1, kind: 'x' }), 'UNAVAILABLE');
      await expectCode(ds.joinTokens.consume('t', 1), 'UNAVAILABLE');
    } finally {
      blocker.exec('ROLLBACK');
      blocker.close();
      await ds.close();
    }
  });
});
