/**
 * The SPIFFE bundle endpoint of a running `tessera server run` (SPIFFE Federation): both profiles, fetched by node's
 * https client and by go-spiffe's federation.FetchBundle (test/interop TestFederationFetchBundle).
 */
import 'reflect-metadata';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as https from 'node:https';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as px from '@peculiar/x509';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseServerConfig } from '../../src/server/config.js';
import { SpiffeBundle } from '../../src/spiffe/bundle/index.js';
import { findGo } from '../helpers/go.js';
import { runCli, startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { webCertificates, type TestCert } from '../helpers/test-ca.js';

const TD = 'example.org';
const SERVER_ID = `spiffe://${TD}/tessera/server`;
const INTEROP_DIR = fileURLToPath(new URL('../interop/', import.meta.url));

let dir: string;
let spiffeServer: ServerProcess;
let webServer: ServerProcess;
let webCa: TestCert;

function baseConfig(): Record<string, unknown> {
  return {
    trustDomain: TD,
    dataDir: './data',
    agentApi: { listen: '127.0.0.1:0' },
    http: { listen: '127.0.0.1:0' },
  };
}

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  peerCert: Buffer;
}

function request(address: string, opts: { method?: string; path?: string; ca?: string; headers?: Record<string, string> } = {}): Promise<Reply> {
  const [host, port] = [address.slice(0, address.lastIndexOf(':')), Number(address.slice(address.lastIndexOf(':') + 1))];
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host,
        port,
        method: opts.method ?? 'GET',
        path: opts.path ?? '/',
        headers: opts.headers,
        agent: false,
        ...(opts.ca ? { ca: opts.ca, servername: 'localhost' } : { rejectUnauthorized: false }),
      },
      (res) => {
        const peerCert = (res.socket as import('node:tls').TLSSocket).getPeerCertificate().raw;
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, peerCert }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

function servedSpiffeBundle(server: ServerProcess): string {
  const r = runCli(['bundle', 'show', '--format', 'spiffe', '--socket', server.adminSocket]);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout;
}

function bundlePem(server: ServerProcess): string {
  const r = runCli(['bundle', 'show', '--socket', server.adminSocket]);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout;
}

/** Runs go-spiffe's federation.FetchBundle against the endpoint; returns the `go test` result. */
function goFetch(env: Record<string, string>): { status: number | null; output: string } {
  const go = findGo();
  expect(go, 'go toolchain').toBeDefined();
  const run = spawnSync(go!, ['test', '-count=1', '-v', '-run', '^TestFederationFetchBundle$', './...'], {
    cwd: INTEROP_DIR,
    encoding: 'utf8',
    env: { ...process.env, ...env, PATH: `${dirname(go!)}${delimiter}${process.env['PATH'] ?? ''}` },
    timeout: 10 * 60_000,
  });
  return { status: run.status, output: run.stdout + run.stderr };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tessera-bundle-endpoint-it-'));
  const spiffeDir = join(dir, 'spiffe');
  const webDir = join(dir, 'web');
  mkdirSync(spiffeDir);
  mkdirSync(webDir);

  const web = await webCertificates();
  webCa = web.ca;
  writeFileSync(join(dir, 'web-ca.pem'), webCa.pem);
  writeFileSync(join(webDir, 'web.crt'), web.chainPem);
  writeFileSync(join(webDir, 'web.key'), web.keyPem, { mode: 0o600 });

  [spiffeServer, webServer] = await Promise.all([
    startServerProcess(spiffeDir, { ...baseConfig(), bundleEndpoint: { listen: '127.0.0.1:0', profile: 'https_spiffe' } }),
    startServerProcess(webDir, {
      ...baseConfig(),
      bundleEndpoint: { listen: '127.0.0.1:0', profile: 'https_web', certFile: './web.crt', keyFile: './web.key', path: '/bundle' },
    }),
  ]);
}, 60_000);

afterAll(async () => {
  await Promise.all([spiffeServer?.stop(), webServer?.stop()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('SPIFFE bundle endpoint', () => {
  it('logs its bound address in "Server ready"', () => {
    expect(spiffeServer.bundleEndpoint).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(webServer.bundleEndpoint).toMatch(/^127\.0\.0\.1:\d+$/);
  });

  it('https_spiffe: serves the bundle with the server X509-SVID, cache headers and ETag', async () => {
    const r = await request(spiffeServer.bundleEndpoint!);
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('application/json');
    const bundle = SpiffeBundle.parse(TD, r.body);
    const served = SpiffeBundle.parse(TD, servedSpiffeBundle(spiffeServer));
    expect(bundle.marshal()).toBe(served.marshal());
    const maxAge = Number(/max-age=(\d+)/.exec(String(r.headers['cache-control']))?.[1]);
    expect(maxAge).toBeGreaterThan(0);
    expect(maxAge).toBeLessThanOrEqual(bundle.refreshHintSeconds ?? 300);
    const etag = String(r.headers['etag']);
    expect(etag).toMatch(/^".+"$/);
    const again = await request(spiffeServer.bundleEndpoint!, { headers: { 'If-None-Match': etag } });
    expect(again.status).toBe(304);
    const head = await request(spiffeServer.bundleEndpoint!, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.body).toBe('');
    // The presented certificate is the server's X509-SVID.
    const cert = new px.X509Certificate(new Uint8Array(r.peerCert));
    const san = cert.getExtension(px.SubjectAlternativeNameExtension);
    expect(san?.names.items.map((n) => n.value)).toContain(SERVER_ID);
  });

  it('https_spiffe: go-spiffe federation.FetchBundle with WithSPIFFEAuth fetches the served bundle', () => {
    writeFileSync(join(dir, 'trust.pem'), bundlePem(spiffeServer));
    writeFileSync(join(dir, 'expected-spiffe.json'), servedSpiffeBundle(spiffeServer));
    const common = {
      TESSERA_BUNDLE_URL: `https://${spiffeServer.bundleEndpoint}/`,
      TESSERA_BUNDLE_TD: TD,
      TESSERA_BUNDLE_PROFILE: 'https_spiffe',
      TESSERA_BUNDLE_PEM: join(dir, 'trust.pem'),
      TESSERA_EXPECTED_BUNDLE: join(dir, 'expected-spiffe.json'),
    };
    const ok = goFetch({ ...common, TESSERA_ENDPOINT_ID: SERVER_ID, TESSERA_FEDERATION_EXPECT: 'ok' });
    expect(ok.status, ok.output).toBe(0);
    expect(ok.output).toContain('--- PASS: TestFederationFetchBundle');
    // A client expecting another endpoint SPIFFE ID refuses the connection.
    const wrong = goFetch({ ...common, TESSERA_ENDPOINT_ID: `spiffe://${TD}/not/the/server`, TESSERA_FEDERATION_EXPECT: 'refused' });
    expect(wrong.status, wrong.output).toBe(0);
    expect(wrong.output).toContain('refused as expected');
    expect(wrong.output).toMatch(/unexpected ID/i);
  }, 10 * 60_000);

  it('https_web: serves the bundle with the configured web certificate at the configured path', async () => {
    const r = await request(webServer.bundleEndpoint!, { path: '/bundle', ca: webCa.pem });
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('application/json');
    const bundle = SpiffeBundle.parse(TD, r.body);
    expect(bundle.marshal()).toBe(SpiffeBundle.parse(TD, servedSpiffeBundle(webServer)).marshal());
    expect(bundle.x509Bundle.x509Authorities.length).toBeGreaterThan(0);
    expect((await request(webServer.bundleEndpoint!, { path: '/', ca: webCa.pem })).status).toBe(404);
  });

  it('https_web: go-spiffe federation.FetchBundle with WithWebPKIRoots fetches the served bundle', () => {
    writeFileSync(join(dir, 'expected-web.json'), servedSpiffeBundle(webServer));
    const ok = goFetch({
      TESSERA_BUNDLE_URL: `https://${webServer.bundleEndpoint}/bundle`,
      TESSERA_BUNDLE_TD: TD,
      TESSERA_BUNDLE_PROFILE: 'https_web',
      TESSERA_BUNDLE_PEM: join(dir, 'web-ca.pem'),
      TESSERA_EXPECTED_BUNDLE: join(dir, 'expected-web.json'),
      TESSERA_FEDERATION_EXPECT: 'ok',
    });
    expect(ok.status, ok.output).toBe(0);
    expect(ok.output).toContain('--- PASS: TestFederationFetchBundle');
  }, 10 * 60_000);

  it('answers 405 to POST', async () => {
    const r = await request(spiffeServer.bundleEndpoint!, { method: 'POST' });
    expect(r.status).toBe(405);
    expect(r.headers['allow']).toBe('GET, HEAD');
  });
});

describe('bundleEndpoint configuration', () => {
  it.each([
    [{ profile: 'https_web', keyFile: 'k.pem' }, /bundleEndpoint\.certFile must be configured/],
    [{ profile: 'https_web', certFile: 'c.pem' }, /bundleEndpoint\.keyFile must be configured/],
    [{ profile: 'https_spiffe', certFile: 'c.pem' }, /bundleEndpoint\.certFile is only for profile https_web/],
    [{ profile: 'https_tls' }, /bundleEndpoint\.profile/],
    [{}, /bundleEndpoint\.profile must be configured/],
    [{ profile: 'https_spiffe', listen: 'nope' }, /bundleEndpoint\.listen must be "host:port"/],
    [{ profile: 'https_spiffe', path: 'bundle' }, /bundleEndpoint\.path must start with "\/"/],
  ])('refuses %j naming the setting', (bundleEndpoint, message) => {
    expect(() => parseServerConfig({ trustDomain: TD, bundleEndpoint }, '/etc/tessera')).toThrow(message);
  });

  it('defaults listen and path and resolves the web files', () => {
    const cfg = parseServerConfig({ trustDomain: TD, bundleEndpoint: { profile: 'https_web', certFile: 'c.pem', keyFile: 'k.pem' } }, '/etc/tessera');
    expect(cfg.bundleEndpoint).toEqual({
      listen: '127.0.0.1:8443',
      profile: 'https_web',
      certFile: '/etc/tessera/c.pem',
      keyFile: '/etc/tessera/k.pem',
      path: '/',
      maxConnections: 1024,
      maxConnectionsPerAddress: 256,
      handshakeTimeoutMs: 10_000,
      headersTimeoutMs: 10_000,
      idleTimeoutMs: 5_000,
    });
    expect(parseServerConfig({ trustDomain: TD }, '/etc/tessera').bundleEndpoint).toBeUndefined();
  });

  it('a missing certFile file stops the server at start', async () => {
    const d = mkdtempSync(join(tmpdir(), 'tessera-bundle-endpoint-bad-'));
    try {
      writeFileSync(join(d, 'web.key'), 'x');
      await expect(
        startServerProcess(d, { ...baseConfig(), bundleEndpoint: { listen: '127.0.0.1:0', profile: 'https_web', certFile: './missing.crt', keyFile: './web.key' } }),
      ).rejects.toThrow(/bundleEndpoint\.certFile \S*missing\.crt cannot be read/);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  }, 60_000);
});
