/**
 * Server fd exhaustion by unauthenticated TCP clients (issue 10 item 7), against the built server (and agent) as
 * child processes: a flood of connections that never start a TLS handshake, from one address (127.0.0.2), takes
 * only that address's share of the agent API and the HTTP listener; a new agent (from 127.0.0.1) still attests,
 * /readyz and the admin CLI answer. Connections that do nothing are closed after the handshake / headers timeout.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tls from 'node:tls';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cliJson, startJoinedAgent, startServerProcess, type ServerProcess, type TesseraProcess } from '../helpers/server-process.js';

const TD = 'example.org';
/** Flood source: another loopback address, so the caps per address single it out. */
const FLOOD_FROM = '127.0.0.2';

let dir: string;
let server: ServerProcess | undefined;
let agent: TesseraProcess | undefined;
const sockets: net.Socket[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tessera-conns-it-'));
});

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
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
  return p.logs.filter((l) => l['level'] === 40 && l['reason'] === reason);
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
  });

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
  });
});
