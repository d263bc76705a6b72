import { generateKeyPairSync } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { MAX_SPIFFE_SEQUENCE, SpiffeBundle } from '../../../src/spiffe/bundle/index.js';
import { TrustDomain } from '../../../src/spiffe/id/index.js';
import { makeSelfSignedCa, type LocalCa } from './local-ca.js';
import { vector } from './vectors.js';

const td = TrustDomain.parse('domain.test');
const file = (name: string): Buffer => vector('spiffebundle', name);
type Doc = { keys: Record<string, unknown>[]; [member: string]: unknown };
const doc = (name: string): Doc => JSON.parse(file(name).toString('utf8')) as Doc;
const malformed = (rule: string): unknown => expect.objectContaining({ code: 'ERR_BUNDLE_MALFORMED', rule });

describe('SpiffeBundle.parse on the go-spiffe spiffebundle vectors', () => {
  it.each<[string, number, number, number | undefined, bigint | undefined]>([
    ['spiffebundle_valid_1.json', 1, 1, undefined, undefined],
    ['spiffebundle_valid_2.json', 1, 6, 60, 1n],
    ['spiffebundle_valid_with_wit.json', 1, 2, 60, 1n],
  ])('%s → %i X.509 and %i JWT authorities', (name, x509Count, jwtCount, hint, seq) => {
    const b = SpiffeBundle.parse(td, file(name));
    expect(b.x509Bundle.x509Authorities).toHaveLength(x509Count);
    expect(b.jwtBundle.jwtAuthorities.size).toBe(jwtCount);
    expect(b.refreshHintSeconds).toBe(hint);
    expect(b.sequenceNumber).toBe(seq);
    expect(b.trustDomain.equals(td)).toBe(true);
  });

  it.each([
    ['spiffebundle_missing_kid.json', 'jwt-kid-missing'],
    ['spiffebundle_no_keys.json', 'keys-missing'],
    ['spiffebundle_multiple_x509.json', 'x509-x5c-count'],
  ])('%s is refused (%s)', (name, rule) => {
    expect(() => SpiffeBundle.parse(td, file(name))).toThrow(malformed(rule));
  });

  it('empty input is refused', () => {
    expect(() => SpiffeBundle.parse(td, '')).toThrow(malformed('json'));
  });

  it('names the entry that lacks a kid', () => {
    expect(() => SpiffeBundle.parse(td, file('spiffebundle_missing_kid.json'))).toThrow(
      expect.objectContaining({ message: expect.stringContaining('key 1') }),
    );
  });

  it('answers lookups only for its own trust domain', () => {
    const b = SpiffeBundle.parse(td, file('spiffebundle_valid_1.json'));
    expect(b.getX509BundleForTrustDomain(td)).toBe(b.x509Bundle);
    expect(b.getJwtBundleForTrustDomain(td)).toBe(b.jwtBundle);
    const other = TrustDomain.parse('domain2.test');
    expect(() => b.getX509BundleForTrustDomain(other)).toThrow(expect.objectContaining({ code: 'ERR_BUNDLE_NOT_FOUND' }));
    expect(() => b.getJwtBundleForTrustDomain(other)).toThrow(expect.objectContaining({ code: 'ERR_BUNDLE_NOT_FOUND' }));
  });
});

describe('SpiffeBundle.parse rules', () => {
  const base = doc('spiffebundle_valid_1.json');
  const x509Entry = base.keys[0]!;
  const jwtEntry = base.keys[1]!;
  const withKeys = (...keys: unknown[]): string => JSON.stringify({ keys });
  const other = generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey.export({ format: 'jwk' });

  it.each<[string, string, string]>([
    ['x509-svid entry without x5c', withKeys({ ...x509Entry, x5c: undefined }), 'x509-x5c-count'],
    ['x509-svid entry with empty x5c', withKeys({ ...x509Entry, x5c: [] }), 'x509-x5c-count'],
    ['x5c key differs from the JWK', withKeys({ ...x509Entry, x: other.x, y: other.y }), 'x5c-key-mismatch'],
    [
      'x5c in url-safe base64',
      withKeys({ ...x509Entry, x5c: [(x509Entry['x5c'] as string[])[0]!.replace(/\+/g, '-').replace(/\//g, '_')] }),
      'x5c-encoding',
    ],
    ['x5c not a certificate', withKeys({ ...x509Entry, x5c: ['Q09SUlVQVA=='] }), 'certificate-der'],
    ['x5c not an array', withKeys({ ...x509Entry, x5c: (x509Entry['x5c'] as string[])[0] }), 'x5c-type'],
    ['unknown kty, even with an unknown use', withKeys({ kty: 'XYZ', use: 'something' }), 'jwk-kty-unsupported'],
    ['jwt-svid entry with empty kid', withKeys({ ...jwtEntry, kid: '' }), 'jwt-kid-missing'],
    ['wit-svid entry without kid', withKeys({ ...jwtEntry, kid: undefined, use: 'wit-svid' }), 'jwt-kid-missing'],
    ['two jwt-svid entries with one kid', withKeys(jwtEntry, jwtEntry), 'jwt-kid-duplicate'],
    ['use that is not a string', withKeys({ ...jwtEntry, use: 1 }), 'jwk-use-type'],
    ['keys null', '{"keys":null}', 'keys-missing'],
    ['keys not an array', '{"keys":"x"}', 'keys-type'],
    ['a JSON array', '[]', 'json-object'],
    ['not JSON (a NUL character)', '\u0000', 'json'],
    ['negative sequence', '{"keys":[],"spiffe_sequence":-1}', 'sequence-invalid'],
    ['fractional sequence', '{"keys":[],"spiffe_sequence":1.5}', 'sequence-invalid'],
    ['exponent sequence', '{"keys":[],"spiffe_sequence":1e3}', 'sequence-invalid'],
    ['string sequence', '{"keys":[],"spiffe_sequence":"1"}', 'sequence-invalid'],
    ['sequence above 2^64-1', '{"keys":[],"spiffe_sequence":18446744073709551616}', 'sequence-invalid'],
    ['negative refresh hint', '{"keys":[],"spiffe_refresh_hint":-5}', 'refresh-hint-invalid'],
    ['fractional refresh hint', '{"keys":[],"spiffe_refresh_hint":0.5}', 'refresh-hint-invalid'],
    ['string refresh hint', '{"keys":[],"spiffe_refresh_hint":"60"}', 'refresh-hint-invalid'],
  ])('%s → ERR_BUNDLE_MALFORMED (%s)', (_name, json, rule) => {
    expect(() => SpiffeBundle.parse(td, json)).toThrow(malformed(rule));
  });

  it('refuses bytes that are not UTF-8', () => {
    expect(() => SpiffeBundle.parse(td, new Uint8Array([0x7b, 0xff, 0x7d]))).toThrow(malformed('json-utf8'));
  });

  it('accepts an empty key list (a trust domain that revoked every key)', () => {
    const b = SpiffeBundle.parse(td, '{"keys":[]}');
    expect(b.isEmpty()).toBe(true);
  });

  it('ignores entries with a missing or unknown use', () => {
    const { use: _drop, ...noUse } = jwtEntry;
    const b = SpiffeBundle.parse(td, withKeys(noUse, { ...x509Entry, use: 'other' }, { ...jwtEntry, use: 'JWT-SVID' }));
    expect(b.isEmpty()).toBe(true);
  });

  it('reads the sequence as a 64-bit integer without losing precision', () => {
    const text = `{"spiffe_sequence" : 18446744073709551615 ,"keys":[],"nested":{"spiffe_sequence":"x"}}`;
    expect(SpiffeBundle.parse(td, text).sequenceNumber).toBe(MAX_SPIFFE_SEQUENCE);
    expect(SpiffeBundle.parse(td, '{"keys":[],"spiffe_sequence":9007199254740993}').sequenceNumber).toBe(
      9007199254740993n,
    );
  });

  it('treats null sequence and refresh hint as absent and tolerates unknown top-level members', () => {
    const b = SpiffeBundle.parse(td, '{"keys":[],"spiffe_sequence":null,"spiffe_refresh_hint":null,"x":[1,{"a":"}"}]}');
    expect(b.sequenceNumber).toBeUndefined();
    expect(b.refreshHintSeconds).toBeUndefined();
  });
});

describe('SpiffeBundle.marshal', () => {
  let cas: LocalCa[];
  beforeAll(async () => {
    cas = await Promise.all([makeSelfSignedCa('P-256'), makeSelfSignedCa('P-384'), makeSelfSignedCa('RSA')]);
  });

  const jwtKeys = () => [
    { kid: 'ec', key: generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey },
    { kid: 'rsa', key: generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ format: 'jwk' }) },
  ];

  it('round trips every vector', () => {
    for (const name of ['spiffebundle_valid_1.json', 'spiffebundle_valid_2.json', 'spiffebundle_valid_with_wit.json']) {
      const b = SpiffeBundle.parse(td, file(name));
      const again = SpiffeBundle.parse(td, b.marshal());
      expect(again.equals(b)).toBe(true);
      expect(again.marshal()).toBe(b.marshal());
    }
  });

  it('round trips generated bundles with a 64-bit sequence', () => {
    const b = SpiffeBundle.fromParts({
      trustDomain: 'example.org',
      x509Authorities: cas.map((c) => c.der),
      jwtAuthorities: jwtKeys(),
      sequenceNumber: MAX_SPIFFE_SEQUENCE,
      refreshHintSeconds: 300,
    });
    const text = b.marshal();
    expect(text).toContain('"spiffe_sequence":18446744073709551615');
    const again = SpiffeBundle.parse('example.org', text);
    expect(again.equals(b)).toBe(true);
    expect(again.x509Bundle.x509Authorities.map((d) => Buffer.from(d))).toEqual(cas.map((c) => Buffer.from(c.der)));
  });

  it('writes x509-svid entries without kid, with one standard-base64 x5c, and jwt-svid entries with kid', () => {
    const b = SpiffeBundle.fromParts({ trustDomain: td, x509Authorities: cas.map((c) => c.der), jwtAuthorities: jwtKeys() });
    const out = JSON.parse(b.marshal()) as Doc;
    expect(Object.keys(out)).toEqual(['keys']);
    const x509 = out.keys.filter((k) => k['use'] === 'x509-svid');
    const jwt = out.keys.filter((k) => k['use'] === 'jwt-svid');
    expect(x509).toHaveLength(3);
    expect(jwt.map((k) => k['kid'])).toEqual(['ec', 'rsa']);
    expect(out.keys).toHaveLength(5);
    x509.forEach((entry, i) => {
      expect(entry).not.toHaveProperty('kid');
      const x5c = entry['x5c'] as string[];
      expect(x5c).toHaveLength(1);
      expect(x5c[0]).toMatch(/^[A-Za-z0-9+/]+={0,2}$/);
      expect(Buffer.from(x5c[0]!, 'base64')).toEqual(Buffer.from(cas[i]!.der));
      expect(entry['kty']).toBe(i === 2 ? 'RSA' : 'EC');
    });
    for (const entry of jwt) {
      expect(entry).not.toHaveProperty('x5c');
      expect(['EC', 'RSA']).toContain(entry['kty']);
    }
  });

  it('writes an empty bundle as {"keys":[]}', () => {
    expect(SpiffeBundle.fromParts({ trustDomain: td }).marshal()).toBe('{"keys":[]}');
  });
});

describe('SpiffeBundle.fromParts and fromBundles', () => {
  it.each<[string, () => unknown, string]>([
    ['a certificate that does not parse', () => SpiffeBundle.fromParts({ trustDomain: td, x509Authorities: [new Uint8Array([1, 2])] }), 'ERR_BUNDLE_MALFORMED'],
    ['an empty kid', () => SpiffeBundle.fromParts({ trustDomain: td, jwtAuthorities: [{ kid: '', key: generateKeyPairSync('ed25519').publicKey }] }), 'ERR_KEY_INVALID'],
    ['a repeated kid', () => {
      const key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
      return SpiffeBundle.fromParts({ trustDomain: td, jwtAuthorities: [{ kid: 'a', key }, { kid: 'a', key }] });
    }, 'ERR_KEY_INVALID'],
    ['a private key', () => SpiffeBundle.fromParts({ trustDomain: td, jwtAuthorities: [{ kid: 'a', key: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey }] }), 'ERR_KEY_INVALID'],
    ['a key type JOSE cannot express', () => SpiffeBundle.fromParts({ trustDomain: td, jwtAuthorities: [{ kid: 'a', key: generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).publicKey }] }), 'ERR_KEY_INVALID'],
  ])('refuses %s', (_name, build, code) => {
    expect(build).toThrow(expect.objectContaining({ code }));
  });

  it('refuses out-of-range sequence numbers and refresh hints', () => {
    expect(() => SpiffeBundle.fromParts({ trustDomain: td, sequenceNumber: -1n })).toThrow(RangeError);
    expect(() => SpiffeBundle.fromParts({ trustDomain: td, sequenceNumber: MAX_SPIFFE_SEQUENCE + 1n })).toThrow(RangeError);
    expect(() => SpiffeBundle.fromParts({ trustDomain: td, refreshHintSeconds: 1.5 })).toThrow(RangeError);
  });

  it('fromBundles shares the given halves and refuses another trust domain', () => {
    const parsed = SpiffeBundle.parse(td, file('spiffebundle_valid_2.json'));
    const joined = SpiffeBundle.fromBundles({ jwtBundle: parsed.jwtBundle, sequenceNumber: 2n });
    expect(joined.jwtBundle).toBe(parsed.jwtBundle);
    expect(joined.x509Bundle.isEmpty()).toBe(true);
    expect(joined.trustDomain.equals(td)).toBe(true);
    expect(() => SpiffeBundle.fromBundles({ trustDomain: 'other.test', jwtBundle: parsed.jwtBundle })).toThrow(TypeError);
  });
});
