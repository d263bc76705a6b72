import { createPrivateKey } from 'node:crypto';
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CertificateAuthority } from '../../../src/server/ca/index.js';
import type { KeyRecord } from '../../../src/server/datastore/index.js';
import { parseAndValidateJwtSvid } from '../../../src/spiffe/jwtsvid/index.js';
import { verifyX509Svid } from '../../../src/spiffe/x509svid/index.js';
import { createHarness, HOUR, T0, TD, workloadId, workloadKey, type Harness } from './harness.js';

let h: Harness;
beforeEach(() => {
  h = createHarness();
});
afterEach(() => h.close());

const kidOf = (token: string) =>
  (JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()) as { kid: string }).kid;
const issuerOf = (ca: CertificateAuthority) =>
  Buffer.from(
    verifyX509Svid(
      ca.signX509Svid({ spiffeId: workloadId(), publicKey: workloadKey(), ttlSeconds: 60 }).chain,
      ca.currentBundle(),
      { now: h.clock.now() },
    ).chain.at(-1)!,
  ).toString('hex');
const activeRecord = async (kind: KeyRecord['kind']) => (await h.ds.keys.list({ kind, state: 'active' }))[0]!;

describe('key files', () => {
  it('are PKCS#8 PEM files of mode 0600 in a 0700 keys/ directory, one per key, named by the records', async () => {
    await h.open();
    expect(statSync(join(h.dataDir, 'keys')).mode & 0o777).toBe(0o700);
    const files = h.keyFiles();
    expect(files.size).toBe(2);
    for (const [name, pem] of files) {
      expect(statSync(join(h.dataDir, 'keys', name)).mode & 0o777).toBe(0o600);
      expect(pem.startsWith('-----BEGIN PRIVATE KEY-----\n')).toBe(true);
      expect(createPrivateKey(pem).type).toBe('private');
    }
    const records = await h.ds.keys.list();
    expect(records.map((r) => r.privateKeyFile).sort()).toEqual([...files.keys()].map((n) => `keys/${n}`).sort());
    for (const r of records) expect(Buffer.from(r.publicMaterial).toString()).not.toContain('PRIVATE');
  });

  it('never reach a log line', async () => {
    const ca = await h.open();
    const secrets: string[] = [];
    const collect = () => {
      for (const pem of h.keyFiles().values()) {
        const key = createPrivateKey(pem);
        secrets.push(pem.split('\n').slice(1, -2).join(''));
        secrets.push(...pem.split('\n').slice(1, -2).filter((l) => l.length >= 32));
        const d = key.export({ format: 'jwk' }).d;
        if (d) secrets.push(d);
      }
    };
    collect();
    for (const hours of [12, 20, 24, 25, 36, 44, 48, 49]) {
      h.clock.set(T0 + hours * HOUR);
      await ca.tick();
      collect();
    }
    secrets.push(
      ca.currentServerSvid().privateKey.export({ type: 'pkcs8', format: 'der' }).toString('base64'),
      ca.currentServerSvid().privateKey.export({ format: 'jwk' }).d!,
    );
    const lines = h.logLines();
    expect(lines.length).toBeGreaterThan(5);
    const text = lines.map((l) => JSON.stringify(l)).join('\n');
    expect(text).not.toContain('PRIVATE KEY');
    for (const s of secrets) expect(text).not.toContain(s);
  });
});

describe('restart', () => {
  it('loads the same keys and serves the same bundle with the same sequence', async () => {
    const first = await h.open();
    h.clock.advance(13 * HOUR);
    await first.tick(); // a prepared generation exists too
    const doc = first.currentBundle().marshal();
    const kid = kidOf((await first.signJwtSvid({ spiffeId: workloadId(), audience: ['a'], ttlSeconds: 60 })).token);
    const root = issuerOf(first);
    const records = await h.ds.keys.list();
    await first.stop();

    await h.reopenDatastore();
    h.clock.advance(HOUR);
    const second = await h.open();
    expect(second.currentBundle().marshal()).toBe(doc);
    expect(second.currentBundle().sequenceNumber).toBe(2n);
    expect((await h.ds.bundles.get(TD.name))?.sequence).toBe(2);
    expect(kidOf((await second.signJwtSvid({ spiffeId: workloadId(), audience: ['a'], ttlSeconds: 60 })).token)).toBe(kid);
    expect(issuerOf(second)).toBe(root);
    expect((await h.ds.keys.list()).map((r) => [r.id, r.state])).toEqual(records.map((r) => [r.id, r.state]));

    // And the prepared keys loaded from disk activate on schedule.
    h.clock.set(T0 + 20 * HOUR);
    await second.tick();
    expect(kidOf((await second.signJwtSvid({ spiffeId: workloadId(), audience: ['a'], ttlSeconds: 60 })).token)).not.toBe(kid);
    expect(issuerOf(second)).not.toBe(root);
  });

  it.each([
    ['missing', (file: string) => rmSync(file)],
    ['corrupt', (file: string) => writeFileSync(file, '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n')],
    ['not PEM', (file: string) => writeFileSync(file, 'garbage')],
  ])('fails with FAILED_PRECONDITION naming a %s active key file', async (_what, damage) => {
    const ca = await h.open();
    await ca.stop();
    for (const kind of ['x509_ca', 'jwt'] as const) {
      const record = await activeRecord(kind);
      const file = join(h.dataDir, record.privateKeyFile);
      const saved = readFileSync(file);
      damage(file);
      const err = await h.open().then(
        () => undefined,
        (e: unknown) => e as Error & { code?: string },
      );
      expect(err?.code).toBe('FAILED_PRECONDITION');
      expect(err?.message).toContain(record.privateKeyFile.split('/')[1]);
      expect(err?.message).not.toContain('AAAA');
      writeFileSync(file, saved);
    }
    await h.open(); // restored: opens again
  });

  it('fails with FAILED_PRECONDITION when a key file holds another key', async () => {
    await h.open();
    const x509 = await activeRecord('x509_ca');
    const jwt = await activeRecord('jwt');
    writeFileSync(join(h.dataDir, jwt.privateKeyFile), readFileSync(join(h.dataDir, x509.privateKeyFile)));
    await expect(h.open()).rejects.toMatchObject({
      code: 'FAILED_PRECONDITION',
      message: expect.stringContaining(jwt.privateKeyFile),
    });
  });
});

describe('servers sharing a datastore', () => {
  it('each keeps its own keys and publishes the others\' public keys', async () => {
    const a = await h.open();
    const b = await h.open({ serverId: 'server-2', dataDir: join(h.dir, 'server-2') });
    expect(b.currentBundle().sequenceNumber).toBe(2n);
    expect(b.currentBundle().x509Bundle.x509Authorities).toHaveLength(2);
    expect(b.currentBundle().jwtBundle.jwtAuthorities.size).toBe(2);
    const seen: bigint[] = [];
    a.onBundleChange((bundle) => seen.push(bundle.sequenceNumber!));
    await a.tick();
    expect(seen).toEqual([2n]);
    expect(a.currentBundle().equals(b.currentBundle())).toBe(true);
    // What B signs, A's bundle accepts, and the other way round.
    const now = h.clock.now();
    verifyX509Svid(
      b.signX509Svid({ spiffeId: workloadId(), publicKey: workloadKey(), ttlSeconds: 60 }).chain,
      a.currentBundle(),
      { now },
    );
    const token = (await a.signJwtSvid({ spiffeId: workloadId(), audience: ['x'], ttlSeconds: 60 })).token;
    await parseAndValidateJwtSvid(token, b.currentBundle(), ['x'], { now });
    expect((await h.ds.keys.list({ serverId: 'server-2' })).length).toBe(2);
    expect(h.keyFiles(join(h.dir, 'server-2')).size).toBe(2);
  });
});
