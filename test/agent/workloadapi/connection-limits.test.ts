/**
 * Connection exhaustion on the Workload API socket (issue 10 item 6), over a real Unix socket with the real
 * SO_PEERCRED reader: a flood of idle connections from one local user (a child process running as uid 65534, which
 * needs root, as the suite runs) hits that uid's cap and no one else's; connections that start no call are closed
 * after the idle timeout; an open stream is never idle.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import * as grpc from '@grpc/grpc-js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startWorkloadApi, type WorkloadApi, type WorkloadApiLimits } from '../../../src/agent/workloadapi/index.js';
import { FakeWorkloadProvider, RecordingCallerCredentialsReader } from '../../helpers/fake-workload-provider.js';
import { captureLogger } from '../../helpers/log-capture.js';
import { openStream, unary, workloadClient, type WorkloadClient } from '../../helpers/workload-client.js';

const OTHER_UID = 65534;
/** The HTTP/2 client preface and an empty SETTINGS frame: a connection that looks like a gRPC client, then nothing. */
const PREFACE = Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])]);

let dir: string;
let socketPath: string;
let api: WorkloadApi | undefined;
let provider: FakeWorkloadProvider;
let logs: ReturnType<typeof captureLogger>;
const closedByReason = new Map<string, number>();
const children: ChildProcess[] = [];
const clients: WorkloadClient[] = [];

const metrics = {
  connectionsClosed: { inc: ({ reason }: { reason: string }) => closedByReason.set(reason, (closedByReason.get(reason) ?? 0) + 1) },
};

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tessera-wlapi-limits-'));
  await chmod(dir, 0o755); // the other uid must reach the socket (0777) through the directory
  socketPath = join(dir, 'api.sock');
  provider = await FakeWorkloadProvider.create([{ spiffeId: 'spiffe://example.org/workload' }]);
  logs = captureLogger('debug');
  closedByReason.clear();
});

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const child of children.splice(0)) child.kill('SIGKILL');
  await api?.stop();
  api = undefined;
  await rm(dir, { recursive: true, force: true });
});

async function start(limits: WorkloadApiLimits): Promise<WorkloadApi> {
  api = await startWorkloadApi({
    socketPath,
    provider,
    credentials: new RecordingCallerCredentialsReader(),
    log: logs.log,
    metrics,
    limits,
  });
  return api;
}

/**
 * A child process running as `uid` that opens `count` connections, writes the HTTP/2 preface on each and then holds
 * them; it prints "closed" for each connection the agent closes.
 */
function flood(count: number, uid: number): { closed: (n: number) => Promise<void>; child: ChildProcess } {
  const script = `
    const net = require('node:net');
    const preface = Buffer.from(${JSON.stringify(PREFACE.toString('base64'))}, 'base64');
    for (let i = 0; i < ${count}; i++) {
      const s = net.connect({ path: ${JSON.stringify(socketPath)} });
      s.on('connect', () => s.write(preface));
      s.resume(); // read, so the agent's close is seen
      s.on('error', () => {});
      s.on('close', () => process.stdout.write('closed\\n'));
    }`;
  const child = spawn(process.execPath, ['-e', script], { uid, gid: uid, stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  let closed = 0;
  const waiters: { n: number; resolve: () => void }[] = [];
  createInterface({ input: child.stdout! }).on('line', (line) => {
    if (line !== 'closed') return;
    closed++;
    for (const w of waiters.filter((w) => closed >= w.n)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve();
    }
  });
  return {
    child,
    closed: (n) => (closed >= n ? Promise.resolve() : new Promise((resolve) => waiters.push({ n, resolve }))),
  };
}

/** Waits until `check` holds: the agent learns of a close one event-loop turn after its peer may. */
async function eventually(check: () => boolean, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 10));
  }
}

function warnings(text: string): Record<string, unknown>[] {
  return logs.lines().filter((l) => l.level === 'warn' && String(l.msg).includes(text));
}

describe('Workload API connection caps', () => {
  it('a uid over its cap is refused (counted, one rate-limited warning); a workload of another uid is still served', async () => {
    expect(process.geteuid?.(), 'this test runs a child as another uid, which needs root').toBe(0);
    const limits = { maxConnections: 400, maxConnectionsPerUid: 100, idleTimeoutMs: 600_000 };
    const running = await start(limits);

    // 250 preface-only connections from uid 65534: 100 held, 150 closed by the agent as they arrive.
    const attacker = flood(250, OTHER_UID);
    await attacker.closed(150);
    expect(closedByReason.get('uid_limit')).toBe(150);
    await eventually(() => running.stats().connections === 100);

    // Our own uid (root) is a different peer: its workload connects and gets its SVIDs and JWTs.
    const client = workloadClient(socketPath);
    clients.push(client);
    const stream = openStream<{ svids: { spiffe_id: string }[] }>(client, 'FetchX509SVID');
    expect((await stream.next(5000)).svids.map((s) => s.spiffe_id)).toEqual(['spiffe://example.org/workload']);
    const jwt = await unary<{ svids: unknown[] }>(client, 'FetchJWTSVID', { audience: ['a'] });
    expect(jwt.svids).toHaveLength(1);
    expect(provider.callers.map((c) => c.uid)).toEqual([0, 0]);

    // 150 refusals, one warning line (the rest are counted, not logged, within the interval).
    const lines = warnings('its uid holds the most connections allowed');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ uid: OTHER_UID, maxConnectionsPerUid: 100 });
    expect(closedByReason.get('total_limit')).toBeUndefined();
  });

  it('the total cap refuses any uid once the socket is full', async () => {
    const running = await start({ maxConnections: 50, maxConnectionsPerUid: 50, idleTimeoutMs: 600_000 });
    const attacker = flood(80, OTHER_UID);
    await attacker.closed(30);
    expect(closedByReason.get('uid_limit')).toBe(30);
    await eventually(() => running.stats().connections === 50);
    // Full: our own connection is closed at accept too.
    const s = net.connect({ path: socketPath });
    s.resume();
    await new Promise<void>((resolve) => s.once('close', () => resolve()));
    expect(closedByReason.get('total_limit')).toBe(1);
    expect(warnings('the socket holds the most connections allowed')).toHaveLength(1);
  });
});

describe('Workload API idle timeout', () => {
  it('closes a preface-only connection after the timeout, but not one with an open FetchX509SVID stream', async () => {
    const running = await start({ maxConnections: 100, maxConnectionsPerUid: 100, idleTimeoutMs: 300 });

    const client = workloadClient(socketPath);
    clients.push(client);
    const stream = openStream<{ svids: unknown[] }>(client, 'FetchX509SVID');
    await stream.next(5000);
    let streamEnded = false;
    void stream.status.then(() => (streamEnded = true));

    // Opened after the stream: once it is closed for idleness, the stream has been open longer than the timeout.
    const idle = net.connect({ path: socketPath });
    idle.on('connect', () => idle.write(PREFACE));
    idle.resume();
    await new Promise<void>((resolve) => idle.once('close', () => resolve()));
    expect(closedByReason.get('no_call_timeout')).toBe(1);
    expect(warnings('started no call within the idle timeout')).toHaveLength(1);

    await eventually(() => running.stats().connections === 1);
    expect(streamEnded).toBe(false);
    expect(running.stats().streams).toBe(1);
    expect(closedByReason.get('idle_timeout')).toBeUndefined();
  });

  it('closes a connection whose calls have ended once it has been idle for the timeout', async () => {
    await start({ maxConnections: 100, maxConnectionsPerUid: 100, idleTimeoutMs: 300 });
    const client = workloadClient(socketPath);
    clients.push(client);
    await unary(client, 'FetchJWTSVID', { audience: ['a'] });
    const channel = client.getChannel();
    expect(channel.getConnectivityState(false)).toBe(grpc.connectivityState.READY);
    // The agent closes the connection: the channel leaves READY (no new call is made in between).
    await new Promise<void>((resolve) =>
      channel.watchConnectivityState(grpc.connectivityState.READY, Infinity, () => resolve()),
    );
    expect(closedByReason.get('idle_timeout')).toBe(1);
    // The client reconnects on its next call.
    expect((await unary<{ svids: unknown[] }>(client, 'FetchJWTSVID', { audience: ['a'] })).svids).toHaveLength(1);
  });
});
