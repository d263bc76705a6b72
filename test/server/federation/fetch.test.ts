import 'reflect-metadata';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as px from '@peculiar/x509';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TesseraError } from '../../../src/common/errors.js';
import { X509Bundle } from '../../../src/spiffe/bundle/index.js';
import { SpiffeId, TrustDomain } from '../../../src/spiffe/id/index.js';
import { fetchBundleDocument, type EndpointAuth, type FetchOptions } from '../../../src/server/federation/fetch.js';
import {
  bundleOf,
  mintCertificate,
  newIntermediateCa,
  newLeaf,
  newRootCa,
  CA_KU,
  LEAF_KU,
  webCertificates,
  type TestCert,
} from '../../helpers/test-ca.js';

const BODY = '{"keys":[],"spiffe_sequence":7}';
const ENDPOINT_ID = 'spiffe://b.test/tessera/server';

interface TestServer {
  readonly port: number;
  /** HTTP requests the server received (after the TLS handshake). */
  requests: number;
  /** TCP connections accepted. */
  connections: number;
  url(host?: string, path?: string): URL;
  /** Resolves once every accepted TCP connection is closed (so any request sent on it has been seen). */
  idle(): Promise<void>;
  close(): Promise<void>;
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

const okHandler: Handler = (_req, res) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(BODY);
};

const servers: TestServer[] = [];

async function startServer(chain: readonly TestCert[], handler: Handler = okHandler): Promise<TestServer> {
  const key = chain[0]!.key.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  const server = https.createServer({ key, cert: chain.map((c) => c.pem).join('') });
  const open = new Set<Socket>();
  let waiters: (() => void)[] = [];
  const state = {
    requests: 0,
    connections: 0,
  };
  server.on('connection', (socket: Socket) => {
    state.connections++;
    open.add(socket);
    socket.on('close', () => {
      open.delete(socket);
      if (open.size === 0) {
        const w = waiters;
        waiters = [];
        for (const f of w) f();
      }
    });
  });
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    state.requests++;
    handler(req, res);
  });
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const s: TestServer = {
    port,
    get requests() {
      return state.requests;
    },
    get connections() {
      return state.connections;
    },
    url: (host = '127.0.0.1', path = '/bundle') => new URL(`https://${host}:${port}${path}`),
    idle: () => (open.size === 0 ? Promise.resolve() : new Promise<void>((resolve) => waiters.push(resolve))),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  servers.push(s);
  return s;
}

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

const opts = (over: Partial<FetchOptions> = {}): FetchOptions => ({
  timeoutMs: 10_000,
  maxBytes: 1 << 20,
  now: () => new Date(),
  ...over,
});

const spiffeAuth = (bundle: X509Bundle, endpointId = ENDPOINT_ID): EndpointAuth => ({
  profile: 'https_spiffe',
  endpointId: SpiffeId.parse(endpointId),
  bundle,
});

async function refusal(p: Promise<unknown>): Promise<TesseraError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(TesseraError);
    return err as TesseraError;
  }
  throw new Error('expected the fetch to be refused');
}

/** A refused fetch: UNAVAILABLE naming the URL, and the server never saw the HTTP request. */
async function expectRefusedInHandshake(server: TestServer, auth: EndpointAuth, o: FetchOptions = opts()): Promise<TesseraError> {
  const url = server.url();
  const err = await refusal(fetchBundleDocument(url, auth, o));
  expect(err.code).toBe('UNAVAILABLE');
  expect(err.message).toContain(url.toString());
  await server.idle();
  expect(server.connections).toBeGreaterThan(0);
  expect(server.requests).toBe(0);
  return err;
}

describe('fetchBundleDocument, https_spiffe', () => {
  let bRoot: TestCert;
  let cRoot: TestCert;
  let bBundle: X509Bundle;

  beforeAll(async () => {
    bRoot = await newRootCa('b.test');
    cRoot = await newRootCa('c.test');
    bBundle = bundleOf('b.test', bRoot);
  });

  it('returns the body of an endpoint presenting the expected X509-SVID chaining to the bundle', async () => {
    const server = await startServer([await newLeaf(bRoot, ENDPOINT_ID)]);
    await expect(fetchBundleDocument(server.url(), spiffeAuth(bBundle), opts())).resolves.toBe(BODY);
    expect(server.requests).toBe(1);
  });

  it('sends a GET for the URL path and asks for JSON', async () => {
    let seen: { method?: string; url?: string; accept?: string } = {};
    const server = await startServer([await newLeaf(bRoot, ENDPOINT_ID)], (req, res) => {
      seen = { method: req.method!, url: req.url!, accept: req.headers.accept! };
      okHandler(req, res);
    });
    await fetchBundleDocument(server.url('127.0.0.1', '/some/path?x=1'), spiffeAuth(bBundle), opts());
    expect(seen).toEqual({ method: 'GET', url: '/some/path?x=1', accept: 'application/json' });
  });

  it('accepts an SVID signed by an intermediate the endpoint sends, the bundle holding only the root', async () => {
    const intermediate = await newIntermediateCa(bRoot, 'b.test');
    const server = await startServer([await newLeaf(intermediate, ENDPOINT_ID), intermediate]);
    await expect(fetchBundleDocument(server.url(), spiffeAuth(bBundle), opts())).resolves.toBe(BODY);
  });

  it('does not match the URL host name against the certificate (the SPIFFE ID authenticates)', async () => {
    const server = await startServer([await newLeaf(bRoot, ENDPOINT_ID)]);
    await expect(fetchBundleDocument(server.url('localhost'), spiffeAuth(bBundle), opts())).resolves.toBe(BODY);
  });

  it('accepts when the bundle holds several roots, one of them the issuer', async () => {
    const other = await newRootCa('b.test');
    const server = await startServer([await newLeaf(bRoot, ENDPOINT_ID)]);
    await expect(fetchBundleDocument(server.url(), spiffeAuth(bundleOf('b.test', other, bRoot)), opts())).resolves.toBe(
      BODY,
    );
  });

  it('refuses an endpoint presenting another SPIFFE ID of the trust domain', async () => {
    const server = await startServer([await newLeaf(bRoot, 'spiffe://b.test/workload/web')]);
    const err = await expectRefusedInHandshake(server, spiffeAuth(bBundle));
    expect(err.message).toContain('spiffe://b.test/workload/web');
  });

  it('refuses an endpoint whose SVID chains to another root (a c.test CA)', async () => {
    const server = await startServer([await newLeaf(cRoot, ENDPOINT_ID)]);
    await expectRefusedInHandshake(server, spiffeAuth(bBundle));
  });

  it('refuses a c.test SVID even when its chain leads to a root of the b.test bundle', async () => {
    // The b.test CA (mis)issued an SVID for c.test: the endpoint ID names c.test, the bundle given is b.test's.
    const server = await startServer([await newLeaf(bRoot, 'spiffe://c.test/tessera/server')]);
    await expectRefusedInHandshake(server, spiffeAuth(bBundle, 'spiffe://c.test/tessera/server'));
  });

  it('refuses an SVID that is expired at the `now` given', async () => {
    const server = await startServer([await newLeaf(bRoot, ENDPOINT_ID, { notAfter: new Date('2039-01-01T00:00:00Z') })]);
    const err = await expectRefusedInHandshake(server, spiffeAuth(bBundle), opts({ now: () => new Date('2039-06-01T00:00:00Z') }));
    expect(err.message).toMatch(/not accepted/);
  });

  it('refuses an SVID that is not yet valid at the `now` given', async () => {
    const server = await startServer([await newLeaf(bRoot, ENDPOINT_ID, { notBefore: new Date('2021-01-01T00:00:00Z') })]);
    await expectRefusedInHandshake(server, spiffeAuth(bBundle), opts({ now: () => new Date('2020-06-01T00:00:00Z') }));
  });

  it('refuses an SVID that is expired by the real clock too', async () => {
    const expired = await newLeaf(bRoot, ENDPOINT_ID, {
      notBefore: new Date('2020-01-01T00:00:00Z'),
      notAfter: new Date('2021-01-01T00:00:00Z'),
    });
    const server = await startServer([expired]);
    await expectRefusedInHandshake(server, spiffeAuth(bBundle));
  });

  it('refuses a certificate that is not an X509-SVID (DNS name only)', async () => {
    const dnsOnly = await newLeaf(bRoot, ENDPOINT_ID, { uris: [], dnsNames: ['localhost'] });
    const server = await startServer([dnsOnly]);
    await expectRefusedInHandshake(server, spiffeAuth(bBundle));
  });

  it('refuses a leaf that is a CA certificate carrying the endpoint ID', async () => {
    const caLeaf = await newLeaf(bRoot, ENDPOINT_ID, { ca: true, keyUsage: CA_KU | LEAF_KU });
    const server = await startServer([caLeaf]);
    await expectRefusedInHandshake(server, spiffeAuth(bBundle));
  });

  it('refuses at once, without connecting, when the bundle holds no X.509 authority', async () => {
    const server = await startServer([await newLeaf(bRoot, ENDPOINT_ID)]);
    const err = await refusal(fetchBundleDocument(server.url(), spiffeAuth(new X509Bundle(TrustDomain.parse('b.test'))), opts()));
    expect(err.code).toBe('UNAVAILABLE');
    expect(server.connections).toBe(0);
  });
});

describe('fetchBundleDocument, HTTP answers', () => {
  let root: TestCert;
  let leaf: TestCert;
  let auth: EndpointAuth;

  beforeAll(async () => {
    root = await newRootCa('b.test');
    leaf = await newLeaf(root, ENDPOINT_ID);
    auth = spiffeAuth(bundleOf('b.test', root));
  });

  it.each([404, 500, 302])('HTTP %i is UNAVAILABLE naming the status', async (status) => {
    const server = await startServer([leaf], (_req, res) => {
      res.writeHead(status, status === 302 ? { location: '/elsewhere' } : {});
      res.end('{"keys":[]}');
    });
    const err = await refusal(fetchBundleDocument(server.url(), auth, opts()));
    expect(err.code).toBe('UNAVAILABLE');
    expect(err.message).toContain(`HTTP ${status}`);
    expect(err.message).toContain(server.url().toString());
    expect(server.requests).toBe(1);
  });

  it('accepts a body of exactly maxBytes, refuses one byte more (UNAVAILABLE)', async () => {
    const server = await startServer([leaf], (req, res) => {
      res.writeHead(200);
      // Sent in pieces, as a large body would arrive.
      const size = req.url === '/big' ? 1001 : 1000;
      res.write('x'.repeat(500));
      res.end('y'.repeat(size - 500));
    });
    await expect(fetchBundleDocument(server.url('127.0.0.1', '/fits'), auth, opts({ maxBytes: 1000 }))).resolves.toHaveLength(
      1000,
    );
    const err = await refusal(fetchBundleDocument(server.url('127.0.0.1', '/big'), auth, opts({ maxBytes: 1000 })));
    expect(err.code).toBe('UNAVAILABLE');
    expect(err.message).toContain('1000 bytes');
  });

  it('stops reading an endless body once over maxBytes', async () => {
    const server = await startServer([leaf], (_req, res) => {
      res.writeHead(200);
      const chunk = 'z'.repeat(16 * 1024);
      const pump = (): void => {
        while (!res.destroyed && res.write(chunk));
        if (!res.destroyed) res.once('drain', pump);
      };
      res.on('error', () => undefined);
      pump();
    });
    const err = await refusal(fetchBundleDocument(server.url(), auth, opts({ maxBytes: 64 * 1024 })));
    expect(err.code).toBe('UNAVAILABLE');
  });

  it('refuses a body cut short (fewer bytes than its Content-Length), never returning the part received', async () => {
    const server = await startServer([leaf], (_req, res) => {
      res.writeHead(200, { 'content-length': '100' });
      res.write('{"keys":', () => res.destroy());
    });
    const err = await refusal(fetchBundleDocument(server.url(), auth, opts()));
    expect(err.code).toBe('UNAVAILABLE');
  });

  it('gives up on a server that never answers (UNAVAILABLE)', async () => {
    const server = await startServer([leaf], () => undefined);
    const err = await refusal(fetchBundleDocument(server.url(), auth, opts({ timeoutMs: 200 })));
    expect(err.code).toBe('UNAVAILABLE');
    expect(err.message).toContain('200 ms');
    expect(server.requests).toBe(1);
  });

  it('gives up on a server that answers a byte at a time, never finishing (UNAVAILABLE)', async () => {
    // Each byte comes well within the timeout: only a deadline on the whole fetch ends it.
    const timers: NodeJS.Timeout[] = [];
    const server = await startServer([leaf], (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.on('error', () => undefined);
      const t = setInterval(() => {
        if (res.destroyed) clearInterval(t);
        else res.write(' ');
      }, 50);
      timers.push(t);
    });
    try {
      const err = await refusal(fetchBundleDocument(server.url(), auth, opts({ timeoutMs: 500 })));
      expect(err.code).toBe('UNAVAILABLE');
    } finally {
      for (const t of timers) clearInterval(t);
    }
  });

  it('rejects when the signal aborts a pending fetch', async () => {
    const controller = new AbortController();
    const server = await startServer([leaf], () => controller.abort(new Error('shutting down')));
    await expect(fetchBundleDocument(server.url(), auth, opts({ signal: controller.signal }))).rejects.toThrow();
    expect(server.requests).toBe(1);
  });

  it('rejects at once with an already aborted signal, sending nothing', async () => {
    const server = await startServer([leaf]);
    const controller = new AbortController();
    controller.abort(new Error('shutting down'));
    await expect(fetchBundleDocument(server.url(), auth, opts({ signal: controller.signal }))).rejects.toThrow();
    await server.idle();
    expect(server.requests).toBe(0);
  });

  it('is UNAVAILABLE when nothing listens', async () => {
    const server = await startServer([leaf]);
    const url = server.url();
    await server.close();
    servers.splice(servers.indexOf(server), 1);
    const err = await refusal(fetchBundleDocument(url, auth, opts()));
    expect(err.code).toBe('UNAVAILABLE');
    expect(err.message).toContain(url.toString());
  });
});

/** A web PKI test CA and a server certificate for 127.0.0.1 and localhost (or the names given). */
describe('fetchBundleDocument, https_web', () => {
  it('refuses a server certificate from a CA outside the default trust store (UNAVAILABLE, nothing sent)', async () => {
    const { leaf } = await webCertificates({ dns: ['localhost'], ip: ['127.0.0.1'] });
    const server = await startServer([leaf]);
    await expectRefusedInHandshake(server, { profile: 'https_web' });
  });

  it('refuses an X509-SVID endpoint: SPIFFE roots are not web roots', async () => {
    const root = await newRootCa('b.test');
    const server = await startServer([await newLeaf(root, ENDPOINT_ID, { dnsNames: ['localhost'] })]);
    const err = await refusal(fetchBundleDocument(server.url('localhost'), { profile: 'https_web' }, opts()));
    expect(err.code).toBe('UNAVAILABLE');
    await server.idle();
    expect(server.requests).toBe(0);
  });

  describe('with the test CA in NODE_EXTRA_CA_CERTS (child process)', () => {
    const FETCH_TS = pathToFileURL(resolve(__dirname, '../../../src/server/federation/fetch.ts')).href;
    const SCRIPT = `
      const { fetchBundleDocument } = await import(${JSON.stringify(FETCH_TS)});
      const out = [];
      for (const url of JSON.parse(process.env.FETCH_URLS)) {
        try {
          const body = await fetchBundleDocument(new URL(url), { profile: 'https_web' }, { timeoutMs: 10000, maxBytes: 1 << 20, now: () => new Date() });
          out.push({ url, body });
        } catch (err) {
          out.push({ url, code: err.code, message: err.message });
        }
      }
      process.stdout.write(JSON.stringify(out));
    `;
    let dir: string;

    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'tessera-fetch-'));
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    function runChild(caPem: string, urls: URL[]): Promise<{ url: string; body?: string; code?: string; message?: string }[]> {
      const caFile = join(dir, `ca-${Math.random().toString(36).slice(2)}.pem`);
      writeFileSync(caFile, caPem);
      return new Promise((resolvePromise, reject) => {
        const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', SCRIPT], {
          cwd: resolve(__dirname, '../../..'),
          env: { ...process.env, NODE_EXTRA_CA_CERTS: caFile, FETCH_URLS: JSON.stringify(urls.map((u) => u.toString())) },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        child.on('error', reject);
        child.on('close', (code) => {
          if (code !== 0) reject(new Error(`child exited with ${code}: ${stderr}`));
          else resolvePromise(JSON.parse(stdout) as { url: string; body?: string; code?: string }[]);
        });
      });
    }

    it('accepts the endpoint by IP address and by DNS name, and still checks the host name', async () => {
      const good = await webCertificates({ dns: ['localhost'], ip: ['127.0.0.1'] });
      const server = await startServer([good.leaf]);
      // Same CA, but a certificate for another name: trusted chain, wrong host.
      const wrongName = await mintCertificate({
        subject: 'CN=other',
        issuer: good.ca,
        ca: false,
        keyUsage: px.KeyUsageFlags.digitalSignature,
        extKeyUsage: ['1.3.6.1.5.5.7.3.1'],
        dnsNames: ['other.test'],
      });
      const other = await startServer([wrongName]);
      const results = await runChild(good.ca.pem, [server.url('127.0.0.1'), server.url('localhost'), other.url('localhost')]);
      expect(results[0]).toEqual({ url: server.url('127.0.0.1').toString(), body: BODY });
      expect(results[1]).toEqual({ url: server.url('localhost').toString(), body: BODY });
      expect(results[2]).toMatchObject({ code: 'UNAVAILABLE' });
      expect(server.requests).toBe(2);
      await other.idle();
      expect(other.requests).toBe(0);
    });
  });
});
