import { generateKeyPairSync } from 'node:crypto';
import { FlattenedSign, SignJWT } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { BundleSet, JwtBundle, SpiffeBundle } from '../../../src/spiffe/bundle/index.js';
import { SpiffeId, TrustDomain } from '../../../src/spiffe/id/index.js';
import {
  mintJwtSvid,
  parseAndValidateJwtSvid,
  parseInsecureJwtSvid,
} from '../../../src/spiffe/jwtsvid/index.js';
import { b64url, keyFor, signCustom } from './fixtures.js';

const td = TrustDomain.parse('example.org');
const subject = 'spiffe://example.org/agent/worker-1';
const now = new Date('2026-03-01T12:00:00Z');
const nowS = now.getTime() / 1000;
const audience = ['svc-a'];

const es384 = keyFor('ES384', 'authority-1');
const stranger = keyFor('ES384', 'authority-1'); // same kid, key not in any bundle
const ownBundle = new JwtBundle(td);
ownBundle.addAuthority(es384.kid, es384.publicKey);
const source = new BundleSet([ownBundle]);

const claims = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
  sub: subject,
  aud: audience,
  exp: nowS + 300,
  iat: nowS,
  ...over,
});
const header = { alg: 'ES384', kid: es384.kid, typ: 'JWT' };
const signed = (h: Record<string, unknown> = header, c: Record<string, unknown> = claims()) =>
  signCustom(h as { alg: string }, c, es384.privateKey);
const without = (o: Record<string, unknown>, name: string): Record<string, unknown> => {
  const copy = { ...o };
  delete copy[name];
  return copy;
};

type Case = readonly [name: string, token: () => Promise<string> | string, code: string, rule?: string];

describe('parseAndValidateJwtSvid failures, one code per rule', () => {
  const cases: Case[] = [
    ['garbage', () => 'not a token', 'ERR_JWT_SVID_MALFORMED'],
    ['empty string', () => '', 'ERR_JWT_SVID_MALFORMED'],
    ['two parts', () => 'eyJhbGciOiJFUzM4NCJ9.e30', 'ERR_JWT_SVID_MALFORMED'],
    ['five parts (JWE)', () => 'a.b.c.d.e', 'ERR_JWT_SVID_MALFORMED', 'jwe'],
    ['non-base64url part', async () => (await signed()).replace('.', '.*'), 'ERR_JWT_SVID_MALFORMED', 'base64url'],
    ['header not JSON', () => `${Buffer.from('nope').toString('base64url')}.${b64url(claims())}.AAAA`, 'ERR_JWT_SVID_MALFORMED', 'header-json'],
    [
      'JWS JSON serialization',
      async () =>
        JSON.stringify(
          await new FlattenedSign(new TextEncoder().encode(JSON.stringify(claims())))
            .setProtectedHeader(header)
            .sign(es384.privateKey),
        ),
      'ERR_JWT_SVID_MALFORMED',
      'json-serialization',
    ],
    ['payload not a JSON object', () => signCustom(header, [] as unknown as Record<string, unknown>, es384.privateKey), 'ERR_JWT_SVID_MALFORMED', 'payload-json'],
    ['empty signature', async () => (await signed()).replace(/\.[^.]+$/, '.'), 'ERR_JWT_SVID_MALFORMED', 'signature-missing'],
    [
      'HS256 (the jwt.io sample, made with jose)',
      () =>
        new SignJWT({ sub: '1234567890', name: 'John Doe', iat: 1516239022 })
          .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
          .sign(new TextEncoder().encode('your-256-bit-secret')),
      'ERR_JWT_SVID_ALG',
    ],
    ['HS256 with SVID claims', () => signCustom({ alg: 'HS256', kid: es384.kid }, claims(), Buffer.alloc(32, 1)), 'ERR_JWT_SVID_ALG'],
    ['alg none, built by hand', () => `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url(claims())}.`, 'ERR_JWT_SVID_ALG'],
    ['alg none with a signature', () => `${b64url({ alg: 'none', kid: es384.kid })}.${b64url(claims())}.AAAA`, 'ERR_JWT_SVID_ALG'],
    ['alg missing', () => `${b64url({ kid: es384.kid })}.${b64url(claims())}.AAAA`, 'ERR_JWT_SVID_ALG'],
    ['alg not a string', () => `${b64url({ alg: ['ES384'] })}.${b64url(claims())}.AAAA`, 'ERR_JWT_SVID_ALG'],
    ['alg in lower case', () => `${b64url({ alg: 'es384' })}.${b64url(claims())}.AAAA`, 'ERR_JWT_SVID_ALG'],
    ['EdDSA', () => signCustom({ alg: 'EdDSA', kid: es384.kid }, claims(), generateKeyPairSync('ed25519').privateKey), 'ERR_JWT_SVID_ALG'],
    ['alg check comes before everything (none + garbage payload)', () => `${b64url({ alg: 'none' })}.!!!!.`, 'ERR_JWT_SVID_MALFORMED'],
    ['alg check comes before the payload', () => `${b64url({ alg: 'none' })}.${Buffer.from('x').toString('base64url')}.`, 'ERR_JWT_SVID_ALG'],
    ['typ "invalid"', () => signed({ ...header, typ: 'invalid' }), 'ERR_JWT_SVID_HEADER', 'typ-invalid'],
    ['crit header', () => `${b64url({ ...header, crit: ['exp'] })}.${b64url(claims())}.AAAA`, 'ERR_JWT_SVID_HEADER', 'crit-unsupported'],
    ['missing kid', () => signed(without(header, 'kid')), 'ERR_JWT_SVID_HEADER', 'kid-missing'],
    ['empty kid', () => signed({ ...header, kid: '' }), 'ERR_JWT_SVID_HEADER', 'kid-missing'],
    ['kid not a string', () => signed({ ...header, kid: 1 }), 'ERR_JWT_SVID_HEADER', 'kid-invalid'],
    ['missing sub', () => signed(header, without(claims(), 'sub')), 'ERR_JWT_SVID_CLAIMS', 'sub-missing'],
    ['invalid sub', () => signed(header, claims({ sub: 'invalid subject' })), 'ERR_JWT_SVID_CLAIMS', 'sub-not-spiffe-id'],
    ['sub not a string', () => signed(header, claims({ sub: 42 })), 'ERR_JWT_SVID_CLAIMS', 'sub-invalid'],
    ['missing exp', () => signed(header, without(claims(), 'exp')), 'ERR_JWT_SVID_CLAIMS', 'exp-missing'],
    ['exp not a number', () => signed(header, claims({ exp: 'tomorrow' })), 'ERR_JWT_SVID_CLAIMS', 'exp-invalid'],
    ['missing aud', () => signed(header, without(claims(), 'aud')), 'ERR_JWT_SVID_CLAIMS', 'aud-missing'],
    ['aud of non-strings', () => signed(header, claims({ aud: [1] })), 'ERR_JWT_SVID_CLAIMS', 'aud-invalid'],
    ['no bundle for the subject trust domain', () => signed(header, claims({ sub: 'spiffe://another.org/w' })), 'ERR_JWT_SVID_UNTRUSTED', 'bundle-not-found'],
    ['unknown kid', () => signed({ ...header, kid: 'noKey' }), 'ERR_JWT_SVID_UNTRUSTED', 'kid-not-found'],
    ['signed by a key not in the bundle', () => signCustom(header, claims(), stranger.privateKey), 'ERR_JWT_SVID_SIGNATURE', 'signature-invalid'],
    ['claims changed after signing', async () => {
      const [h, , s] = (await signed()).split('.');
      return `${h}.${b64url(claims({ sub: 'spiffe://example.org/admin' }))}.${s}`;
    }, 'ERR_JWT_SVID_SIGNATURE', 'signature-invalid'],
    ['alg that does not fit the bundle key', () => signCustom({ ...header, alg: 'ES256' }, claims(), keyFor('ES256').privateKey), 'ERR_JWT_SVID_SIGNATURE', 'key-algorithm-mismatch'],
    ['audience mismatch', () => signed(header, claims({ aud: ['another'] })), 'ERR_JWT_SVID_AUDIENCE', 'audience-mismatch'],
    ['expired beyond the leeway', () => signed(header, claims({ exp: nowS - 61 })), 'ERR_JWT_SVID_EXPIRED', 'expired'],
    ['not valid before (beyond the leeway)', () => signed(header, claims({ nbf: nowS + 61 })), 'ERR_JWT_SVID_EXPIRED', 'not-yet-valid'],
    ['issued in the future (beyond the leeway)', () => signed(header, claims({ iat: nowS + 61 })), 'ERR_JWT_SVID_CLAIMS', 'iat-in-future'],
  ];

  for (const [name, make, code, rule] of cases) {
    it(`${name} → ${code}`, async () => {
      const token = await make();
      const err = await parseAndValidateJwtSvid(token, source, audience, { now }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toMatchObject({ code, ...(rule && { rule }) });
    });
  }

  it('keeps the BundleNotFound of the source as the cause of JwtSvidUntrusted', async () => {
    const token = await signed(header, claims({ sub: 'spiffe://another.org/w' }));
    const err = await parseAndValidateJwtSvid(token, source, audience, { now }).catch((e: unknown) => e);
    expect((err as Error).cause).toMatchObject({ code: 'ERR_BUNDLE_NOT_FOUND' });
  });

  it('checks the subject trust domain bundle, not the one whose key signed', async () => {
    // Another trust domain's authority signs a token claiming an example.org subject: its key is not in example.org.
    const foreign = keyFor('ES384', 'foreign');
    const foreignBundle = new JwtBundle(TrustDomain.parse('another.org'));
    foreignBundle.addAuthority(foreign.kid, foreign.publicKey);
    const set = new BundleSet([ownBundle, foreignBundle]);
    const token = await signCustom({ ...header, kid: 'foreign' }, claims(), foreign.privateKey);
    await expect(parseAndValidateJwtSvid(token, set, audience, { now })).rejects.toMatchObject({
      code: 'ERR_JWT_SVID_UNTRUSTED',
      rule: 'kid-not-found',
    });
  });
});

describe('parseAndValidateJwtSvid success', () => {
  let token: string;
  beforeAll(async () => {
    token = await mintJwtSvid({
      spiffeId: SpiffeId.parse(subject),
      audience: ['svc-a', 'svc-b'],
      key: { kid: es384.kid, privateKey: es384.privateKey, alg: 'ES384' },
      now,
      ttlSeconds: 60,
      extraClaims: { 'tessera/instance': 'i-1' },
    });
  });

  it('returns the SPIFFE ID, audience, times, claims and header', async () => {
    const svid = await parseAndValidateJwtSvid(token, source, ['other', 'svc-a'], { now });
    expect(svid.spiffeId.toString()).toBe(subject);
    expect(svid.audience).toEqual(['svc-a', 'svc-b']);
    expect(svid.expiry).toEqual(new Date(now.getTime() + 60_000));
    expect(svid.issuedAt).toEqual(now);
    expect(svid.claims['tessera/instance']).toBe('i-1');
    expect(svid.header).toEqual({ alg: 'ES384', kid: es384.kid, typ: 'JWT' });
  });

  it('accepts a just-expired token within the leeway and refuses it past the leeway', async () => {
    const justExpired = new Date(now.getTime() + 60_000 + 59_000);
    await expect(parseAndValidateJwtSvid(token, source, audience, { now: justExpired })).resolves.toBeDefined();
    const later = new Date(now.getTime() + 60_000 + 61_000);
    await expect(parseAndValidateJwtSvid(token, source, audience, { now: later })).rejects.toMatchObject({ code: 'ERR_JWT_SVID_EXPIRED' });
    await expect(
      parseAndValidateJwtSvid(token, source, audience, { now: justExpired, leewaySeconds: 0 }),
    ).rejects.toMatchObject({ code: 'ERR_JWT_SVID_EXPIRED' });
  });

  it('skips the audience check when no audience is expected', async () => {
    await expect(parseAndValidateJwtSvid(token, source, [], { now })).resolves.toBeDefined();
  });

  it.each([
    ['typ JOSE', { ...header, typ: 'JOSE' }],
    ['no typ', without(header, 'typ')],
  ])('accepts %s, a single-string aud and nbf within leeway', async (_name, h) => {
    const t = await signed(h, claims({ aud: 'svc-a', nbf: nowS + 30 }));
    const svid = await parseAndValidateJwtSvid(t, source, audience, { now });
    expect(svid.audience).toEqual(['svc-a']);
  });

  it('works with a SpiffeBundle as the source', async () => {
    const bundle = SpiffeBundle.fromParts({ trustDomain: td, jwtAuthorities: [{ kid: es384.kid, key: es384.publicKey }] });
    const svid = await parseAndValidateJwtSvid(token, bundle, audience, { now });
    expect(svid.spiffeId.toString()).toBe(subject);
  });

  it('throws TypeError on misuse', async () => {
    await expect(parseAndValidateJwtSvid(token, source, audience, { now: new Date(NaN) })).rejects.toThrow(TypeError);
    await expect(parseAndValidateJwtSvid(token, source, audience, { now, leewaySeconds: -1 })).rejects.toThrow(TypeError);
    await expect(parseAndValidateJwtSvid(7 as unknown as string, source, audience, { now })).rejects.toThrow(TypeError);
    await expect(parseAndValidateJwtSvid(token, undefined as unknown as BundleSet, audience, { now })).rejects.toThrow(TypeError);
  });
});

describe('parseInsecureJwtSvid', () => {
  it('accepts a token signed by any allowed key and without kid', async () => {
    const t = await signCustom({ alg: 'ES384' }, claims(), stranger.privateKey);
    const svid = parseInsecureJwtSvid(t, audience, { now });
    expect(svid.spiffeId.toString()).toBe(subject);
    expect(svid.header).toEqual({ alg: 'ES384' });
  });

  it.each<readonly [string, () => Promise<string> | string, string]>([
    ['alg none', () => `${b64url({ alg: 'none' })}.${b64url(claims())}.`, 'ERR_JWT_SVID_ALG'],
    ['typ invalid', () => signed({ ...header, typ: 'invalid' }), 'ERR_JWT_SVID_HEADER'],
    ['invalid sub', () => signed(header, claims({ sub: 'x' })), 'ERR_JWT_SVID_CLAIMS'],
    ['audience mismatch', () => signed(header, claims({ aud: 'x' })), 'ERR_JWT_SVID_AUDIENCE'],
    ['expired', () => signed(header, claims({ exp: nowS - 120 })), 'ERR_JWT_SVID_EXPIRED'],
    ['issued in the future', () => signed(header, claims({ iat: nowS + 120 })), 'ERR_JWT_SVID_CLAIMS'],
    ['garbage', () => 'x.y', 'ERR_JWT_SVID_MALFORMED'],
  ])('%s → %s', async (_name, make, code) => {
    const token = await make();
    expect(() => parseInsecureJwtSvid(token, audience, { now })).toThrow(expect.objectContaining({ code }));
  });
});
