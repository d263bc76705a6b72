/**
 * The built server as an operator runs it: `tessera server run` as a child process on loopback TCP and a Unix admin
 * socket in a temp dir, real SQLite, driven by the built CLI and by a gRPC client playing the agent. SVIDs it signs are
 * judged by go-spiffe (test/interop).
 */
import { spawnSync } from 'node:child_process';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signX509PopChallenge } from '../../src/common/x509pop.js';
import { SpiffeBundle, X509Bundle } from '../../src/spiffe/bundle/index.js';
import { TrustDomain } from '../../src/spiffe/id/index.js';
import { parseAndValidateJwtSvid } from '../../src/spiffe/jwtsvid/index.js';
import { splitDer } from '../../src/spiffe/x509svid/der-reader.js';
import { parseX509Svid, verifyX509Svid } from '../../src/spiffe/x509svid/index.js';
import { FixtureWriter } from '../interop/fixtures.js';
import {
  agentSvid,
  attest,
  callUnary,
  createAgentClient,
  statusOf,
  type AgentClient,
} from '../helpers/agent-client.js';
import { findGo } from '../helpers/go.js';
import { newAgentKey } from '../helpers/test-authority.js';
import { KU, LEAF_KU, mintCertificate, type TestCert } from '../helpers/test-ca.js';
import { cliJson, runCli, startServerProcess, until, type ServerProcess } from '../helpers/server-process.js';

const TD = 'example.org';
const SERVER_ID = `spiffe://${TD}/tessera/server`;
const INTEROP_DIR = fileURLToPath(new URL('../interop/', import.meta.url));

let dir: string;
let server: ServerProcess;
let nodeCa: TestCert;

function config(): Record<string, unknown> {
  return {
    trustDomain: TD,
    dataDir: './data',
    agentApi: { listen: '127.0.0.1:0' },
    http: { listen: '127.0.0.1:0' },
    nodeAttestors: { joinToken: { enabled: true }, x509pop: { caBundleFile: './node-ca.pem' } },
    policy: { defaultX509TtlSeconds: 600 },
  };
}

interface Bundle {
  trustDomain: string;
  sequenceNumber: number;
  x509Pem: string;
  spiffeBundle: string | Record<string, unknown>;
}

function bundlePem(): string {
  return cliJson<Bundle>(server.adminSocket, ['bundle', 'show']).x509Pem;
}

function servedSpiffeBundle(): string {
  const r = runCli(['bundle', 'show', '--format', 'spiffe', '--socket', server.adminSocket]);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout;
}

/** Attests a new agent with a fresh join token and returns an mTLS client holding its agent SVID. */
async function joinAgent(): Promise<{ client: AgentClient; spiffeId: string }> {
  const { token } = cliJson<{ token: string }>(server.adminSocket, ['token', 'generate']);
  const key = newAgentKey();
  const result = await attest(anonymousClient(), {
    attestor: 'join_token',
    payload: Buffer.from(token),
    agent_public_key: key.spki,
  });
  const client = createAgentClient({
    address: server.agentApi,
    bundlePem: bundlePem(),
    serverId: SERVER_ID,
    svid: agentSvid(result, key.pem),
  });
  return { client, spiffeId: result.spiffe_id };
}

function anonymousClient(): AgentClient {
  return createAgentClient({ address: server.agentApi, bundlePem: bundlePem(), serverId: SERVER_ID });
}

function createEntry(spiffeId: string, parentId: string, extra: string[] = []): { id: string } {
  const r = cliJson<{ results: { entry: { id: string } }[] }>(server.adminSocket, [
    'entry',
    'create',
    '--spiffe-id',
    spiffeId,
    '--parent-id',
    parentId,
    '--selector',
    'unix:uid:1000',
    ...extra,
  ]);
  return r.results[0]!.entry;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tessera-server-it-'));
  nodeCa = await mintCertificate({ subject: 'CN=Node CA', ca: true, keyUsage: KU.keyCertSign | KU.cRLSign });
  writeFileSync(join(dir, 'node-ca.pem'), nodeCa.pem);
  server = await startServerProcess(dir, config());
});

afterAll(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('tessera server (child process)', () => {
  it('answers health, readiness and metrics over HTTP and the CLI healthcheck', async () => {
    expect((await fetch(`http://${server.http}/healthz`)).status).toBe(200);
    const ready = await fetch(`http://${server.http}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready' });
    const health = runCli(['healthcheck', '--socket', server.adminSocket]);
    expect(health.code).toBe(0);
    const metrics = await (await fetch(`http://${server.http}/metrics`)).text();
    expect(metrics).toMatch(/^tessera_ca_expiry_timestamp_seconds \d{10}$/m);
    expect(metrics).toMatch(/^tessera_entries \d+$/m);
    expect(metrics).toContain('tessera_rpc_requests_total{service="tessera.admin.v1.HealthService",method="Check",code="OK"}');
  });

  it('attests an agent with a join token once; a reused token is refused', async () => {
    const { token } = cliJson<{ token: string }>(server.adminSocket, ['token', 'generate', '--ttl', '60']);
    const start = { attestor: 'join_token', payload: Buffer.from(token), agent_public_key: newAgentKey().spki };
    const first = await attest(anonymousClient(), start);
    expect(first.spiffe_id).toMatch(new RegExp(`^spiffe://${TD.replace('.', '\\.')}/tessera/agent/join_token/[0-9a-f]{32}$`));
    const svid = parseX509Svid(first.svid_chain);
    verifyX509Svid(svid.certificates, X509Bundle.parseDer(TD, first.bundle), { now: new Date() });
    expect(await statusOf(attest(anonymousClient(), { ...start, agent_public_key: newAgentKey().spki }))).toBe(
      grpc.status.PERMISSION_DENIED,
    );
    const agents = cliJson<{ agents: { spiffeId: string }[] }>(server.adminSocket, ['agent', 'list']);
    expect(agents.agents.map((a) => a.spiffeId)).toContain(first.spiffe_id);
  });

  it('attests an agent by x509pop: proof of possession of a key certified by the node CA', async () => {
    const node = await mintCertificate({
      subject: 'CN=node-7',
      issuer: nodeCa,
      ca: false,
      keyUsage: LEAF_KU,
      dnsNames: ['node-7.example.test'],
    });
    const result = await attest(
      anonymousClient(),
      { attestor: 'x509pop', payload: Buffer.from(node.der), agent_public_key: newAgentKey().spki },
      (nonce) => signX509PopChallenge(node.key.privateKey, TD, nonce),
    );
    const fingerprint = createHash('sha1').update(node.der).digest('hex');
    expect(result.spiffe_id).toBe(`spiffe://${TD}/tessera/agent/x509pop/${fingerprint}`);
    expect(result.selectors.map((s) => `${s.type}:${s.value}`)).toContain('x509pop:subject:cn:node-7');

    const stranger = await mintCertificate({ subject: 'CN=stranger', ca: false, keyUsage: LEAF_KU });
    expect(
      await statusOf(
        attest(
          anonymousClient(),
          { attestor: 'x509pop', payload: Buffer.from(stranger.der), agent_public_key: newAgentKey().spki },
          (nonce) => signX509PopChallenge(stranger.key.privateKey, TD, nonce),
        ),
      ),
    ).toBe(grpc.status.PERMISSION_DENIED);
  });

  it('creates, shows, updates, lists, counts and deletes entries through the CLI', () => {
    const socket = server.adminSocket;
    const before = cliJson<{ count: number }>(socket, ['entry', 'count']).count;
    const entry = createEntry(`spiffe://${TD}/crud/one`, `spiffe://${TD}/tessera/agent/join_token/${'a'.repeat(32)}`);
    const shown = cliJson<{ entries: { spiffeId: string; revision: number }[] }>(socket, ['entry', 'show', '--id', entry.id])
      .entries[0]!;
    expect(shown.spiffeId).toBe(`spiffe://${TD}/crud/one`);
    const updated = cliJson<{ entry: { x509SvidTtlSeconds: number; revision: number } }>(socket, [
      'entry',
      'update',
      '--id',
      entry.id,
      '--x509-ttl',
      '120',
    ]);
    expect(updated.entry.x509SvidTtlSeconds).toBe(120);
    expect(updated.entry.revision).toBe(shown.revision + 1);
    const listed = cliJson<{ entries: { id: string }[] }>(socket, ['entry', 'list', '--spiffe-id', `spiffe://${TD}/crud/one`]);
    expect(listed.entries.map((e) => e.id)).toEqual([entry.id]);
    expect(cliJson<{ count: number }>(socket, ['entry', 'count']).count).toBe(before + 1);

    const duplicate = runCli([
      'entry', 'create', '--socket', socket, '--spiffe-id', `spiffe://${TD}/crud/one`,
      '--parent-id', `spiffe://${TD}/tessera/agent/join_token/${'a'.repeat(32)}`, '--selector', 'unix:uid:1000',
    ]);
    expect(duplicate.code).not.toBe(0);
    expect(duplicate.stderr.trim().split('\n')).toHaveLength(1);

    expect(runCli(['entry', 'delete', '--id', entry.id, '--socket', socket]).code).toBe(0);
    expect(cliJson<{ count: number }>(socket, ['entry', 'count']).count).toBe(before);
    const gone = runCli(['entry', 'show', '--id', entry.id, '--socket', socket]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/not found/);
  });

  it('pushes a new entry down an open sync stream within a second', async () => {
    const agent = await joinAgent();
    const call = (agent.client['Sync'] as (req: unknown) => grpc.ClientReadableStream<{ entries: { spiffe_id: string }[] }>)({});
    const messages: { entries: { spiffe_id: string }[] }[] = [];
    let onMessage: (() => void) | undefined;
    call.on('data', (m: { entries: { spiffe_id: string }[] }) => {
      messages.push(m);
      onMessage?.();
    });
    call.on('error', () => undefined);
    await new Promise<void>((resolve) => (onMessage = resolve));
    expect(messages[0]!.entries).toEqual([]);

    const wanted = `spiffe://${TD}/synced/workload`;
    const arrived = new Promise<number>((resolve) => {
      onMessage = () => {
        if (messages.at(-1)!.entries.some((e) => e.spiffe_id === wanted)) resolve(Date.now());
      };
    });
    createEntry(wanted, agent.spiffeId);
    const committed = Date.now(); // the CLI has returned: the write is committed
    // Acceptance point of the issue (push, not a 5 s poll): the agent holds the entry within a second of the write.
    const late = await Promise.race([arrived, new Promise<'late'>((r) => setTimeout(() => r('late'), 1000))]);
    expect(late, 'entry not pushed within a second of the write').not.toBe('late');
    expect(late as number).toBeLessThanOrEqual(committed + 1000);
    call.cancel();
    agent.client.close();
  });

  it('signs X509-SVID batches that go-spiffe verifies against the served bundle, and JWT-SVIDs it validates', async () => {
    const agent = await joinAgent();
    const entry = createEntry(`spiffe://${TD}/batch/workload`, agent.spiffeId, ['--dns', 'workload.example.test']);
    const keys = Array.from({ length: 3 }, () => generateKeyPairSync('ec', { namedCurve: 'P-256' }));
    const res = await callUnary<{ results: { svid: { cert_chain: Buffer; serial: string; spiffe_id: string } | null; error_code: number }[] }>(
      agent.client,
      'BatchSignX509Svid',
      {
        params: [
          ...keys.map((k, i) => ({
            entry_id: entry.id,
            public_key: k.publicKey.export({ type: 'spki', format: 'der' }),
            instance_id: String(i).repeat(32),
          })),
          { entry_id: '00000000-0000-4000-8000-000000000000', public_key: keys[0]!.publicKey.export({ type: 'spki', format: 'der' }) },
        ],
      },
    );
    expect(res.results.slice(0, 3).every((r) => r.error_code === 0 && r.svid)).toBe(true);
    expect(res.results[3]!.error_code).toBe(grpc.status.PERMISSION_DENIED);
    const serials = new Set(res.results.slice(0, 3).map((r) => r.svid!.serial));
    expect(serials.size).toBe(3);

    const jwt = await callUnary<{ token: string }>(agent.client, 'MintJwtSvid', {
      entry_id: entry.id,
      audience: ['spiffe://example.org/relying-party'],
      instance_id: '0'.repeat(32),
    });
    const spiffeBundleJson = servedSpiffeBundle();
    const bundle = SpiffeBundle.parse(TD, spiffeBundleJson);
    await parseAndValidateJwtSvid(jwt.token, bundle, ['spiffe://example.org/relying-party'], { now: new Date() });

    // Every served SVID goes through go-spiffe: Parse (with its key) and Verify against the bundle the server serves.
    const fixtures = mkdtempSync(join(tmpdir(), 'tessera-server-interop-'));
    try {
      const w = new FixtureWriter(fixtures);
      const roots = bundle.x509Bundle.x509Authorities;
      for (const [i, r] of res.results.slice(0, 3).entries()) {
        await w.x509Svid(
          { name: `server-issued-${i}`, description: 'X509-SVID signed by the running server', spiffeId: `spiffe://${TD}/batch/workload`, expect: 'valid' },
          { chain: splitDer(r.svid!.cert_chain), key: keys[i]!.privateKey, bundle: roots, spiffeBundleJson },
        );
      }
      await w.jwtSvid(
        { name: 'server-issued-jwt', description: 'JWT-SVID minted by the running server', spiffeId: `spiffe://${TD}/batch/workload`, expect: 'valid' },
        { token: jwt.token, bundle: { format: 'spiffe', path: await w.file('bundle.json', spiffeBundleJson) } },
      );
      const now = new Date();
      await w.file(
        'manifest.json',
        JSON.stringify({ version: 1, generatedAt: now.toISOString(), verifyAt: now.toISOString(), fixtures: w.fixtures }),
      );
      const go = findGo();
      expect(go, 'go toolchain').toBeDefined();
      const run = spawnSync(go!, ['test', '-count=1', '-v', '-run', '^TestFixtures$', './...'], {
        cwd: INTEROP_DIR,
        encoding: 'utf8',
        env: { ...process.env, TESSERA_FIXTURES: fixtures, PATH: `${dirname(go!)}${delimiter}${process.env['PATH'] ?? ''}` },
        timeout: 10 * 60_000,
      });
      expect(run.status, run.stdout + run.stderr).toBe(0);
      for (const f of w.fixtures) expect(run.stdout).toContain(`--- PASS: TestFixtures/${f.name}`);
    } finally {
      rmSync(fixtures, { recursive: true, force: true });
    }
    agent.client.close();
  });

  it('refuses a banned agent on its next call and ends its sync stream', async () => {
    const agent = await joinAgent();
    const call = (agent.client['Sync'] as (req: unknown) => grpc.ClientReadableStream<unknown>)({});
    const ended = new Promise<number>((resolve) => call.on('error', (err: grpc.ServiceError) => resolve(err.code)));
    call.on('data', () => undefined);
    expect(runCli(['agent', 'ban', '--spiffe-id', agent.spiffeId, '--socket', server.adminSocket]).code).toBe(0);
    expect(await ended).toBe(grpc.status.PERMISSION_DENIED);
    expect(await statusOf(callUnary(agent.client, 'BatchSignX509Svid', { params: [] }))).toBe(grpc.status.PERMISSION_DENIED);
    const shown = cliJson<{ agent: { banned: boolean } }>(server.adminSocket, ['agent', 'show', '--spiffe-id', agent.spiffeId]);
    expect(shown.agent.banned).toBe(true);
    agent.client.close();
  });

  it('refuses bad input from the CLI with one line and writes nothing', () => {
    const socket = server.adminSocket;
    const before = cliJson<{ count: number }>(socket, ['entry', 'count']).count;
    const cases: string[][] = [
      ['entry', 'create', '--spiffe-id', 'https://example.org/x', '--parent-id', `spiffe://${TD}/p`, '--selector', 'unix:uid:1'],
      ['entry', 'create', '--spiffe-id', `spiffe://${TD}/x`, '--parent-id', `spiffe://${TD}/p`, '--selector', 'bogus:thing'],
      ['entry', 'create', '--spiffe-id', `spiffe://${TD}/x`, '--parent-id', `spiffe://${TD}/p`, '--selector', 'unix:uid:1', '--x509-ttl', '99999999'],
      ['entry', 'delete', '--id', '00000000-0000-4000-8000-000000000000'],
      ['token', 'generate', '--ttl', '-5'],
      ['agent', 'ban', '--spiffe-id', `spiffe://${TD}/tessera/agent/join_token/${'f'.repeat(32)}`],
    ];
    for (const args of cases) {
      const r = runCli([...args, '--socket', socket]);
      expect(r.code, args.join(' ')).not.toBe(0);
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
    }
    expect(cliJson<{ count: number }>(socket, ['entry', 'count']).count).toBe(before);
  });

  it('keeps entries, keys and the bundle across a restart', async () => {
    const socket = server.adminSocket;
    const entriesBefore = cliJson<{ entries: unknown[] }>(socket, ['entry', 'list']).entries;
    const bundleBefore = cliJson<Bundle>(socket, ['bundle', 'show']);
    expect(await server.stop('SIGTERM')).toBe(0);
    server = await startServerProcess(dir, config());
    expect(cliJson<{ entries: unknown[] }>(server.adminSocket, ['entry', 'list']).entries).toEqual(entriesBefore);
    const bundleAfter = cliJson<Bundle>(server.adminSocket, ['bundle', 'show']);
    expect(bundleAfter.x509Pem).toBe(bundleBefore.x509Pem);
    expect(bundleAfter.spiffeBundle).toEqual(bundleBefore.spiffeBundle);
    expect(bundleAfter.sequenceNumber).toBe(bundleBefore.sequenceNumber);
    // An agent attested before the restart still holds a valid SVID for the same CA.
    const agent = await joinAgent();
    const entry = createEntry(`spiffe://${TD}/after/restart`, agent.spiffeId);
    const res = await callUnary<{ results: { svid: { cert_chain: Buffer } }[] }>(agent.client, 'BatchSignX509Svid', {
      params: [{ entry_id: entry.id, public_key: newAgentKey().spki }],
    });
    const chain = splitDer(res.results[0]!.svid.cert_chain);
    verifyX509Svid(chain, X509Bundle.parsePem(TrustDomain.parse(TD), bundleBefore.x509Pem), { now: new Date() });
    agent.client.close();
  });

  it('loses no audit event of an SVID it returned when SIGTERM arrives during batches', async () => {
    const agent = await joinAgent();
    const entry = createEntry(`spiffe://${TD}/sigterm/workload`, agent.spiffeId);
    const returned: string[] = [];
    const keys = Array.from({ length: 50 }, () => newAgentKey().spki);
    let stop = false;
    const loop = (async () => {
      while (!stop) {
        try {
          const r = await callUnary<{ results: { svid: { serial: string } | null }[] }>(agent.client, 'BatchSignX509Svid', {
            params: keys.map((k) => ({ entry_id: entry.id, public_key: k })),
          });
          for (const item of r.results) if (item.svid) returned.push(item.svid.serial);
        } catch {
          return;
        }
      }
    })();
    await until('the server to sign SVIDs under load', () => (returned.length > 0 ? true : undefined));
    const exit = server.stop('SIGTERM');
    expect(await exit).toBe(0);
    stop = true;
    await loop;
    agent.client.close();
    expect(returned.length).toBeGreaterThan(0);

    server = await startServerProcess(dir, config());
    const events = cliJson<{ events: { serial: string; kind: string }[] }>(server.adminSocket, [
      'audit',
      'list',
      '--spiffe-id',
      `spiffe://${TD}/sigterm/workload`,
      '--limit',
      '10000',
    ]).events;
    const audited = new Set(events.filter((e) => e.kind === 'x509_svid.issued').map((e) => e.serial));
    const missing = returned.filter((s) => !audited.has(s));
    expect(missing).toEqual([]);
  });

  it('refuses a configuration with an unknown key, naming its dotted path', () => {
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ trustDomain: TD, policy: { maxTtlSecnds: 5 } }));
    const r = runCli(['server', 'run', '--config', bad]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('policy.maxTtlSecnds');
  });
});
