import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { openSqliteDatabase, openSqliteDatastore } from '../../src/server/datastore/sqlite/index.js';
import { toTesseraError } from '../../src/server/datastore/sqlite/context.js';
import { MIN_FREE_BYTES, serverReadiness } from '../../src/server/readiness.js';
import { expectCode } from './datastore/contract.js';

const dir = mkdtempSync(join(tmpdir(), 'tessera-readiness-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const signingCa = (ok: boolean) => ({ canSign: async () => ok, activeCaNotAfter: () => new Date(0) });

describe('serverReadiness', () => {
  it('is ready when the datastore reads and writes, the disk has room and the CA signs', async () => {
    const ds = openSqliteDatastore({ path: join(dir, 'ok.sqlite3') });
    try {
      const ready = serverReadiness({ datastore: ds, ca: signingCa(true), dataDir: dir });
      expect(await ready()).toEqual({ ok: true });
    } finally {
      await ds.close();
    }
  });

  it('says the disk is full when less than MIN_FREE_BYTES are free, naming the data dir', async () => {
    const ds = openSqliteDatastore({ path: join(dir, 'full.sqlite3') });
    try {
      const ready = serverReadiness({ datastore: ds, ca: signingCa(true), dataDir: dir, freeBytes: async () => MIN_FREE_BYTES - 1 });
      expect(await ready()).toEqual({
        ok: false,
        reason: `datastore disk full: ${MIN_FREE_BYTES - 1} bytes free on the filesystem of ${JSON.stringify(dir)}`,
      });
      const roomy = serverReadiness({ datastore: ds, ca: signingCa(true), dataDir: dir, freeBytes: async () => MIN_FREE_BYTES });
      expect((await roomy()).ok).toBe(true);
    } finally {
      await ds.close();
    }
  });

  it('is not ready when no write can commit (another connection holds the write lock)', async () => {
    const file = join(dir, 'locked.sqlite3');
    const ds = openSqliteDatastore({ path: file, busyTimeoutMs: 20 });
    const blocker = new Database(file);
    blocker.exec('BEGIN IMMEDIATE');
    try {
      const ready = serverReadiness({ datastore: ds, ca: signingCa(true), dataDir: dir });
      expect(await ready()).toEqual({ ok: false, reason: 'datastore cannot write: datastore is busy' });
    } finally {
      blocker.exec('ROLLBACK');
      blocker.close();
      await ds.close();
    }
  });

  it('is not ready when the datastore does not answer, or the CA cannot sign', async () => {
    const ds = openSqliteDatastore({ path: join(dir, 'closed.sqlite3') });
    expect(await serverReadiness({ datastore: ds, ca: signingCa(false), dataDir: dir })()).toEqual({
      ok: false,
      reason: 'the CA test signature failed (see the log)',
    });
    await ds.close();
    expect(await serverReadiness({ datastore: ds, ca: signingCa(true), dataDir: dir })()).toEqual({
      ok: false,
      reason: 'datastore unreachable: datastore is closed',
    });
  });
});

describe('datastore storage failures', () => {
  it('a write that finds the disk full is RESOURCE_EXHAUSTED "datastore write failed: disk full", not an internal error', async () => {
    const db = openSqliteDatabase({ path: join(dir, 'max-pages.sqlite3') });
    try {
      // SQLite's own limit on the file size fails a write exactly as a full disk does (SQLITE_FULL).
      db.pragma(`max_page_count = ${Number(db.pragma('page_count', { simple: true }))}`);
      let caught: unknown;
      try {
        db.prepare('INSERT INTO audit_events (at_ms, kind, serial) VALUES (1, ?, ?)').run('x', 'y'.repeat(100_000));
      } catch (err) {
        caught = err;
      }
      expect((caught as { code: string }).code).toBe('SQLITE_FULL');
      await expectCode(Promise.reject(toTesseraError(caught)), 'RESOURCE_EXHAUSTED');
      expect((toTesseraError(caught) as Error).message).toBe('datastore write failed: disk full');
    } finally {
      db.close();
    }
  });
});
