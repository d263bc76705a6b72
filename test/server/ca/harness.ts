import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../../src/common/log.js';
import {
  openCertificateAuthority,
  type CertificateAuthority,
  type CertificateAuthorityOptions,
} from '../../../src/server/ca/index.js';
import { openSqliteDatastore } from '../../../src/server/datastore/index.js';
import type { Datastore } from '../../../src/server/datastore/index.js';
import { SpiffeId, TrustDomain } from '../../../src/spiffe/id/index.js';
import { fakeClock, type FakeClock } from '../../helpers/fake-clock.js';
import { captureLogger } from '../../helpers/log-capture.js';

export const TD = TrustDomain.parse('tessera.test');
export const HOUR = 3600_000;
export const DAY_SECONDS = 86_400;
export const T0 = Date.UTC(2026, 0, 1);
export const ISSUER = 'https://oidc.tessera.test';

export function workloadId(path = 'workload'): SpiffeId {
  return SpiffeId.fromSegments(TD, path);
}

export function workloadKey(): KeyObject {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
}

export interface Harness {
  readonly dir: string;
  readonly dataDir: string;
  readonly clock: FakeClock;
  readonly ds: Datastore;
  readonly logLines: () => Record<string, unknown>[];
  open(overrides?: Partial<CertificateAuthorityOptions>): Promise<CertificateAuthority>;
  /** Every private key file currently under the data dir's keys/ (name → PEM text). */
  keyFiles(dataDir?: string): Map<string, string>;
  reopenDatastore(): Promise<Datastore>;
  close(): Promise<void>;
}

/** A fresh temp dir, a SQLite datastore on the fake clock, and a log capture. */
export function createHarness(): Harness {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-ca-'));
  const dataDir = join(dir, 'server');
  const dbPath = join(dir, 'datastore.sqlite3');
  const clock = fakeClock(T0);
  const capture = captureLogger();
  const opened: CertificateAuthority[] = [];
  let ds = openSqliteDatastore({ path: dbPath, clock, log: silentLogger() });
  const h: Harness = {
    dir,
    dataDir,
    clock,
    get ds() {
      return ds;
    },
    logLines: capture.lines,
    async open(overrides = {}) {
      const ca = await openCertificateAuthority({
        trustDomain: TD,
        dataDir,
        serverId: 'server-1',
        keys: ds.keys,
        bundles: ds.bundles,
        clock,
        log: capture.log,
        ca: { keyType: 'ec-p256', ttlSeconds: DAY_SECONDS },
        jwt: { keyType: 'ec-p256', keyTtlSeconds: DAY_SECONDS, issuer: ISSUER },
        ...overrides,
      });
      opened.push(ca);
      return ca;
    },
    keyFiles(d = dataDir) {
      const out = new Map<string, string>();
      for (const name of readdirSync(join(d, 'keys'))) out.set(name, readFileSync(join(d, 'keys', name), 'utf8'));
      return out;
    },
    async reopenDatastore() {
      await ds.close();
      ds = openSqliteDatastore({ path: dbPath, clock, log: silentLogger() });
      return ds;
    },
    async close() {
      for (const ca of opened) await ca.stop();
      await ds.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return h;
}
