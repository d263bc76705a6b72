/**
 * Forced JWT key rotation on a running `tessera server run` (ca.refreshHintSeconds: 1) through the built CLI:
 * `tessera authority prepare|activate --kind jwt`, checked with `tessera authority show`, `tessera bundle show` and
 * the JWKS at /keys on the HTTP listener.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliJson, runCli, startServerProcess, until, type ServerProcess } from '../helpers/server-process.js';

const TD = 'example.org';

interface Authority {
  kind: string;
  keyId: string;
  state: string;
  notAfter: number;
  createdAt: number;
  publishedAtMs?: number;
  activatableAtMs?: number;
}

let dir: string;
let server: ServerProcess;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tessera-authority-it-'));
  server = await startServerProcess(dir, {
    trustDomain: TD,
    dataDir: './data',
    agentApi: { listen: '127.0.0.1:0' },
    http: { listen: '127.0.0.1:0' },
    ca: { refreshHintSeconds: 1 },
  });
}, 60_000);

afterAll(async () => {
  await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const show = () =>
  cliJson<{ refreshHintSeconds: number; authorities: Authority[] }>(server.adminSocket, ['authority', 'show']);
const jwtKeys = (state: string) =>
  show()
    .authorities.filter((a) => a.kind === 'jwt' && a.state === state)
    .map((a) => a.keyId);
interface ShownBundle {
  sequenceNumber: number;
  spiffeBundle: { keys: { kid?: string; use: string }[] };
}
const bundle = () => cliJson<ShownBundle>(server.adminSocket, ['bundle', 'show']);
const bundleKids = () =>
  bundle()
    .spiffeBundle.keys.filter((k) => k.use === 'jwt-svid')
    .map((k) => k.kid)
    .sort();
const jwksKids = async () => {
  const res = await fetch(`http://${server.http}/keys`);
  expect(res.status).toBe(200);
  return ((await res.json()) as { keys: { kid: string }[] }).keys.map((k) => k.kid).sort();
};

describe('tessera authority', () => {
  it('show lists the active X.509 CA and JWT key and the configured refresh hint', () => {
    const r = show();
    expect(r.refreshHintSeconds).toBe(1);
    expect(r.authorities.map((a) => `${a.kind}:${a.state}`)).toEqual(['x509:active', 'jwt:active']);
    const text = runCli(['authority', 'show', '--socket', server.adminSocket]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain('Refresh hint: 1 s');
  });

  it('prepare --kind jwt publishes a new key; activate makes it sign and keeps the old one published', async () => {
    const [oldKid] = jwtKeys('active');
    const before = bundle().sequenceNumber;

    const prepare = ['authority', 'prepare', '--kind', 'jwt'];
    const { prepared } = cliJson<{ prepared: Authority }>(server.adminSocket, prepare);
    expect(prepared).toMatchObject({ kind: 'jwt', state: 'prepared' });
    expect(bundle().sequenceNumber).toBe(before + 1);
    expect(bundleKids()).toEqual([oldKid, prepared.keyId].sort());
    expect(await jwksKids()).toEqual([oldKid, prepared.keyId].sort());

    // A second prepare is refused while one is prepared (exit 1, one line naming the key).
    const again = runCli(['authority', 'prepare', '--kind', 'jwt', '--socket', server.adminSocket]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^tessera: .*already prepared.*\n$/);

    // Activation is refused until the key has been published for one refresh hint (1 s); retry until accepted.
    const activated = await until('activation accepted', () => {
      const r = runCli(['authority', 'activate', '--kind', 'jwt', '--socket', server.adminSocket, '--output', 'json']);
      if (r.code === 0) return JSON.parse(r.stdout) as { activated: Authority; retired: Authority };
      expect(r.stderr).toMatch(/can be activated in \d+ s/);
      return undefined;
    });
    expect(activated.activated).toMatchObject({ keyId: prepared.keyId, state: 'active' });
    expect(activated.retired).toMatchObject({ keyId: oldKid, state: 'retired' });

    expect(jwtKeys('active')).toEqual([prepared.keyId]);
    expect(jwtKeys('retired')).toEqual([oldKid]);
    // The retired key stays in the bundle and the JWKS until it expires; activation itself changes neither.
    expect(bundle().sequenceNumber).toBe(before + 1);
    expect(bundleKids()).toEqual([oldKid, prepared.keyId].sort());
    expect(await jwksKids()).toEqual([oldKid, prepared.keyId].sort());

    const none = runCli(['authority', 'activate', '--kind', 'jwt', '--socket', server.adminSocket]);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/^tessera: no JWT key is prepared/);

    const audit = cliJson<{ events: { kind: string }[] }>(server.adminSocket, ['audit', 'list']);
    expect(audit.events.map((e) => e.kind).filter((k) => k.startsWith('authority.'))).toEqual([
      'authority.prepared',
      'authority.activated',
    ]);
  });

  it('--kind is required and must be jwt or x509 (usage errors, exit 2)', () => {
    for (const args of [['authority', 'prepare'], ['authority', 'activate', '--kind', 'rsa']]) {
      const r = runCli([...args, '--socket', server.adminSocket]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/--kind/);
    }
  });
});
