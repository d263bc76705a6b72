import { X509Certificate } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CertificateAuthority } from '../../../src/server/ca/index.js';
import { SpiffeBundle } from '../../../src/spiffe/bundle/index.js';
import { SpiffeId, TrustDomain } from '../../../src/spiffe/id/index.js';
import { parseAndValidateJwtSvid, parseInsecureJwtSvid } from '../../../src/spiffe/jwtsvid/index.js';
import { parseX509Svid, verifyX509Svid } from '../../../src/spiffe/x509svid/index.js';
import { createHarness, DAY_SECONDS, HOUR, ISSUER, T0, TD, workloadId, workloadKey, type Harness } from './harness.js';

let h: Harness;
let ca: CertificateAuthority;
beforeEach(async () => {
  h = createHarness();
  ca = await h.open();
});
afterEach(() => h.close());

describe('X509-SVIDs', () => {
  it('issues leaf SVIDs that verify against the current bundle', () => {
    const svid = ca.signX509Svid({ spiffeId: workloadId(), publicKey: workloadKey(), ttlSeconds: 3600, dnsNames: ['w.local'] });
    expect(svid.chain).toHaveLength(1); // self-signed root: the root is in the bundle, not the chain
    const verified = verifyX509Svid(svid.chain, ca.currentBundle(), { now: h.clock.now() });
    expect(verified.spiffeId.toString()).toBe('spiffe://tessera.test/workload');
    expect(parseX509Svid(svid.chain).spiffeId.equals(workloadId())).toBe(true);
    expect(svid.notAfter.getTime()).toBe(T0 + 3600_000);
    expect(BigInt(`0x${new X509Certificate(svid.chain[0]!).serialNumber}`)).toBe(svid.serial);
  });

  it('signs agent SVIDs like any other X509-SVID', () => {
    const agent = SpiffeId.fromSegments(TD, 'tessera', 'agent', 'join_token', 'abc');
    const svid = ca.signX509Svid({ spiffeId: agent, publicKey: workloadKey(), ttlSeconds: 600 });
    expect(verifyX509Svid(svid.chain, ca.currentBundle(), { now: h.clock.now() }).spiffeId.equals(agent)).toBe(true);
  });

  it('caps the TTL at the CA certificate notAfter', () => {
    h.clock.set(ca.activeCaNotAfter().getTime() - HOUR / 2);
    const svid = ca.signX509Svid({ spiffeId: workloadId(), publicKey: workloadKey(), ttlSeconds: 10 * 3600 });
    expect(svid.notAfter.getTime()).toBe(ca.activeCaNotAfter().getTime());
  });

  it('refuses IDs of another trust domain and expired CAs', () => {
    const foreign = SpiffeId.fromSegments(TrustDomain.parse('other.test'), 'w');
    expect(() => ca.signX509Svid({ spiffeId: foreign, publicKey: workloadKey(), ttlSeconds: 60 })).toThrow(
      expect.objectContaining({ code: 'ERR_X509_ISSUE_INVALID' }),
    );
    h.clock.set(ca.activeCaNotAfter().getTime() + 1000); // no tick: the CA expired under our feet
    expect(() => ca.signX509Svid({ spiffeId: workloadId(), publicKey: workloadKey(), ttlSeconds: 60 })).toThrow(
      expect.objectContaining({ code: 'UNAVAILABLE' }),
    );
  });

  it('reports the active CA notAfter from its configured TTL', () => {
    expect(ca.activeCaNotAfter().getTime()).toBe(T0 + DAY_SECONDS * 1000);
  });
});

describe('JWT-SVIDs', () => {
  it('mints tokens that validate against the current bundle, with iss and a unique jti', async () => {
    const a = await ca.signJwtSvid({ spiffeId: workloadId(), audience: ['svc'], ttlSeconds: 300, extraClaims: { 'tessera/instance': 'i1' } });
    const b = await ca.signJwtSvid({ spiffeId: workloadId(), audience: ['svc'], ttlSeconds: 300 });
    const jwt = await parseAndValidateJwtSvid(a.token, ca.currentBundle(), ['svc'], { now: h.clock.now() });
    expect(jwt.spiffeId.equals(workloadId())).toBe(true);
    expect(jwt.claims).toMatchObject({ iss: ISSUER, jti: a.jti, 'tessera/instance': 'i1' });
    expect(a.jti).not.toBe(b.jti);
    expect(a.expiresAt.getTime()).toBe(T0 + 300_000);
    const header = JSON.parse(Buffer.from(a.token.split('.')[0]!, 'base64url').toString()) as Record<string, string>;
    expect(header).toEqual({ alg: 'ES256', kid: expect.stringMatching(/^[A-Za-z0-9_-]{32}$/), typ: 'JWT' });
  });

  it('omits iss when no issuer is configured', async () => {
    await h.close();
    h = createHarness();
    ca = await h.open({ jwt: { keyType: 'ec-p256', keyTtlSeconds: DAY_SECONDS } });
    const { token } = await ca.signJwtSvid({ spiffeId: workloadId(), audience: ['svc'], ttlSeconds: 60 });
    expect(parseInsecureJwtSvid(token, ['svc'], { now: h.clock.now() }).claims).not.toHaveProperty('iss');
  });

  it.each([
    ['ec-p384', 'ES384'],
    ['rsa-2048', 'RS256'],
  ] as const)('signs with %s keys as %s', async (keyType, alg) => {
    await h.close();
    h = createHarness();
    ca = await h.open({ jwt: { keyType, keyTtlSeconds: DAY_SECONDS } });
    const { token } = await ca.signJwtSvid({ spiffeId: workloadId(), audience: ['svc'], ttlSeconds: 60 });
    expect(JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()).alg).toBe(alg);
    await parseAndValidateJwtSvid(token, ca.currentBundle(), ['svc'], { now: h.clock.now() });
  });

  it('caps the TTL at the JWT key notAfter and refuses foreign subjects', async () => {
    h.clock.set(T0 + DAY_SECONDS * 1000 - 120_000);
    const { expiresAt } = await ca.signJwtSvid({ spiffeId: workloadId(), audience: ['svc'], ttlSeconds: 3600 });
    expect(expiresAt.getTime()).toBe(T0 + DAY_SECONDS * 1000);
    await expect(
      ca.signJwtSvid({ spiffeId: SpiffeId.parse('spiffe://other.test/w'), audience: ['svc'], ttlSeconds: 60 }),
    ).rejects.toMatchObject({ code: 'ERR_JWT_MINT_INVALID' });
  });
});

describe('bundle', () => {
  it('holds the CA certificate and the JWT key, a refresh hint and sequence 1, and is stored', async () => {
    const bundle = ca.currentBundle();
    expect(bundle.x509Bundle.x509Authorities).toHaveLength(1);
    expect(bundle.jwtBundle.jwtAuthorities.size).toBe(1);
    expect(bundle.sequenceNumber).toBe(1n);
    expect(bundle.refreshHintSeconds).toBe(3600); // a tenth of a day, clamped to 1 h
    const stored = await h.ds.bundles.get(TD.name);
    expect(stored?.sequence).toBe(1);
    expect(SpiffeBundle.parse(TD, stored!.document).equals(bundle)).toBe(true);
  });

  it('derives the refresh hint from the shorter lifetime', async () => {
    await h.close();
    h = createHarness();
    ca = await h.open({ ca: { keyType: 'ec-p384', ttlSeconds: DAY_SECONDS }, jwt: { keyType: 'ec-p256', keyTtlSeconds: 1200 } });
    expect(ca.currentBundle().refreshHintSeconds).toBe(120);
  });
});

describe('server SVID', () => {
  it('is spiffe://<td>/tessera/server with DNS SAN localhost, verifies, and matches its key', () => {
    const svid = ca.currentServerSvid();
    const leaf = new X509Certificate(svid.chain[0]!);
    expect(leaf.subjectAltName).toContain('URI:spiffe://tessera.test/tessera/server');
    expect(leaf.subjectAltName).toContain('DNS:localhost');
    expect(leaf.checkPrivateKey(svid.privateKey)).toBe(true);
    expect(verifyX509Svid(svid.chain, ca.currentBundle(), { now: h.clock.now() }).spiffeId.path).toBe('/tessera/server');
    expect(svid.notAfter.getTime()).toBe(T0 + 3600_000);
  });

  it('is renewed at half its life with a fresh key, and listeners are told', async () => {
    const first = ca.currentServerSvid();
    let calls = 0;
    const off = ca.onServerSvidChange(() => calls++);
    h.clock.advance(HOUR / 2 - 1000);
    await ca.tick();
    expect(calls).toBe(0);
    h.clock.advance(1000);
    await ca.tick();
    expect(calls).toBe(1);
    const second = ca.currentServerSvid();
    expect(second.privateKey.equals(first.privateKey)).toBe(false);
    expect(second.notAfter.getTime()).toBe(T0 + HOUR / 2 + HOUR);
    off();
    h.clock.advance(HOUR);
    await ca.tick();
    expect(calls).toBe(1);
  });
});

describe('health', () => {
  it('canSign() signs and verifies both kinds; activeCaNotAfter() is the active CA expiry', async () => {
    expect(await ca.canSign()).toBe(true);
    h.clock.set(ca.activeCaNotAfter().getTime() + 1000); // expired and not rotated (no tick)
    expect(await ca.canSign()).toBe(false);
  });
});

describe('timer', () => {
  it('start() arms an unref\'d timer and stop() clears it', async () => {
    const { vi } = await import('vitest');
    const spy = vi.spyOn(globalThis, 'setTimeout');
    try {
      ca.start();
      ca.start(); // idempotent
      expect(spy).toHaveBeenCalledTimes(1);
      const timer = spy.mock.results[0]!.value as NodeJS.Timeout;
      expect(timer.hasRef()).toBe(false);
    } finally {
      spy.mockRestore();
    }
    await ca.stop();
  });
});
