import { createPublicKey, generateKeyPairSync, type JsonWebKey } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { JwtBundle } from '../../../src/spiffe/bundle/index.js';
import { TrustDomain } from '../../../src/spiffe/id/index.js';
import { makeSelfSignedCa } from './local-ca.js';
import { vector } from './vectors.js';

const td = TrustDomain.parse('example.org');
const malformed = expect.objectContaining({ code: 'ERR_BUNDLE_MALFORMED' });

const ecJwk = (crv: 'P-256' | 'P-384' | 'P-521' = 'P-256'): JsonWebKey =>
  generateKeyPairSync('ec', { namedCurve: crv }).publicKey.export({ format: 'jwk' });
const jwks = (...keys: unknown[]): string => JSON.stringify({ keys });

describe('JwtBundle.parseJwks on the go-spiffe jwtbundle vectors', () => {
  it.each([
    ['jwks_valid_1.json', ['C6vs25welZOx6WksNYfbMfiw9l96pMnD']],
    ['jwks_valid_2.json', ['C6vs25welZOx6WksNYfbMfiw9l96pMnD', 'gHTCunJbefYtnZnTctd84xeRWyMrEsWD']],
  ])('%s is accepted with its key IDs', (file, kids) => {
    const bundle = JwtBundle.parseJwks(td, vector('jwtbundle', file));
    expect([...bundle.jwtAuthorities.keys()]).toEqual(kids);
  });

  it('jwks_missing_kid.json is refused, naming authority 1', () => {
    expect(() => JwtBundle.parseJwks(td, vector('jwtbundle', 'jwks_missing_kid.json'))).toThrow(
      expect.objectContaining({ code: 'ERR_BUNDLE_MALFORMED', rule: 'jwt-kid-missing', message: expect.stringContaining('key 1') }),
    );
  });

  it('empty input is refused', () => {
    expect(() => JwtBundle.parseJwks(td, '')).toThrow(malformed);
    expect(() => JwtBundle.parseJwks(td, new Uint8Array())).toThrow(malformed);
  });
});

describe('JwtBundle.parseJwks key strictness (as go-jose)', () => {
  const good = { ...ecJwk(), kid: 'k1' };
  const p256 = ecJwk();
  const shortX = { ...p256, kid: 'k', x: Buffer.from(p256.x!, 'base64url').subarray(1).toString('base64url') };
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ format: 'jwk' });
  const ed = generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' });

  it.each<[string, unknown, string]>([
    ['unknown kty', { kid: 'k', kty: 'XYZ', x: 'AA' }, 'jwk-kty-unsupported'],
    ['symmetric kty oct', { kid: 'k', kty: 'oct', k: 'c2VjcmV0' }, 'jwk-private'],
    ['missing kty', { kid: 'k', crv: 'P-256', x: p256.x, y: p256.y }, 'jwk-kty-missing'],
    ['EC x one byte short', shortX, 'jwk-ec-coordinate-length'],
    ['EC point off the curve', { ...p256, kid: 'k', y: p256.x }, 'jwk-key-invalid'],
    ['EC curve not in JOSE', { ...p256, kid: 'k', crv: 'P-192' }, 'jwk-crv-unsupported'],
    ['EC coordinate missing', { kty: 'EC', crv: 'P-256', kid: 'k', x: p256.x }, 'jwk-param-missing'],
    ['EC coordinate padded base64', { ...p256, kid: 'k', x: p256.x + '=' }, 'jwk-param-encoding'],
    ['private EC member d', { ...generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' }), kid: 'k' }, 'jwk-private'],
    ['RSA without e', { kty: 'RSA', kid: 'k', n: rsa.n }, 'jwk-param-missing'],
    ['OKP on X25519', { kty: 'OKP', crv: 'X25519', kid: 'k', x: ed.x }, 'jwk-crv-unsupported'],
    ['kid that is not a string', { ...p256, kid: 7 }, 'jwk-kid-type'],
    ['empty kid', { ...p256, kid: '' }, 'jwt-kid-missing'],
    ['key that is not an object', 'EC', 'jwk-object'],
    ['repeated kid', good, 'jwt-kid-duplicate'],
  ])('%s → ERR_BUNDLE_MALFORMED (%s)', (_name, key, rule) => {
    expect(() => JwtBundle.parseJwks(td, jwks(good, key))).toThrow(
      expect.objectContaining({ code: 'ERR_BUNDLE_MALFORMED', rule }),
    );
  });

  it.each<[string, string]>([
    ['no keys member', '{}'],
    ['keys not an array', '{"keys":{}}'],
    ['top level not an object', '[]'],
    ['not JSON', '{"keys":['],
  ])('%s → ERR_BUNDLE_MALFORMED', (_name, text) => {
    expect(() => JwtBundle.parseJwks(td, text)).toThrow(malformed);
  });

  it('accepts EC P-256/P-384/P-521, RSA and Ed25519 keys and ignores use', () => {
    const keys = [
      { ...ecJwk('P-256'), kid: 'a', use: 'jwt-svid' },
      { ...ecJwk('P-384'), kid: 'b', use: 'sig' },
      { ...ecJwk('P-521'), kid: 'c' },
      { ...rsa, kid: 'd', use: 'x509-svid' },
      { ...ed, kid: 'e' },
    ];
    const bundle = JwtBundle.parseJwks(td, new TextEncoder().encode(jwks(...keys)));
    expect([...bundle.jwtAuthorities.keys()]).toEqual(['a', 'b', 'c', 'd', 'e']);
  });

  it('checks an x5c certificate against the key parameters', async () => {
    const ca = await makeSelfSignedCa('P-256');
    const x5c = [Buffer.from(ca.der).toString('base64')];
    const matching = { ...ca.publicKey.export({ format: 'jwk' }), kid: 'x', x5c };
    expect(JwtBundle.parseJwks(td, jwks(matching)).findJwtAuthority('x')).toBeDefined();
    expect(() => JwtBundle.parseJwks(td, jwks({ ...ecJwk(), kid: 'x', x5c }))).toThrow(
      expect.objectContaining({ code: 'ERR_BUNDLE_MALFORMED', rule: 'x5c-key-mismatch' }),
    );
  });
});

describe('JwtBundle.toJwks', () => {
  it('writes a plain JWKS that parses back to the same authorities', () => {
    const original = JwtBundle.parseJwks(td, vector('jwtbundle', 'jwks_valid_2.json'));
    const text = original.toJwks();
    const doc = JSON.parse(text) as { keys: Record<string, unknown>[] };
    expect(Object.keys(doc)).toEqual(['keys']);
    for (const k of doc.keys) {
      expect(Object.keys(k)).toEqual(['kty', 'kid', 'crv', 'x', 'y']);
    }
    const again = JwtBundle.parseJwks(td, text);
    for (const [kid, a] of original.jwtAuthorities) expect(again.findJwtAuthority(kid)!.key.equals(a.key)).toBe(true);
    expect(again.jwtAuthorities.size).toBe(2);
  });

  it('writes RSA keys as n and e', () => {
    const b = new JwtBundle(td);
    b.addAuthority('r', generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey);
    const [key] = (JSON.parse(b.toJwks()) as { keys: Record<string, unknown>[] }).keys;
    expect(Object.keys(key!)).toEqual(['kty', 'kid', 'n', 'e']);
    expect(createPublicKey({ key: key as JsonWebKey, format: 'jwk' }).equals(b.findJwtAuthority('r')!.key)).toBe(true);
  });

  it('an empty bundle is {"keys":[]}', () => {
    expect(new JwtBundle(td).toJwks()).toBe('{"keys":[]}');
  });
});
