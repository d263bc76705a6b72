import { generateKeyPairSync } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { describe, expect, it } from 'vitest';
import { JwtBundle } from '../../../src/spiffe/bundle/index.js';
import { SpiffeId, TrustDomain } from '../../../src/spiffe/id/index.js';
import {
  mintJwtSvid,
  parseAndValidateJwtSvid,
  type JwtSvidAlgorithm,
  type MintJwtSvidParams,
} from '../../../src/spiffe/jwtsvid/index.js';
import { keyFor } from './fixtures.js';

const td = TrustDomain.parse('example.org');
const spiffeId = SpiffeId.parse('spiffe://example.org/agent/worker-1');
const now = new Date('2026-03-01T12:00:00.750Z');
const es256 = keyFor('ES256', 'main');

const params = (over: Partial<MintJwtSvidParams> = {}): MintJwtSvidParams => ({
  spiffeId,
  audience: ['svc-a'],
  key: { kid: es256.kid, privateKey: es256.privateKey },
  now,
  ttlSeconds: 300,
  ...over,
});

describe('mintJwtSvid round trip', () => {
  it.each<JwtSvidAlgorithm>(['ES256', 'ES384', 'RS256', 'PS256'])('%s mints a token that validates', async (alg) => {
    const key = keyFor(alg);
    const bundle = new JwtBundle(td);
    bundle.addAuthority(key.kid, key.publicKey);
    const token = await mintJwtSvid(
      params({ key: { kid: key.kid, privateKey: key.privateKey, alg }, audience: ['svc-a', 'svc-b'], issuer: 'https://issuer.test' }),
    );
    const svid = await parseAndValidateJwtSvid(token, bundle, ['svc-b'], { now });
    expect(svid.spiffeId.equals(spiffeId)).toBe(true);
    expect(svid.audience).toEqual(['svc-a', 'svc-b']);
    expect(svid.expiry.toISOString()).toBe('2026-03-01T12:05:00.000Z');
    expect(svid.issuedAt!.toISOString()).toBe('2026-03-01T12:00:00.000Z');
    expect(svid.header).toEqual({ alg, kid: key.kid, typ: 'JWT' });
    expect(svid.claims['iss']).toBe('https://issuer.test');
    expect(svid.token).toBe(token);
  });
});

describe('mintJwtSvid output', () => {
  it('has exactly the header {alg, kid, typ} and ES256 by default', async () => {
    const token = await mintJwtSvid(params());
    expect(decodeProtectedHeader(token)).toEqual({ alg: 'ES256', kid: 'main', typ: 'JWT' });
  });

  it('writes sub, aud as an array, exp, iat, jti and extra claims', async () => {
    const token = await mintJwtSvid(params({ jti: 'fixed', extraClaims: { 'tessera/instance': 'i-1' } }));
    const claims = decodeJwt(token);
    expect(claims).toEqual({
      sub: 'spiffe://example.org/agent/worker-1',
      aud: ['svc-a'],
      exp: 1772366700,
      iat: 1772366400,
      jti: 'fixed',
      'tessera/instance': 'i-1',
    });
    expect(Object.keys(claims)).toEqual(['sub', 'aud', 'exp', 'iat', 'jti', 'tessera/instance']);
  });

  it('gives a unique random 128-bit jti to each of 1,000 tokens', async () => {
    const tokens = await Promise.all(Array.from({ length: 1000 }, () => mintJwtSvid(params())));
    const jtis = tokens.map((t) => decodeJwt(t).jti as string);
    expect(new Set(jtis).size).toBe(1000);
    for (const jti of jtis) expect(Buffer.from(jti, 'base64url')).toHaveLength(16);
  });
});

describe('mintJwtSvid refuses bad input', () => {
  const p384 = keyFor('ES384');
  const rsa = keyFor('RS256');
  const rsa1024 = generateKeyPairSync('rsa', { modulusLength: 1024 });
  const ed = generateKeyPairSync('ed25519');
  const key = (privateKey: unknown, alg?: string) =>
    ({ kid: 'k', privateKey, ...(alg && { alg }) }) as unknown as MintJwtSvidParams['key'];

  it.each<[string, Partial<MintJwtSvidParams>, string]>([
    ['empty audience', { audience: [] }, 'audience-empty'],
    ['empty audience string', { audience: ['ok', ''] }, 'audience-invalid'],
    ['non-string audience', { audience: [7 as unknown as string] }, 'audience-invalid'],
    ['empty kid', { key: { kid: '', privateKey: es256.privateKey } }, 'kid-empty'],
    ['ES256 with a P-384 key', { key: key(p384.privateKey) }, 'key-algorithm-mismatch'],
    ['ES384 with a P-256 key', { key: key(es256.privateKey, 'ES384') }, 'key-algorithm-mismatch'],
    ['RS256 with an EC key', { key: key(es256.privateKey, 'RS256') }, 'key-algorithm-mismatch'],
    ['PS256 with an EC key', { key: key(es256.privateKey, 'PS256') }, 'key-algorithm-mismatch'],
    ['ES256 with an RSA key', { key: key(rsa.privateKey, 'ES256') }, 'key-algorithm-mismatch'],
    ['RS256 with RSA-1024', { key: key(rsa1024.privateKey, 'RS256') }, 'key-algorithm-mismatch'],
    ['PS256 with RSA-1024', { key: key(rsa1024.privateKey, 'PS256') }, 'key-algorithm-mismatch'],
    ['EdDSA', { key: key(ed.privateKey, 'EdDSA') }, 'alg-unsupported'],
    ['HS256', { key: key(es256.privateKey, 'HS256') }, 'alg-unsupported'],
    ['none', { key: key(es256.privateKey, 'none') }, 'alg-unsupported'],
    ['a public key', { key: key(es256.publicKey) }, 'key-not-private'],
    ['a secret key', { key: key(Buffer.from('secret')) }, 'key-not-private'],
    ['zero ttl', { ttlSeconds: 0 }, 'ttl'],
    ['negative ttl', { ttlSeconds: -5 }, 'ttl'],
    ['fractional ttl', { ttlSeconds: 1.5 }, 'ttl'],
    ['empty jti', { jti: '' }, 'jti'],
    ['empty issuer', { issuer: '' }, 'issuer'],
    ['extra claim overriding sub', { extraClaims: { sub: 'spiffe://evil.test/x' } }, 'extra-claim-registered'],
    ['extra claim overriding exp', { extraClaims: { exp: 1 } }, 'extra-claim-registered'],
    ['extra claim nbf', { extraClaims: { nbf: 1 } }, 'extra-claim-registered'],
    ['extra claims not JSON', { extraClaims: { big: 1n } }, 'extra-claims-json'],
  ])('%s → ERR_JWT_MINT_INVALID (%s)', async (_name, over, rule) => {
    await expect(mintJwtSvid(params(over))).rejects.toMatchObject({ code: 'ERR_JWT_MINT_INVALID', rule });
  });

  it('throws TypeError for a missing SpiffeId or Date', async () => {
    await expect(mintJwtSvid(params({ spiffeId: 'spiffe://example.org/x' as unknown as SpiffeId }))).rejects.toThrow(TypeError);
    await expect(mintJwtSvid(params({ now: new Date(NaN) }))).rejects.toThrow(TypeError);
  });
});
