/**
 * Server fd exhaustion by unauthenticated TCP clients (issue 10 item 7), against the built server (and agent) as
 * child processes: a flood of connections that never start a TLS handshake, from one address (127.0.0.2), takes
 * only that address's share of the agent API and the HTTP listener; a new agent (from 127.0.0.1) still attests,
 * /readyz and the admin CLI answer. Connections that do nothing are closed after the handshake / headers timeout.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tls from 'node:tls';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  cliJson,
  runCli,
  startJoinedAgent,
  startServerProcess,
  startTesseraProcess,
  type ServerProcess,
  type TesseraProcess,
} from '../helpers/server-process.js';

const TD = 'example.org';
/** Child processes (server, agent, CLI) on a shared 2-core machine: generous, never a threshold of the behaviour. */
const TIMEOUT_MS = 180_000;
/** Flood source: another loopback address, so the caps per address single it out. */
const FLOOD_FROM = '127.0.0.2';

let dir: string;
let server: ServerProcess | undefined;
let agent: TesseraProcess | undefined;
const sockets: net.Socket[] = [];
const children: ChildProcess[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tessera-conns-it-'));
});

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const c of children.splice(0)) c.kill('SIGKILL');
  await agent?.stop();
  agent = undefined;
  await server?.stop();
  server = undefined;
  rmSync(dir, { recursive: true, force: true });
});

function hostPort(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(':');
  return { host: address.slice(0, i), port: Number(address.slice(i + 1)) };
}

/** Opens `count` TCP connections from FLOOD_FROM that send nothing; resolves `closed(n)` once n were closed by the server. */
function flood(address: string, count: number): { closed: (n: number) => Promise<void> } {
  const { host, port } = hostPort(address);
  let closed = 0;
  const waiters: { n: number; resolve: () => void }[] = [];
  for (let i = 0; i < count; i++) {
    const s = net.connect({ host, port, localAddress: FLOOD_FROM });
    s.resume();
    s.on('error', () => {});
    s.once('close', () => {
      closed++;
      for (const w of waiters.filter((w) => closed >= w.n)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    });
    sockets.push(s);
  }
  return { closed: (n) => (closed >= n ? Promise.resolve() : new Promise((resolve) => waiters.push({ n, resolve }))) };
}

function closedMetric(metrics: string, listener: string, reason: string): number {
  const line = metrics
    .split('\n')
    .find((l) => l.startsWith(`tessera_server_connections_closed_total{listener="${listener}",reason="${reason}"}`));
  return line ? Number(line.split(' ').pop()) : 0;
}

function warnings(p: TesseraProcess, reason: string): Record<string, unknown>[] {
  return p.logs.filter((l) => l['level'] === 'warn' && l['reason'] === reason);
}

describe('server connection caps (child process)', () => {
  it('a no-handshake flood from one address is capped; a new agent still attests, /readyz and the admin CLI answer', async () => {
    server = await startServerProcess(dir, {
      trustDomain: TD,
      dataDir: './server',
      agentApi: { listen: '127.0.0.1:0', maxConnections: 400, maxConnectionsPerAddress: 200, handshakeTimeoutMs: 600_000 },
      http: { listen: '127.0.0.1:0', maxConnections: 400, maxConnectionsPerAddress: 100, headersTimeoutMs: 600_000 },
    });
    // 250 idle TCP connections to the agent API (200 held, 50 refused) and 150 to the HTTP port (100 held, 50 refused).
    await Promise.all([flood(server.agentApi, 250).closed(50), flood(server.http, 150).closed(50)]);

    // A new agent, from another address, attests and serves; the admin socket answers (token, bundle, entries).
    const joined = await startJoinedAgent(dir, server, TD);
    agent = joined.agent;
    expect(joined.agentId).toMatch(/^spiffe:\/\/example\.org\/tessera\/agent\/join_token\//);
    expect(cliJson<{ agents: unknown[] }>(server.adminSocket, ['agent', 'list']).agents).toHaveLength(1);

    const ready = await fetch(`http://${server.http}/readyz`);
    expect(ready.status).toBe(200);
    const metrics = await (await fetch(`http://${server.http}/metrics`)).text();
    expect(closedMetric(metrics, 'agent_api', 'address_limit')).toBe(50);
    expect(closedMetric(metrics, 'http', 'address_limit')).toBe(50);
    expect(closedMetric(metrics, 'agent_api', 'total_limit')).toBe(0);

    // One rate-limited warning per listener, naming the address and the setting.
    const lines = warnings(server, 'address_limit');
    expect(lines.map((l) => l['listener']).sort()).toEqual(['agent_api', 'http']);
    expect(lines.find((l) => l['listener'] === 'agent_api')).toMatchObject({
      remoteAddress: FLOOD_FROM,
      maxConnectionsPerAddress: 200,
    });
    expect(String(lines.find((l) => l['listener'] === 'agent_api')!['msg'])).toContain('agentApi.maxConnectionsPerAddress');
  }, TIMEOUT_MS);

  it('closes agent API connections that complete no TLS handshake, or no call, within the handshake timeout; HTTP ones without headers', async () => {
    server = await startServerProcess(dir, {
      trustDomain: TD,
      dataDir: './server',
      agentApi: { listen: '127.0.0.1:0', handshakeTimeoutMs: 300 },
      http: { listen: '127.0.0.1:0', headersTimeoutMs: 300 },
    });
    const { host, port } = hostPort(server.agentApi);
    const closedEvent = (s: net.Socket) => new Promise<void>((resolve) => s.once('close', () => resolve()));

    // Never starts TLS.
    const raw = net.connect({ host, port });
    raw.resume();
    raw.on('error', () => {});
    sockets.push(raw);
    // Completes TLS (no client certificate, as Attest), then starts no call.
    const secured = tls.connect({ host, port, rejectUnauthorized: false, ALPNProtocols: ['h2'], servername: 'localhost' });
    secured.on('error', () => {});
    const didHandshake = new Promise<void>((resolve) => secured.once('secureConnect', () => resolve()));
    secured.resume();
    // Sends nothing to the HTTP listener.
    const httpHost = hostPort(server.http);
    const httpRaw = net.connect(httpHost);
    httpRaw.resume();
    httpRaw.on('error', () => {});
    sockets.push(httpRaw);

    await Promise.all([closedEvent(raw), didHandshake.then(() => closedEvent(secured)), closedEvent(httpRaw)]);
    const metrics = await (await fetch(`http://${server.http}/metrics`)).text();
    expect(closedMetric(metrics, 'agent_api', 'handshake_timeout')).toBe(2);
    const lines = warnings(server, 'handshake_timeout');
    expect(lines).toHaveLength(1); // two closes, one line per 10 s
    expect(String(lines[0]!['msg'])).toContain('agentApi.handshakeTimeoutMs');
  }, TIMEOUT_MS);
});

/** The HTTP/2 client preface and an empty SETTINGS frame. */
const PREFACE = Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])]);

/** A child process running as `uid` that opens `count` preface-only connections to `path` and holds them. */
function floodAs(uid: number, path: string, count: number): { closed: (n: number) => Promise<void> } {
  const script = `
    const net = require('node:net');
    const preface = Buffer.from(${JSON.stringify(PREFACE.toString('base64'))}, 'base64');
    for (let i = 0; i < ${count}; i++) {
      const s = net.connect({ path: ${JSON.stringify(path)} });
      s.on('connect', () => s.write(preface));
      s.resume();
      s.on('error', () => {});
      s.on('close', () => process.stdout.write('c'));
    }`;
  const child = spawn(process.execPath, ['-e', script], { uid, gid: uid, stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  let closed = 0;
  const waiters: { n: number; resolve: () => void }[] = [];
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (chunk: string) => {
    closed += chunk.length;
    for (const w of waiters.filter((w) => closed >= w.n)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve();
    }
  });
  return { closed: (n) => (closed >= n ? Promise.resolve() : new Promise((resolve) => waiters.push({ n, resolve }))) };
}

describe('agent Workload API caps (child processes)', () => {
  it('a local user flooding the Workload API socket hits its per-uid cap; a workload of another uid is still served', async () => {
    expect(process.geteuid?.(), 'the flood runs as uid 65534, which needs root').toBe(0);
    chmodSync(dir, 0o755); // uid 65534 must reach the socket (0777) in <dir>/agent (0755)
    server = await startServerProcess(dir, {
      trustDomain: TD,
      dataDir: './server',
      agentApi: { listen: '127.0.0.1:0' },
      http: { listen: '127.0.0.1:0' },
    });
    const token = cliJson<{ token: string; agentSpiffeId: string }>(server.adminSocket, ['token', 'generate']);
    writeFileSync(join(dir, 'bundle.pem'), runCli(['bundle', 'show', '--socket', server.adminSocket]).stdout);
    agent = await startTesseraProcess(
      'agent',
      dir,
      {
        trustDomain: TD,
        serverAddress: server.agentApi,
        trustBundlePath: './bundle.pem',
        nodeAttestor: { joinToken: { token: token.token } },
        dataDir: './agent',
        http: { listen: '127.0.0.1:0' },
        workloadApi: { maxConnections: 300, maxConnectionsPerUid: 100, idleTimeoutMs: 600_000 },
      },
      'Agent ready',
    );
    const socket = String(agent.ready['socketPath']);
    const workloadId = `spiffe://${TD}/it/root-workload`;
    cliJson(server.adminSocket, [
      'entry', 'create', '--parent-id', token.agentSpiffeId, '--spiffe-id', workloadId, '--selector', 'unix:uid:0',
    ]);

    // 150 preface-only connections from uid 65534: 100 held, 50 closed at accept.
    await floodAs(65534, socket, 150).closed(50);

    // A real workload of uid 0 (our CLI, a process of its own) gets its SVID.
    const fetched = runCli(['api', 'fetch', 'x509', '--socket', socket, '--output', 'json']);
    expect(fetched.code, fetched.stderr).toBe(0);
    expect(fetched.stdout).toContain(workloadId);

    const metrics = await (await fetch(`http://${String(agent.ready['http'])}/metrics`)).text();
    expect(metrics).toMatch(/^tessera_agent_workload_api_connections_closed_total\{reason="uid_limit"\} 50$/m);
    const lines = warnings(agent, 'uid_limit');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ uid: 65534, maxConnectionsPerUid: 100 });
  }, TIMEOUT_MS);
});
