import 'reflect-metadata';
import { createPublicKey, generateKeyPairSync, createSecretKey, X509Certificate as NodeX509, type KeyObject } from 'node:crypto';
import * as px from '@peculiar/x509';
import { AsnConvert } from '@peculiar/asn1-schema';
import { Certificate } from '@peculiar/asn1-x509';
import { beforeAll, describe, expect, it } from 'vitest';
import { X509Bundle } from '../../../src/spiffe/bundle/x509-bundle.js';
import { SpiffeId, TrustDomain } from '../../../src/spiffe/id/index.js';
import {
  createCaCertificate,
  parseX509Svid,
  verifyX509Svid,
  X509SvidSigner,
} from '../../../src/spiffe/x509svid/index.js';
import { KU, mintCertificate, newLeaf, newRootCa } from '../../helpers/test-ca.js';

const TD = TrustDomain.parse('example.org');
const ID = SpiffeId.parse('spiffe://example.org/workload');
const START = new Date('2030-01-01T00:00:00Z');

function expectError(fn: () => unknown, code: string, rule?: string): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught, 'expected an error').toBeInstanceOf(Error);
  expect((caught as { code?: string }).code).toBe(code);
  if (rule) expect((caught as { rule?: string }).rule).toBe(rule);
}

const ec = (curve: string): { publicKey: KeyObject; privateKey: KeyObject } =>
  generateKeyPairSync('ec', { namedCurve: curve });

describe('X509SvidSigner', () => {
  let caDer: Uint8Array<ArrayBuffer>;
  let caKey: KeyObject;
  let signer: X509SvidSigner;
  let leafKey: KeyObject;

  beforeAll(async () => {
    const k = ec('P-256');
    caKey = k.privateKey;
    caDer = await createCaCertificate({ trustDomain: TD, publicKey: k.publicKey, signer: { key: caKey }, now: START, ttlSeconds: 365 * 86400 });
    signer = X509SvidSigner.create({ caCertificate: caDer, caKey });
    leafKey = ec('P-256').publicKey;
  });

  describe('create', () => {
    it('exposes the CA trust domain', () => {
      expect(signer.trustDomain?.name).toBe('example.org');
    });

    it('refuses a certificate that is not a CA, a CA without keyCertSign, and undecodable bytes', async () => {
      const root = await newRootCa();
      const leaf = await newLeaf(root, ID.toString());
      expectError(() => X509SvidSigner.create({ caCertificate: leaf.der, caKey: leaf.key.privateKey }), 'ERR_X509_ISSUE_INVALID', 'ca-not-ca');
      const noCertSign = await newRootCa('example.org', { keyUsage: KU.cRLSign });
      expectError(
        () => X509SvidSigner.create({ caCertificate: noCertSign.der, caKey: noCertSign.key.privateKey }),
        'ERR_X509_ISSUE_INVALID',
        'ca-key-cert-sign',
      );
      expectError(() => X509SvidSigner.create({ caCertificate: new Uint8Array([1, 2]), caKey }), 'ERR_X509_ISSUE_INVALID', 'ca-certificate');
    });

    it('refuses a key that is not the CA key', () => {
      expectError(() => X509SvidSigner.create({ caCertificate: caDer, caKey: ec('P-256').privateKey }), 'ERR_KEY_INVALID', 'ca-key-mismatch');
      expectError(
        () => X509SvidSigner.create({ caCertificate: caDer, caKey: generateKeyPairSync('ed25519').privateKey }),
        'ERR_KEY_INVALID',
        'ca-key-mismatch',
      );
      expect(() => X509SvidSigner.create({ caCertificate: caDer, caKey: createPublicKey(caKey) })).toThrow(TypeError);
    });

    it('accepts a CA without a SPIFFE ID and then issues for any trust domain', async () => {
      const plain = await mintCertificate({ ca: true, keyUsage: KU.keyCertSign });
      const s = X509SvidSigner.create({ caCertificate: plain.der, caKey: plain.key.privateKey });
      expect(s.trustDomain).toBeUndefined();
      const out = s.sign({ spiffeId: SpiffeId.parse('spiffe://anything.test/x'), publicKey: leafKey, now: START, ttlSeconds: 60 });
      expect(parseX509Svid([out.der]).spiffeId.toString()).toBe('spiffe://anything.test/x');
    });
  });

  describe('sign', () => {
    const base = () => ({ spiffeId: ID, publicKey: leafKey, now: new Date('2030-02-01T12:00:00.999Z'), ttlSeconds: 3600 });

    it('backdates notBefore by 10 s and drops sub-second parts', () => {
      const out = signer.sign(base());
      expect(out.notBefore.toISOString()).toBe('2030-02-01T11:59:50.000Z');
      expect(out.notAfter.toISOString()).toBe('2030-02-01T13:00:00.000Z');
    });

    it('caps notAfter at the CA notAfter', () => {
      const caEnd = new px.X509Certificate(caDer).notAfter;
      const out = signer.sign({ ...base(), ttlSeconds: 10 * 365 * 86400 });
      expect(out.notAfter.getTime()).toBe(caEnd.getTime());
    });

    it('refuses to issue once the CA has expired', () => {
      expectError(() => signer.sign({ ...base(), now: new Date('2031-06-01T00:00:00Z') }), 'ERR_X509_ISSUE_INVALID', 'ca-expired');
    });

    it('refuses a trust domain ID (root path) and IDs of another trust domain', () => {
      expectError(() => signer.sign({ ...base(), spiffeId: SpiffeId.forTrustDomain(TD) }), 'ERR_X509_ISSUE_INVALID', 'leaf-root-path');
      expectError(
        () => signer.sign({ ...base(), spiffeId: SpiffeId.parse('spiffe://other.org/x') }),
        'ERR_X509_ISSUE_INVALID',
        'trust-domain-mismatch',
      );
    });

    it('refuses bad TTLs', () => {
      for (const ttlSeconds of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
        expectError(() => signer.sign({ ...base(), ttlSeconds }), 'ERR_X509_ISSUE_INVALID', 'ttl');
      }
    });

    it('validates DNS names', () => {
      const good = ['a.example.org', 'x', 'A-1.b2.example', '*.example.org', `${'a'.repeat(63)}.org`];
      const out = signer.sign({ ...base(), dnsNames: good });
      const san = new px.X509Certificate(out.der).getExtension(px.SubjectAlternativeNameExtension)!;
      expect(san.names.items.filter((n) => n.type === 'dns').map((n) => n.value)).toEqual(good);
      const bad = ['', 'a..b', '.a.b', 'a.b.', '-a.b', 'a-.b', 'a_b.c', 'a b.c', '*.org', 'a.*.org', '*', 'é.example', `${'a'.repeat(64)}.org`, `${'a.'.repeat(127)}a`];
      for (const name of bad) {
        expectError(() => signer.sign({ ...base(), dnsNames: [name] }), 'ERR_X509_ISSUE_INVALID', 'dns-name');
      }
    });

    it('uses a caller serial as given, minimally encoded, and refuses out-of-range ones', () => {
      for (const serial of [1n, 0x7fn, 0x80n, 0xffn, 0x100n, (1n << 159n) - 1n]) {
        const out = signer.sign({ ...base(), serial });
        expect(out.serial).toBe(serial);
        const asn = AsnConvert.parse(out.der, Certificate);
        const raw = new Uint8Array(asn.tbsCertificate.serialNumber);
        expect(BigInt('0x' + Buffer.from(raw).toString('hex'))).toBe(serial);
        expect(raw.length === 1 || raw[0] !== 0 || raw[1]! >= 0x80).toBe(true); // minimal
        expect(raw[0]! < 0x80).toBe(true); // positive
      }
      for (const serial of [0n, -1n, 1n << 159n]) {
        expectError(() => signer.sign({ ...base(), serial }), 'ERR_X509_ISSUE_INVALID', 'serial');
      }
    });

    it('draws random serials of at most 128 bits, positive and distinct', () => {
      const seen = new Set<bigint>();
      let highBit = 0;
      for (let i = 0; i < 2000; i++) {
        const { serial } = signer.sign(base());
        expect(serial > 0n && serial < 1n << 128n).toBe(true);
        if (serial >> 127n) highBit++;
        seen.add(serial);
      }
      expect(seen.size).toBe(2000);
      expect(highBit).toBeGreaterThan(800); // the top bit is random too, so DER needs the 0x00 pad about half the time
    });

    it('encodes UTCTime up to 2049 and GeneralizedTime from 2050', async () => {
      const k = ec('P-256');
      const longCa = await createCaCertificate({
        trustDomain: TD,
        publicKey: k.publicKey,
        signer: { key: k.privateKey },
        now: new Date('2040-01-01T00:00:00Z'),
        ttlSeconds: 30 * 365 * 86400,
      });
      const s = X509SvidSigner.create({ caCertificate: longCa, caKey: k.privateKey });
      const out = s.sign({ ...base(), now: new Date('2049-12-31T23:59:59Z'), ttlSeconds: 11 });
      const v = AsnConvert.parse(out.der, Certificate).tbsCertificate.validity;
      expect(v.notBefore.utcTime?.toISOString()).toBe('2049-12-31T23:59:49.000Z');
      expect(v.notAfter.generalTime?.toISOString()).toBe('2050-01-01T00:00:10.000Z');
      expect(new NodeX509(out.der).validTo).toBe('Jan  1 00:00:10 2050 GMT');
    });

    it('signs with ECDSA SHA-384 under a P-384 CA and SHA-256 RSA under an RSA CA', async () => {
      for (const [key, oid] of [
        [ec('P-384'), '1.2.840.10045.4.3.3'],
        [generateKeyPairSync('rsa', { modulusLength: 2048 }), '1.2.840.113549.1.1.11'],
      ] as const) {
        const der = await createCaCertificate({ trustDomain: TD, publicKey: key.publicKey, signer: { key: key.privateKey }, now: START, ttlSeconds: 86400 });
        const out = X509SvidSigner.create({ caCertificate: der, caKey: key.privateKey }).sign({ ...base(), now: START });
        expect(AsnConvert.parse(out.der, Certificate).signatureAlgorithm.algorithm).toBe(oid);
        expect(verifyX509Svid([out.der], new X509Bundle(TD, [der]), { now: START }).spiffeId.equals(ID)).toBe(true);
      }
    });
  });

  describe('public keys', () => {
    const spkiOf = (der: Uint8Array<ArrayBuffer>): Buffer => Buffer.from(new px.X509Certificate(der).publicKey.rawData);

    it('takes a KeyObject or SPKI DER and certifies the same bytes', () => {
      for (const pair of [ec('P-256'), ec('P-384'), generateKeyPairSync('ed25519'), generateKeyPairSync('rsa', { modulusLength: 2048 })]) {
        const spki = pair.publicKey.export({ type: 'spki', format: 'der' });
        const a = signer.sign({ spiffeId: ID, publicKey: pair.publicKey, now: START, ttlSeconds: 60 });
        const b = signer.sign({ spiffeId: ID, publicKey: new Uint8Array(spki), now: START, ttlSeconds: 60 });
        const c = signer.sign({ spiffeId: ID, publicKey: pair.privateKey, now: START, ttlSeconds: 60 });
        expect(spkiOf(a.der).equals(spki)).toBe(true);
        expect(spkiOf(b.der).equals(spki)).toBe(true);
        expect(spkiOf(c.der).equals(spki)).toBe(true);
      }
    });

    it('re-encodes a compressed EC point in the canonical uncompressed form', () => {
      const pair = ec('P-256');
      const compressed = pair.publicKey.export({ format: 'der', type: 'spki' });
      const jwk = pair.publicKey.export({ format: 'jwk' });
      const x = Buffer.from(jwk.x!, 'base64url');
      const y = Buffer.from(jwk.y!, 'base64url');
      const point = Buffer.concat([Buffer.from([2 + (y[31]! & 1)]), x]);
      const prefix = Buffer.from('3039301306072a8648ce3d020106082a8648ce3d030107032200', 'hex');
      const out = signer.sign({ spiffeId: ID, publicKey: new Uint8Array(Buffer.concat([prefix, point])), now: START, ttlSeconds: 60 });
      expect(spkiOf(out.der).equals(compressed)).toBe(true);
    });

    it('refuses points off the curve, garbage, and unsupported key types or sizes', () => {
      const spki = Buffer.from(ec('P-256').publicKey.export({ type: 'spki', format: 'der' }));
      spki[spki.length - 1]! ^= 1;
      expectError(() => signer.sign({ ...baseKey(), publicKey: new Uint8Array(spki) }), 'ERR_KEY_INVALID', 'ec-point');
      expectError(() => signer.sign({ ...baseKey(), publicKey: new Uint8Array([0x30, 0x00]) }), 'ERR_KEY_INVALID', 'malformed-public-key');
      expectError(() => signer.sign({ ...baseKey(), publicKey: ec('P-521').publicKey }), 'ERR_KEY_INVALID', 'key-type');
      expectError(() => signer.sign({ ...baseKey(), publicKey: ec('secp256k1').publicKey }), 'ERR_KEY_INVALID', 'key-type');
      expectError(() => signer.sign({ ...baseKey(), publicKey: generateKeyPairSync('x25519').publicKey }), 'ERR_KEY_INVALID', 'key-type');
      expectError(
        () => signer.sign({ ...baseKey(), publicKey: generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey }),
        'ERR_KEY_INVALID',
        'rsa-size',
      );
      expectError(() => signer.sign({ ...baseKey(), publicKey: createSecretKey(Buffer.alloc(32)) }), 'ERR_KEY_INVALID', 'key-type');
      const p521spki = new Uint8Array(ec('P-521').publicKey.export({ type: 'spki', format: 'der' }));
      expectError(() => signer.sign({ ...baseKey(), publicKey: p521spki }), 'ERR_KEY_INVALID', 'key-type');
    });

    const baseKey = () => ({ spiffeId: ID, now: START, ttlSeconds: 60 });
  });
});
