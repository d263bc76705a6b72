/**
 * OIDC discovery and /keys on the HTTP listener, against a real CA on a fake clock: document shape, caching headers,
 * and rotation (a prepared key is served before it signs; a token of a retired key still validates from /keys).
 */
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/common/log.js';
import { startHttpServer, type RunningHttpServer } from '../../../src/common/http/health-server.js';
import type { CertificateAuthority } from '../../../src/server/ca/index.js';
import { jwksMaxAgeSeconds, oidcRoutes } from '../../../src/server/http/oidc-discovery.js';
import { createHarness, HOUR, ISSUER, T0, workloadId, type Harness } from '../ca/harness.js';

let h: Harness;
let ca: CertificateAuthority;
let http: RunningHttpServer;
let base: string;

async function start(issuer: string | null = ISSUER): Promise<void> {
  http = await startHttpServer({
    host: '127.0.0.1',
    port: 0,
    log: silentLogger(),
    metrics: new Registry(),
    ready: () => ({ ok: true }),
    routes: oidcRoutes({ bundle: ca, issuer: issuer ?? undefined, jwtKeyType: 'ec-p256' }),
  });
  base = `http://127.0.0.1:${http.address.port}`;
}

beforeEach(async () => {
  h = createHarness();
  ca = await h.open(); // JWT keys live one day: prepare at 12 h, activate at 20 h
});
afterEach(async () => {
  await http?.close();
  await h.close();
});

const at = async (ms: number) => {
  h.clock.set(ms);
  await ca.tick();
};
const keys = async () => (await (await fetch(`${base}/keys`)).json()) as JSONWebKeySet;
const kidOf = (token: string) =>
  (JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()) as { kid: string }).kid;
const mint = async () => (await ca.signJwtSvid({ spiffeId: workloadId(), audience: ['svc'], ttlSeconds: 86_400 })).token;
const verify = (token: string, jwks: JSONWebKeySet) =>
  jwtVerify(token, createLocalJWKSet(jwks), {
    issuer: ISSUER,
    audience: 'svc',
    currentDate: new Date(h.clock.now()),
  });

describe('OIDC discovery', () => {
  it('serves the discovery document for the configured issuer', async () => {
    await start(ISSUER + '/');
    const res = await fetch(`${base}/.well-known/openid-configuration`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(await res.json()).toEqual({
      issuer: ISSUER,
      jwks_uri: `${ISSUER}/keys`,
      id_token_signing_alg_values_supported: ['ES256'],
      subject_types_supported: ['public'],
      response_types_supported: ['id_token'],
      claims_supported: ['sub', 'aud', 'exp', 'iat', 'iss', 'jti'],
    });
  });

  it('answers 404 with a reason when no issuer is configured, but still serves /keys', async () => {
    await start(null);
    const res = await fetch(`${base}/.well-known/openid-configuration`);
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: string }).error).toMatch(/jwt\.issuer/);
    expect((await keys()).keys).toHaveLength(1);
  });

  it('serves /keys with kid, alg, use and the public parameters only, cacheable with an ETag', async () => {
    await start();
    const res = await fetch(`${base}/keys`);
    expect(res.status).toBe(200);
    const hint = ca.currentBundle().refreshHintSeconds!;
    expect(res.headers.get('cache-control')).toBe(`public, max-age=${jwksMaxAgeSeconds(hint)}`);
    expect(jwksMaxAgeSeconds(hint)).toBeLessThan(hint);
    const etag = res.headers.get('etag')!;
    expect(etag).toMatch(/^"[A-Za-z0-9_-]+"$/);
    const doc = (await res.json()) as JSONWebKeySet;
    const [kid] = ca.currentBundle().jwtBundle.jwtAuthorities.keys();
    expect(doc.keys).toHaveLength(1);
    expect(Object.keys(doc.keys[0]!).sort()).toEqual(['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']);
    expect(doc.keys[0]).toMatchObject({ kid, alg: 'ES256', use: 'sig', kty: 'EC', crv: 'P-256' });

    const again = await fetch(`${base}/keys`, { headers: { 'If-None-Match': `W/"other", ${etag}` } });
    expect(again.status).toBe(304);
    expect(again.headers.get('etag')).toBe(etag);
    expect(await again.text()).toBe('');
    expect((await fetch(`${base}/keys`, { headers: { 'If-None-Match': '"stale"' } })).status).toBe(200);
    const head = await fetch(`${base}/keys`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('etag')).toBe(etag);

    // A token the CA signs validates with jose against the served JWKS.
    const { payload } = await verify(await mint(), doc);
    expect(payload.sub).toBe(workloadId().toString());
  });

  it('serves a prepared key before it signs, and keeps a retired key while its tokens are valid', async () => {
    await start();
    const first = await keys();
    expect(first.keys).toHaveLength(1);
    const firstKid = first.keys[0]!.kid!;
    const etagBefore = (await fetch(`${base}/keys`)).headers.get('etag');

    // Half-life: the next key is published in /keys (ETag changes) while the old one still signs.
    await at(T0 + 12 * HOUR);
    const prepared = await keys();
    expect(prepared.keys).toHaveLength(2);
    const nextKid = prepared.keys.map((k) => k.kid!).find((k) => k !== firstKid)!;
    expect((await fetch(`${base}/keys`)).headers.get('etag')).not.toBe(etagBefore);
    expect(kidOf(await mint())).toBe(firstKid);

    // Just before activation: a token of the old key, valid until the old key's expiry.
    await at(T0 + 20 * HOUR - 1000);
    const oldToken = await mint();
    expect(kidOf(oldToken)).toBe(firstKid);

    // Activation: the new key signs; a relying party holding the JWKS fetched at prepare time accepts its tokens.
    await at(T0 + 20 * HOUR);
    const newToken = await mint();
    expect(kidOf(newToken)).toBe(nextKid);
    await verify(newToken, prepared);

    // Later (old key retired, not yet expired): /keys still has it and the old token validates from it.
    await at(T0 + 23 * HOUR);
    const later = await keys();
    expect(later.keys.map((k) => k.kid).sort()).toEqual([firstKid, nextKid].sort());
    await verify(oldToken, later);
    await verify(newToken, later);
  });
});
