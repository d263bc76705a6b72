/**
 * The HTTP(S) listener's caps and timeouts over real loopback sockets: connections over the per-address cap are
 * closed at accept (plain and TLS, whose handshake never starts), and a connection that sends no request headers is
 * closed after the headers timeout. /readyz keeps answering from another address.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { startHttpServer, type RunningHttpServer, DEFAULT_HTTP_LIMITS } from '../../../src/common/http/health-server.js';
import { captureLogger } from '../../helpers/log-capture.js';

let running: RunningHttpServer | undefined;
const sockets: net.Socket[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await running?.close();
  running = undefined;
});

function idleConnections(port: number, count: number, from: string): { closed: (n: number) => Promise<void> } {
  let closed = 0;
  const waiters: { n: number; resolve: () => void }[] = [];
  for (let i = 0; i < count; i++) {
    const s = net.connect({ host: '127.0.0.1', port, localAddress: from });
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

function selfSigned(): { cert: string; key: string } {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-http-limits-'));
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout',
      join(dir, 'k.pem'), '-out', join(dir, 'c.pem'), '-subj', '/CN=localhost', '-days', '1'], { stdio: 'ignore' });
    return { cert: readFileSync(join(dir, 'c.pem'), 'utf8'), key: readFileSync(join(dir, 'k.pem'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe.each([
  ['http', undefined],
  ['https', selfSigned()],
] as const)('%s listener', (_name, tls) => {
  it('closes connections over the per-address cap at accept, counts them, and keeps serving other addresses', async () => {
    const { log, lines } = captureLogger('warn');
    const closed: string[] = [];
    running = await startHttpServer({
      host: '127.0.0.1',
      port: 0,
      log,
      metrics: new Registry(),
      ready: () => ({ ok: true }),
      limits: { ...DEFAULT_HTTP_LIMITS, maxConnections: 100, maxConnectionsPerAddress: 20 },
      connectionsClosed: { inc: ({ listener, reason }) => closed.push(`${listener}/${reason}`) },
      ...(tls && { tls }),
    });
    await idleConnections(running.address.port, 30, '127.0.0.2').closed(10);
    expect(closed).toEqual(Array(10).fill('http/address_limit'));
    expect(lines().filter((l) => l.reason === 'address_limit')).toHaveLength(1);

    if (!tls) {
      const res = await fetch(`http://127.0.0.1:${running.address.port}/readyz`);
      expect(res.status).toBe(200);
    }
  });

  it('closes a connection that sends no request within the headers (or TLS handshake) timeout', async () => {
    running = await startHttpServer({
      host: '127.0.0.1',
      port: 0,
      log: captureLogger('warn').log,
      metrics: new Registry(),
      ready: () => ({ ok: true }),
      limits: { ...DEFAULT_HTTP_LIMITS, headersTimeoutMs: 200, handshakeTimeoutMs: 200 },
      ...(tls && { tls }),
    });
    await idleConnections(running.address.port, 1, '127.0.0.1').closed(1);
  });
});
