/**
 * Federation between two real Tessera deployments: servers for a.test and b.test, one agent each, all child processes
 * on loopback TCP and Unix sockets. a.test fetches b.test's bundle over https_web (a web certificate of a test CA that
 * a.test trusts through NODE_EXTRA_CA_CERTS); b.test fetches a.test's over https_spiffe (a.test's server X509-SVID,
 * bootstrapped with `--trust-bundle`). Workloads check each other's X509-SVIDs and JWT-SVIDs with go-spiffe through
 * their own agent's Workload API; relying parties validate b.test's JWT-SVIDs through OIDC discovery with jose and
 * PyJWT while b.test's JWT key is rotated by the operator; a peer endpoint that goes down, serves a malformed document
 * or a bundle of the wrong trust domain changes nothing.
 */
import 'reflect-metadata';
import { execFile, spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as https from 'node:https';
import { createServer as createNetServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVerifier } from '../../examples/broker/verify.js';
import { SpiffeBundle } from '../../src/spiffe/bundle/index.js';
import { findGo } from '../helpers/go.js';
import {
  CLI,
  cliJson,
  runCli,
  startJoinedAgent,
  startServerProcess,
  until,
  type CliResult,
  type ServerProcess,
  type TesseraProcess,
} from '../helpers/server-process.js';
import { newRootCa, webCertificates } from '../helpers/test-ca.js';

const A = 'a.test';
const B = 'b.test';
const C = 'c.test';
const AUDIENCE = `spiffe://${B}/relying-party`;
const INTEROP_DIR = fileURLToPath(new URL('../interop/', import.meta.url));
const VENV_PYTHON = fileURLToPath(new URL('../../.tessera/pyjwt-venv/bin/python', import.meta.url));
const PYTHON = process.env['TESSERA_PYTHON'] ?? (existsSync(VENV_PYTHON) ? VENV_PYTHON : 'python3');
const PYJWT_SCRIPT = fileURLToPath(new URL('../interop/validate_jwt.py', import.meta.url));

interface Side {
  server: ServerProcess;
  agent: TesseraProcess;
  agentId: string;
  socket: string;
  workloadId: string;
  /** Set by addWorkload. */
  entryId?: string;
}

interface RelationshipJson {
  trustDomain: string;
  profile: string;
  status?: { bundleSequence?: string; lastSuccessAtMs?: number; lastError?: string; nextRefreshAtMs?: number };
}

let dir: string;
let a: Side;
let b: Side;
let issuerB: string;
/** A bundle endpoint under the test's control (https_web, same test CA), standing in for c.test. */
let fakePeer: https.Server;
let fakeBody = '';
let fakeUrl: string;

async function freePort(): Promise<number> {
  const srv = createNetServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

function cli(server: ServerProcess, args: readonly string[]): CliResult {
  return runCli([...args, '--socket', server.adminSocket]);
}

/**
 * The CLI without blocking this process: needed whenever the server under test must reach the fake peer served from
 * this process (a synchronous spawn would stall it until the fetch times out).
 */
function cliAsync(server: ServerProcess, args: readonly string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args, '--socket', server.adminSocket], { timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

function relationship(server: ServerProcess, td: string): RelationshipJson {
  const out = cliJson<RelationshipJson | { relationship: RelationshipJson }>(server.adminSocket, [
    'federation',
    'show',
    '--trust-domain',
    td,
  ]);
  return 'relationship' in out ? out.relationship : out;
}

interface WorkloadBundles {
  bundles: { trustDomain: string; x509Pem: string; jwtKeyIds: string[] }[];
}

/** What the Workload API of `side`'s agent serves this process (FetchX509Bundles + FetchJWTBundles). */
function workloadBundles(side: Side): Map<string, { x509Pem: string; jwtKeyIds: string[] }> {
  const r = runCli(['api', 'fetch', 'bundles', '--socket', side.socket, '--output', 'json']);
  expect(r.code, r.stderr).toBe(0);
  return new Map((JSON.parse(r.stdout) as WorkloadBundles).bundles.map((x) => [x.trustDomain, x]));
}

function serverBundle(server: ServerProcess): SpiffeBundle {
  const r = cli(server, ['bundle', 'show', '--format', 'spiffe']);
  expect(r.code, r.stderr).toBe(0);
  return SpiffeBundle.parse(String(server.ready['trustDomain'] ?? ''), r.stdout);
}

function fetchJwt(side: Side): { token: string; kid: string } {
  const r = runCli(['api', 'fetch', 'jwt', '--audience', AUDIENCE, '--socket', side.socket, '--output', 'json']);
  expect(r.code, r.stderr).toBe(0);
  const svid = (JSON.parse(r.stdout) as { svids: { token: string; header: { kid: string } }[] }).svids[0]!;
  return { token: svid.token, kid: svid.header.kid };
}

/** ValidateJWTSVID on `side`'s agent. */
function validateAt(side: Side, token: string): CliResult {
  return runCli(['api', 'validate', 'jwt', '--audience', AUDIENCE, '--token', token, '--socket', side.socket]);
}

function pyjwt(token: string): CliResult {
  const r = spawnSync(PYTHON, [PYJWT_SCRIPT, issuerB, AUDIENCE], { input: token, encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr + (r.error ? String(r.error) : '') };
}

let interopBinary: Promise<string> | undefined;

/**
 * test/interop's Go tests compiled once (`go test -c`, on the first go-spiffe check, before it fetches any SVID), so an
 * SVID fetched for a check is checked at once: compiling between the fetch and the check outlived short SVIDs on a
 * loaded machine.
 */
function interopTestBinary(): Promise<string> {
  interopBinary ??= new Promise((resolve, reject) => {
    const go = findGo();
    if (go === undefined) return reject(new Error('no `go` on PATH nor in /usr/local/go/bin; install Go ≥ 1.24'));
    const out = join(dir, 'interop.test');
    execFile(
      go,
      ['test', '-c', '-o', out, '.'],
      {
        cwd: INTEROP_DIR,
        env: { ...process.env, PATH: `${dirname(go)}${delimiter}${process.env['PATH'] ?? ''}` },
        timeout: 10 * 60_000,
        maxBuffer: 16 * 1024 * 1024,
      },
      (err, stdout, stderr) => (err ? reject(new Error(`go test -c in test/interop failed: ${stdout}${stderr}`)) : resolve(out)),
    );
  });
  return interopBinary;
}

async function goTest(name: string, env: Record<string, string>): Promise<{ status: number | null; output: string }> {
  const bin = await interopTestBinary();
  const run = spawnSync(bin, ['-test.count=1', '-test.v', '-test.run', `^${name}$`], {
    cwd: INTEROP_DIR,
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 10 * 60_000,
  });
  return { status: run.status, output: run.stdout + run.stderr + (run.error ? String(run.error) : '') };
}

/** Writes `from`'s X509-SVID and a JWT-SVID to files and runs TestFederatedWorkload as a workload of `to`. */
async function goFederatedWorkload(to: Side, toTd: string, from: Side, fromTd: string, tag: string) {
  await interopTestBinary(); // compiled before the SVIDs are fetched
  const out = join(dir, `svid-${tag}`);
  const r = runCli(['api', 'fetch', 'x509', '--write', out, '--socket', from.socket]);
  expect(r.code, r.stderr).toBe(0);
  const jwt = runCli(['api', 'fetch', 'jwt', '--audience', AUDIENCE, '--socket', from.socket, '--output', 'json']);
  expect(jwt.code, jwt.stderr).toBe(0);
  writeFileSync(join(out, 'jwt'), (JSON.parse(jwt.stdout) as { svids: { token: string }[] }).svids[0]!.token);
  return goTest('TestFederatedWorkload', {
    TESSERA_FED_SOCKET: to.socket,
    TESSERA_FED_OWN_TD: toTd,
    TESSERA_FED_PEER_TD: fromTd,
    TESSERA_FED_PEER_SVID: join(out, 'svid.pem'),
    TESSERA_FED_PEER_ID: from.workloadId,
    TESSERA_FED_PEER_JWT: join(out, 'jwt'),
    TESSERA_FED_AUDIENCE: AUDIENCE,
  });
}

async function startSide(
  td: string,
  config: Record<string, unknown>,
  env: NodeJS.ProcessEnv = {},
): Promise<Side> {
  const base = join(dir, td);
  mkdirSync(join(base, 'agent-home'), { recursive: true });
  const server = await startServerProcess(
    base,
    {
      trustDomain: td,
      dataDir: './data',
      agentApi: { listen: '127.0.0.1:0' },
      http: { listen: '127.0.0.1:0' },
      federation: { minRefreshSeconds: 1 },
      ...config,
    },
    { env },
  );
  const { agent, agentId, socket } = await startJoinedAgent(join(base, 'agent-home'), server, td);
  return { server, agent, agentId, socket, workloadId: `spiffe://${td}/workload` };
}

/**
 * The side's workload entry (this test process's uid), federating with `federatesWith` (trust domains the side has a
 * relationship with: the server refuses unknown ones), and waits for its X509-SVID.
 */
async function addWorkload(side: Side, federatesWith: readonly string[]): Promise<void> {
  const { server, agentId, socket, workloadId } = side;
  const args = ['entry', 'create', '--spiffe-id', workloadId, '--parent-id', agentId, '--selector', `unix:uid:${userInfo().uid}`];
  // Short SVIDs so the agent replaces them quickly after a key rotation (at about half their life, so one fetched
  // from the agent has at least 10 s left for go-spiffe to check it).
  args.push('--jwt-ttl', '20', '--x509-ttl', '20');
  for (const f of federatesWith) args.push('--federates-with', f);
  side.entryId = cliJson<{ results: { entry: { id: string } }[] }>(server.adminSocket, args).results[0]!.entry.id;
  await until(`an X509-SVID for ${workloadId}`, () => {
    const r = runCli(['api', 'fetch', 'x509', '--socket', socket, '--output', 'json']);
    return r.code === 0 ? true : undefined;
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tessera-federation-it-'));
  mkdirSync(join(dir, B), { recursive: true });

  // The web PKI of b.test's bundle endpoint (and of the fake c.test endpoint).
  const { ca: webCa, chainPem: webChainPem, keyPem: webKeyPem } = await webCertificates();
  writeFileSync(join(dir, 'web-ca.pem'), webCa.pem);
  writeFileSync(join(dir, B, 'web.crt'), webChainPem);
  writeFileSync(join(dir, B, 'web.key'), webKeyPem, { mode: 0o600 });

  fakePeer = https.createServer({ cert: webChainPem, key: webKeyPem }, (_req, res) => {
    res.setHeader('Content-Type', 'application/json');
    res.end(fakeBody);
  });
  await new Promise<void>((resolve) => fakePeer.listen(0, '127.0.0.1', resolve));
  fakeUrl = `https://127.0.0.1:${(fakePeer.address() as { port: number }).port}/`;

  const httpPortB = await freePort();
  issuerB = `http://127.0.0.1:${httpPortB}`;
  [a, b] = await Promise.all([
    startSide(A, { bundleEndpoint: { listen: '127.0.0.1:0', profile: 'https_spiffe' } }, {
      NODE_EXTRA_CA_CERTS: join(dir, 'web-ca.pem'),
    }),
    startSide(
      B,
      {
        http: { listen: `127.0.0.1:${httpPortB}` },
        jwt: { issuer: issuerB },
        // A short refresh hint: peers poll every 2 s, and a prepared key may be activated 2 s after publication.
        ca: { refreshHintSeconds: 2 },
        bundleEndpoint: { listen: '127.0.0.1:0', profile: 'https_web', certFile: './web.crt', keyFile: './web.key' },
      },
    ),
  ]);

  // a.test → b.test over https_web; b.test → a.test over https_spiffe, bootstrapped with a.test's bundle.
  let r = cli(a.server, [
    'federation',
    'create',
    '--trust-domain',
    B,
    '--bundle-endpoint-url',
    `https://${b.server.bundleEndpoint}/`,
    '--profile',
    'https_web',
  ]);
  expect(r.code, r.stderr).toBe(0);
  writeFileSync(join(dir, 'a-bundle.json'), cli(a.server, ['bundle', 'show', '--format', 'spiffe']).stdout);
  r = cli(b.server, [
    'federation',
    'create',
    '--trust-domain',
    A,
    '--bundle-endpoint-url',
    `https://${a.server.bundleEndpoint}/`,
    '--profile',
    'https_spiffe',
    '--endpoint-spiffe-id',
    `spiffe://${A}/tessera/server`,
    '--trust-bundle',
    join(dir, 'a-bundle.json'),
  ]);
  expect(r.code, r.stderr).toBe(0);
  // Entries only after the relationships: an entry may federate only with a trust domain its server knows.
  await Promise.all([addWorkload(a, [B]), addWorkload(b, [A])]);
}, 300_000); // two servers, two agents and their CLI calls: a bound for a loaded machine, not a speed claim

afterAll(async () => {
  await Promise.all([a?.agent.stop(), b?.agent.stop()]);
  await Promise.all([a?.server.stop(), b?.server.stop()]);
  await new Promise<void>((resolve) => (fakePeer ? fakePeer.close(() => resolve()) : resolve()));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('federation between two Tessera trust domains', () => {
  it('each server fetches and stores the other trust domain bundle, exactly as the peer serves it', async () => {
    const relA = await until('a.test to fetch b.test', () => {
      const rel = relationship(a.server, B);
      return rel.status?.lastSuccessAtMs ? rel : undefined;
    });
    expect(relA.profile).toBe('https_web');
    const relB = await until('b.test to fetch a.test', () => {
      const rel = relationship(b.server, A);
      return rel.status?.lastSuccessAtMs ? rel : undefined;
    });
    expect(relB.profile).toBe('https_spiffe');
    expect(relA.status?.lastError).toBeUndefined();

    // The federated bundle each agent serves is the peer's own bundle (authorities and JWT keys), never merged.
    await until('a.test workloads to receive b.test authorities', () => {
      const bundles = workloadBundles(a);
      const peer = serverBundle(b.server);
      const got = bundles.get(B);
      return got && got.x509Pem === peer.x509Bundle.toPem() ? true : undefined;
    });
    const fromA = workloadBundles(a);
    expect(fromA.get(A)!.x509Pem).toBe(serverBundle(a.server).x509Bundle.toPem());
    expect(fromA.get(A)!.x509Pem).not.toBe(fromA.get(B)!.x509Pem);
    expect(fromA.get(B)!.jwtKeyIds.sort()).toEqual([...serverBundle(b.server).jwtBundle.jwtAuthorities.keys()].sort());
    await until('b.test workloads to receive a.test authorities', () => {
      const got = workloadBundles(b).get(A);
      return got && got.x509Pem === serverBundle(a.server).x509Bundle.toPem() ? true : undefined;
    });
    // Listed with both relationships' trust domains.
    const list = cliJson<{ relationships: RelationshipJson[] }>(a.server.adminSocket, ['federation', 'list']);
    expect(list.relationships.map((x) => x.trustDomain)).toContain(B);
  }, 60_000);

  it('FetchX509SVID --write holds the federated bundle next to our own', () => {
    const out = join(dir, 'fetch-a');
    const r = runCli(['api', 'fetch', 'x509', '--write', out, '--socket', a.socket]);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(out, `federated-${B}.pem`), 'utf8')).toBe(serverBundle(b.server).x509Bundle.toPem());
  });

  it('go-spiffe: an a.test workload validates b.test X509-SVIDs and JWT-SVIDs with the federated bundle', async () => {
    const run = await goFederatedWorkload(a, A, b, B, 'b-to-a');
    expect(run.status, run.output).toBe(0);
    expect(run.output).toContain('--- PASS: TestFederatedWorkload');
  }, 10 * 60_000);

  it('go-spiffe: a b.test workload validates a.test X509-SVIDs and JWT-SVIDs (the https_spiffe direction)', async () => {
    const run = await goFederatedWorkload(b, B, a, A, 'a-to-b');
    expect(run.status, run.output).toBe(0);
    expect(run.output).toContain('--- PASS: TestFederatedWorkload');
  }, 10 * 60_000);

  it('go-spiffe federation.FetchBundle accepts both bundle endpoints', async () => {
    writeFileSync(join(dir, 'a-trust.pem'), serverBundle(a.server).x509Bundle.toPem());
    writeFileSync(join(dir, 'a-expected.json'), cli(a.server, ['bundle', 'show', '--format', 'spiffe']).stdout);
    const spiffe = await goTest('TestFederationFetchBundle', {
      TESSERA_BUNDLE_URL: `https://${a.server.bundleEndpoint}/`,
      TESSERA_BUNDLE_TD: A,
      TESSERA_BUNDLE_PROFILE: 'https_spiffe',
      TESSERA_BUNDLE_PEM: join(dir, 'a-trust.pem'),
      TESSERA_ENDPOINT_ID: `spiffe://${A}/tessera/server`,
      TESSERA_EXPECTED_BUNDLE: join(dir, 'a-expected.json'),
      TESSERA_FEDERATION_EXPECT: 'ok',
    });
    expect(spiffe.status, spiffe.output).toBe(0);
    writeFileSync(join(dir, 'b-expected.json'), cli(b.server, ['bundle', 'show', '--format', 'spiffe']).stdout);
    const web = await goTest('TestFederationFetchBundle', {
      TESSERA_BUNDLE_URL: `https://${b.server.bundleEndpoint}/`,
      TESSERA_BUNDLE_TD: B,
      TESSERA_BUNDLE_PROFILE: 'https_web',
      TESSERA_BUNDLE_PEM: join(dir, 'web-ca.pem'),
      TESSERA_EXPECTED_BUNDLE: join(dir, 'b-expected.json'),
      TESSERA_FEDERATION_EXPECT: 'ok',
    });
    expect(web.status, web.output).toBe(0);
  }, 10 * 60_000);

  it('an operator-forced JWT key rotation in b.test rejects no valid token: a.test agent, jose and PyJWT', async () => {
    // The broker refreshes b.test's JWKS at the max-age b.test sends (half its 2 s refresh hint).
    const broker = createVerifier({ issuer: issuerB, audience: AUDIENCE, spiffeIdPrefix: `spiffe://${B}/`, jwksMaxAgeSeconds: 1 });
    const rejected: string[] = [];
    const kids = new Set<string>();
    let checked = 0;
    const pyTokens = new Map<string, string>();
    const check = async () => {
      const { token, kid } = fetchJwt(b);
      kids.add(kid);
      if (!pyTokens.has(kid)) pyTokens.set(kid, token);
      const atA = validateAt(a, token);
      if (atA.code !== 0) rejected.push(`a.test agent refused kid ${kid}: ${atA.stderr.trim()}`);
      await broker(token).catch((err: unknown) => rejected.push(`jose refused kid ${kid}: ${(err as Error).message}`));
      checked++;
      return kid;
    };

    const before = await check();
    const prepared = cli(b.server, ['authority', 'prepare', '--kind', 'jwt']);
    expect(prepared.code, prepared.stderr).toBe(0);
    const next = await until('a prepared JWT key in b.test bundle', () =>
      [...serverBundle(b.server).jwtBundle.jwtAuthorities.keys()].find((k) => k !== before),
    );
    // a.test learns the new key by polling at b.test's refresh hint (no manual refresh), and pushes it to its agent.
    await until('a.test workloads to hold the prepared b.test key', async () => {
      await check();
      return workloadBundles(a).get(B)?.jwtKeyIds.includes(next) ? true : undefined;
    });
    // Activation is refused until the key has been published for a refresh hint; keep validating meanwhile.
    await until('b.test to activate the prepared key', async () => {
      await check();
      return cli(b.server, ['authority', 'activate', '--kind', 'jwt']).code === 0 ? true : undefined;
    });
    // Tokens signed with the new key arrive once the agent's cached token is replaced (20 s JWT-SVIDs).
    await until('a token signed with the new key', async () => ((await check()) === next ? true : undefined), 40_000);
    await check();

    expect(rejected).toEqual([]);
    expect(kids).toEqual(new Set([before, next]));
    expect(checked).toBeGreaterThan(3);
    // PyJWT, through OIDC discovery, accepts a token of each key.
    for (const [kid, token] of pyTokens) {
      const r = pyjwt(token);
      expect(r.code, `PyJWT refused kid ${kid}: ${r.stderr}`).toBe(0);
    }
  }, 300_000); // a bound for a loaded machine (120 s ran out at load average ~20), not a speed claim

  it('an operator-forced X.509 CA rotation in b.test: a.test workloads accept b.test SVIDs of the new CA', async () => {
    const [oldRoot] = serverBundle(b.server).x509Bundle.x509Authorities;
    expect(oldRoot).toBeDefined();
    const prepared = cli(b.server, ['authority', 'prepare', '--kind', 'x509']);
    expect(prepared.code, prepared.stderr).toBe(0);
    const newRoot = await until('a prepared X.509 CA in b.test bundle', () =>
      serverBundle(b.server).x509Bundle.x509Authorities.find((r) => Buffer.compare(Buffer.from(r), Buffer.from(oldRoot!)) !== 0),
    );
    await until('a.test workloads to hold both b.test CAs', () =>
      workloadBundles(a).get(B)?.x509Pem === serverBundle(b.server).x509Bundle.toPem() ? true : undefined,
    );
    await until('b.test to activate the prepared CA', () =>
      cli(b.server, ['authority', 'activate', '--kind', 'x509']).code === 0 ? true : undefined,
    );
    // b.test's workload SVID is replaced at about half its 20 s TTL; wait for one issued by the new CA.
    const root = new X509Certificate(newRoot);
    await until(
      'a b.test X509-SVID issued by the new CA',
      () => {
        const r = runCli(['api', 'fetch', 'x509', '--socket', b.socket, '--output', 'json']);
        if (r.code !== 0) return undefined;
        const pem = (JSON.parse(r.stdout) as { svids: { certificatesPem: string }[] }).svids[0]!.certificatesPem;
        const leaf = new X509Certificate(pem.slice(0, pem.indexOf('-----END CERTIFICATE-----') + 25));
        return leaf.checkIssued(root) && leaf.verify(root.publicKey) ? true : undefined;
      },
      40_000,
    );
    const run = await goFederatedWorkload(a, A, b, B, 'b-to-a-rotated');
    expect(run.status, run.output).toBe(0);
    expect(run.output).toContain('--- PASS: TestFederatedWorkload');
  }, 10 * 60_000);

  it('refuses a malformed document and a bundle of the wrong trust domain, changing nothing', async () => {
    const root = await newRootCa(C);
    const good = SpiffeBundle.fromParts({
      trustDomain: C,
      x509Authorities: [root.der],
      sequenceNumber: 7n,
      refreshHintSeconds: 1,
    }).marshal();
    fakeBody = good;
    const created = cli(a.server, [
      'federation',
      'create',
      '--trust-domain',
      C,
      '--bundle-endpoint-url',
      fakeUrl,
      '--profile',
      'https_web',
    ]);
    expect(created.code, created.stderr).toBe(0);
    const updated = await cliAsync(a.server, ['entry', 'update', '--id', a.entryId!, '--federates-with', B, '--federates-with', C]);
    expect(updated.code, updated.stderr).toBe(0);
    await until('a.test workloads to receive the c.test bundle', () =>
      workloadBundles(a).get(C)?.x509Pem === root.pem ? true : undefined,
    );
    const stored = relationship(a.server, C).status?.bundleSequence;
    expect(stored).toBe('7');

    for (const [what, body, pattern] of [
      ['malformed JSON', '{"keys": [', /refused/],
      ['a bundle whose authority belongs to b.test', cli(b.server, ['bundle', 'show', '--format', 'spiffe']).stdout, /b\.test/],
      ['a rollback to a lower spiffe_sequence', SpiffeBundle.fromParts({ trustDomain: C, x509Authorities: [root.der], sequenceNumber: 3n }).marshal(), /rollback/],
    ] as const) {
      fakeBody = body;
      const r = await cliAsync(a.server, ['federation', 'refresh', '--trust-domain', C]);
      expect(r.code, `${what}: ${r.stdout}`).not.toBe(0);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr, what).toMatch(pattern);
      const rel = relationship(a.server, C);
      expect(rel.status?.bundleSequence, what).toBe('7');
      expect(rel.status?.lastError, what).toBeDefined();
      expect(workloadBundles(a).get(C)?.x509Pem, what).toBe(root.pem);
    }
    // The good document again: accepted, the error clears.
    fakeBody = good;
    const ok = await cliAsync(a.server, ['federation', 'refresh', '--trust-domain', C]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(relationship(a.server, C).status?.lastError).toBeUndefined();
  }, 180_000); // a dozen CLI processes: 60 s ran out at load average ~25

  it('keeps the last good bundle when the peer endpoint goes down', async () => {
    const held = workloadBundles(a).get(B)!;
    const sequence = relationship(a.server, B).status?.bundleSequence;
    expect(sequence).toBeDefined();
    await b.agent.stop();
    await b.server.stop();

    const failed = cli(a.server, ['federation', 'refresh', '--trust-domain', B]);
    expect(failed.code).not.toBe(0);
    expect(failed.stderr).toMatch(/cannot fetch|ECONNREFUSED/);
    // The scheduled fetches fail too (polling at the floor while down), and nothing changes: wait for two of them.
    const scheduledFailures = () =>
      a.server.logs.filter(
        (l) => l['msg'] === 'Federated bundle fetch failed; keeping the last good bundle' && l['trustDomain'] === B && l['manual'] === false,
      ).length;
    const before = scheduledFailures();
    await until('two scheduled fetches to fail', () => (scheduledFailures() >= before + 2 ? true : undefined));
    const rel = relationship(a.server, B);
    expect(rel.status?.bundleSequence).toBe(sequence);
    expect(rel.status?.lastError).toMatch(/cannot fetch|ECONNREFUSED/);
    const now = workloadBundles(a).get(B)!;
    expect(now.x509Pem).toBe(held.x509Pem);
    expect(now.jwtKeyIds).toEqual(held.jwtKeyIds);
  }, 60_000);
});
