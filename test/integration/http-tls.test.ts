/**
 * The server's HTTP listener over TLS (`http.tls`): a `tessera server run` process with a certificate from a test CA
 * serves OIDC discovery, /keys and the health endpoints over HTTPS only, and jose's remote JWKS, trusting that CA,
 * validates a JWT-SVID the server minted.
 */
import 'reflect-metadata';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as px from '@peculiar/x509';
import { createRemoteJWKSet, customFetch, jwtVerify, type FetchImplementation } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OIDC_TD, startOidcServer, type OidcServer } from '../helpers/oidc-server.js';
import { CA_KU, LEAF_KU, mintCertificate, type TestCert } from '../helpers/test-ca.js';

const AUDIENCE = `spiffe://${OIDC_TD}/relying-party`;

let dir: string;
let webCa: TestCert;
let oidc: OidcServer;

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** GET over HTTPS trusting only the test CA. */
function get(url: string, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ca: webCa.pem, headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
  });
}

/** jose's fetch hook: node's https client trusting the test CA (global fetch has no per-call CA option). */
const trustingFetch: FetchImplementation = async (url, options) => {
  const headers: Record<string, string> = {};
  options.headers.forEach((value, key) => (headers[key] = value));
  const r = await get(url, headers);
  return new Response(r.body, { status: r.status, headers: { 'content-type': String(r.headers['content-type']) } });
};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tessera-http-tls-it-'));
  webCa = await mintCertificate({ subject: 'CN=Test OIDC CA', ca: true, keyUsage: CA_KU });
  const leaf = await mintCertificate({
    subject: 'CN=127.0.0.1',
    issuer: webCa,
    ca: false,
    keyUsage: LEAF_KU,
    extKeyUsage: ['1.3.6.1.5.5.7.3.1'],
    extensions: [new px.SubjectAlternativeNameExtension([{ type: 'ip', value: '127.0.0.1' }])],
  });
  writeFileSync(join(dir, 'oidc.crt'), leaf.pem + webCa.pem);
  writeFileSync(join(dir, 'oidc.key'), leaf.key.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  oidc = await startOidcServer({ tls: { certFile: join(dir, 'oidc.crt'), keyFile: join(dir, 'oidc.key') } });
}, 60_000);

afterAll(async () => {
  await oidc?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('http.tls', () => {
  it('serves OIDC discovery and /keys over HTTPS, certified by the configured certificate', async () => {
    expect(oidc.issuer).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const discovery = await get(`${oidc.issuer}/.well-known/openid-configuration`);
    expect(discovery.status).toBe(200);
    const doc = JSON.parse(discovery.body) as { issuer: string; jwks_uri: string };
    expect(doc).toMatchObject({ issuer: oidc.issuer, jwks_uri: `${oidc.issuer}/keys` });
    const keys = await get(doc.jwks_uri);
    expect(keys.status).toBe(200);
    expect(keys.headers['cache-control']).toMatch(/^public, max-age=\d+$/);
    expect((JSON.parse(keys.body) as { keys: unknown[] }).keys).toHaveLength(1);
  });

  it('serves /healthz and /readyz over HTTPS, and nothing over plain HTTP', async () => {
    expect((await get(`${oidc.issuer}/healthz`)).status).toBe(200);
    expect((await get(`${oidc.issuer}/readyz`)).status).toBe(200);
    const plain = oidc.issuer.replace(/^https:/, 'http:');
    await expect(fetch(`${plain}/healthz`)).rejects.toThrow();
  });

  it('refuses clients that do not trust the certificate', async () => {
    await expect(fetch(`${oidc.issuer}/keys`)).rejects.toThrow();
  });

  it('jose createRemoteJWKSet over HTTPS validates a JWT-SVID from this server', async () => {
    const entry = oidc.createEntry(`spiffe://${OIDC_TD}/agents/tls-client`);
    const token = await oidc.mint(entry, [AUDIENCE]);
    const jwks = createRemoteJWKSet(new URL(`${oidc.issuer}/keys`), { [customFetch]: trustingFetch });
    const { payload, protectedHeader } = await jwtVerify(token, jwks, { issuer: oidc.issuer, audience: AUDIENCE });
    expect(payload.sub).toBe(`spiffe://${OIDC_TD}/agents/tls-client`);
    expect(protectedHeader.kid).toEqual(expect.any(String));
  });
});
