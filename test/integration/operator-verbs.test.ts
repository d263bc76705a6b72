/**
 * The SPIRE-style operator verbs against the built `tessera server run` and a joined agent (real processes, real CA):
 * x509/jwt mint verify against the server's bundle, and a static federated bundle (`bundle set`, no relationship)
 * reaches a workload of an entry that federates with it, and leaves it again on `bundle delete --mode dissociate`.
 * The admin CLI runs in-process through main(argv, io); the workload is the built CLI in its own process.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SpiffeBundle } from '../../src/spiffe/bundle/index.js';
import { TrustDomain } from '../../src/spiffe/id/index.js';
import { parseAndValidateJwtSvid } from '../../src/spiffe/jwtsvid/index.js';
import { decodePem, encodePem } from '../../src/spiffe/pem.js';
import { createCaCertificate, verifyX509Svid } from '../../src/spiffe/x509svid/index.js';
import { runTessera, type CliRun } from '../helpers/cli-in-process.js';
import {
  runCli,
  startJoinedAgent,
  startServerProcess,
  until,
  type ServerProcess,
  type TesseraProcess,
} from '../helpers/server-process.js';

const TD = 'example.org';
let dir: string;
let server: ServerProcess;
let agent: TesseraProcess;
let agentId: string;
let socket: string;

function tessera(args: string[]): Promise<CliRun> {
  return runTessera(args, { env: { TESSERA_ADMIN_SOCKET: server.adminSocket } });
}

async function json<T = Record<string, any>>(args: string[]): Promise<T> {
  const r = await tessera([...args, '-o', 'json']);
  expect(r.stderr, r.stderr).toBe('');
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as T;
}

async function serverBundle(): Promise<SpiffeBundle> {
  const r = await tessera(['bundle', 'show', '--format', 'spiffe']);
  expect(r.code, r.stderr).toBe(0);
  return SpiffeBundle.parse(TD, r.stdout);
}

/** The trust domains whose bundles the agent's Workload API serves this test's workload (the built CLI). */
function workloadTrustDomains(): string[] {
  const r = runCli(['api', 'fetch', 'bundles', '--socket', socket, '--output', 'json']);
  if (r.code !== 0) return [];
  return (JSON.parse(r.stdout) as { bundles: { trustDomain: string }[] }).bundles.map((b) => b.trustDomain).sort();
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tessera-verbs-it-'));
  server = await startServerProcess(dir, {
    trustDomain: TD,
    dataDir: './data',
    agentApi: { listen: '127.0.0.1:0' },
    http: { listen: '127.0.0.1:0' },
  });
  ({ agent, agentId, socket } = await startJoinedAgent(dir, server, TD));
}, 60_000);

afterAll(async () => {
  await agent?.stop();
  await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('operator verbs on a running server', () => {
  it('x509 mint and jwt mint are signed by the server CA and its JWT key', async () => {
    const bundle = await serverBundle();
    const x = await json(['x509', 'mint', '--spiffe-id', `spiffe://${TD}/ops/debug`, '--ttl', '120']);
    const verified = verifyX509Svid(decodePem(x['svidPem']).map((b) => b.der), bundle, { now: new Date() });
    expect(verified.spiffeId.toString()).toBe(`spiffe://${TD}/ops/debug`);
    const j = await json(['jwt', 'mint', '--spiffe-id', `spiffe://${TD}/ops/debug`, '--audience', 'ops']);
    const svid = await parseAndValidateJwtSvid(j['token'], bundle, ['ops'], { now: new Date() });
    expect(svid.spiffeId.toString()).toBe(`spiffe://${TD}/ops/debug`);
    const audit = await json(['audit', 'list']);
    const kinds = (audit['events'] as { kind: string }[]).map((e) => e.kind);
    expect(kinds).toEqual(expect.arrayContaining(['x509_svid.minted', 'jwt_svid.minted']));
  });

  it('agent count and purge --dry-run see the joined agent, whose SVID has not expired', async () => {
    expect(await json(['agent', 'count'])).toEqual({ count: 1 });
    const purge = await json(['agent', 'purge', '--expired-for', '1s', '--dry-run']);
    expect(purge['agents']).toEqual([]);
  });

  it('a static federated bundle reaches a federating workload, and leaves with bundle delete --mode dissociate', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const der = await createCaCertificate({
      trustDomain: TrustDomain.parse('static.test'),
      publicKey,
      signer: { key: privateKey },
      now: new Date(),
      ttlSeconds: 3600,
    });
    const pem = join(dir, 'static.pem');
    writeFileSync(pem, encodePem('CERTIFICATE', der));
    expect((await json(['bundle', 'set', '--trust-domain', 'static.test', '--bundle', pem]))['source']).toBe('static');
    const created = await tessera([
      'entry', 'create', '--parent-id', agentId, '--spiffe-id', `spiffe://${TD}/workload`,
      '--selector', `unix:uid:${process.getuid!()}`, '--federates-with', 'static.test',
    ]);
    expect(created.code, created.stderr).toBe(0);
    expect(await json(['entry', 'count', '--federates-with', 'static.test'])).toEqual({ count: 1 });
    await until('the static bundle at the workload', () => {
      const tds = workloadTrustDomains();
      return tds.includes('static.test') ? tds : undefined;
    });

    const deleted = await json(['bundle', 'delete', '--trust-domain', 'static.test', '--mode', 'dissociate']);
    expect(deleted['entryIds']).toHaveLength(1);
    await until('the static bundle gone from the workload', () => {
      const tds = workloadTrustDomains();
      return tds.length > 0 && !tds.includes('static.test') ? tds : undefined;
    });
    expect(workloadTrustDomains()).toEqual([TD]);
  });
});
