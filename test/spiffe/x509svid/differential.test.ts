/**
 * Differential test of the leaf fast path (architecture §8): every hand-assembled certificate is decoded by
 * independent parsers (@peculiar/x509, node's X509Certificate, openssl for a sample) and each field is compared with
 * what was asked for; our own parse/verify must accept it too.
 */
import 'reflect-metadata';
import { execFileSync } from 'node:child_process';
import { createHash, generateKeyPairSync, X509Certificate as NodeX509, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as px from '@peculiar/x509';
import { AsnConvert } from '@peculiar/asn1-schema';
import { Certificate, SubjectPublicKeyInfo } from '@peculiar/asn1-x509';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { X509Bundle } from '../../../src/spiffe/bundle/x509-bundle.js';
import { SpiffeId, TrustDomain } from '../../../src/spiffe/id/index.js';
import { encodePem } from '../../../src/spiffe/pem.js';
import {
  createCaCertificate,
  parseX509Svid,
  verifyX509Svid,
  X509SvidSigner,
} from '../../../src/spiffe/x509svid/index.js';
import { Rng } from './rng.js';

const ITERATIONS = 1000;
const OPENSSL_SAMPLE = 20;
const crypto = (globalThis as { crypto: Crypto }).crypto;

type LeafKind = 'P-256' | 'P-384' | 'RSA' | 'Ed25519';

interface CaSetup {
  readonly name: string;
  readonly td: TrustDomain;
  readonly rootDer: Uint8Array;
  readonly caDer: Uint8Array;
  readonly caKey: KeyObject;
  readonly caCert: px.X509Certificate;
  readonly signer: X509SvidSigner;
  readonly bundle: X509Bundle;
  readonly chainTail: Uint8Array[];
  readonly notAfter: Date;
  readonly sigAlg: string;
}

const CA_START = new Date('2001-01-01T00:00:00Z');
const CA_TTL = Math.floor((Date.parse('2099-12-31T00:00:00Z') - CA_START.getTime()) / 1000);

function genKey(kind: 'P-256' | 'P-384' | 'Ed25519' | 'RSA-2048' | 'RSA-3072'): { publicKey: KeyObject; privateKey: KeyObject } {
  switch (kind) {
    case 'P-256':
      return generateKeyPairSync('ec', { namedCurve: 'P-256' });
    case 'P-384':
      return generateKeyPairSync('ec', { namedCurve: 'P-384' });
    case 'Ed25519':
      return generateKeyPairSync('ed25519');
    case 'RSA-2048':
      return generateKeyPairSync('rsa', { modulusLength: 2048 });
    case 'RSA-3072':
      return generateKeyPairSync('rsa', { modulusLength: 3072 });
  }
}

async function setup(
  name: string,
  tdName: string,
  rootKind: Parameters<typeof genKey>[0],
  caKind: Parameters<typeof genKey>[0] | undefined,
  sigAlg: string,
  caTtl = CA_TTL,
): Promise<CaSetup> {
  const td = TrustDomain.parse(tdName);
  const root = genKey(rootKind);
  const rootDer = await createCaCertificate({
    trustDomain: td,
    publicKey: root.publicKey,
    signer: { key: root.privateKey },
    now: CA_START,
    ttlSeconds: CA_TTL,
  });
  let caDer = rootDer;
  let caKey = root.privateKey;
  let chainTail: Uint8Array[] = [];
  if (caKind) {
    const ca = genKey(caKind);
    caDer = await createCaCertificate({
      trustDomain: td,
      publicKey: ca.publicKey,
      signer: { key: root.privateKey, certificate: rootDer },
      now: CA_START,
      ttlSeconds: caTtl,
    });
    caKey = ca.privateKey;
    chainTail = [caDer];
  }
  const caCert = new px.X509Certificate(caDer);
  return {
    name,
    td,
    rootDer,
    caDer,
    caKey,
    caCert,
    signer: X509SvidSigner.create({ caCertificate: caDer, caKey }),
    bundle: new X509Bundle(td, [rootDer]),
    chainTail,
    notAfter: caCert.notAfter,
    sigAlg,
  };
}

describe('X509SvidSigner differential', () => {
  const rng = new Rng(0x5eed);
  const rsaKeys: KeyObject[] = [];
  let cas: CaSetup[] = [];
  let tmp = '';

  beforeAll(async () => {
    rsaKeys.push(genKey('RSA-2048').publicKey, genKey('RSA-2048').publicKey, genKey('RSA-3072').publicKey);
    cas = [
      await setup('P-256 intermediate under P-384 root', 'example.org', 'P-384', 'P-256', '1.2.840.10045.4.3.2'),
      await setup('P-384 root', 'acme.test', 'P-384', undefined, '1.2.840.10045.4.3.3'),
      await setup('RSA intermediate under P-256 root', 'rsa.example', 'P-256', 'RSA-2048', '1.2.840.113549.1.1.11'),
      await setup('Ed25519 root', 'ed.example', 'Ed25519', undefined, '1.3.101.112'),
      // A CA expiring in 2061: long leaf TTLs get capped.
      await setup('short P-256 CA', 'short.example', 'P-256', 'P-256', '1.2.840.10045.4.3.2', 60 * 365 * 86400),
    ];
    tmp = mkdtempSync(join(tmpdir(), 'tessera-x509svid-'));
  });
  afterAll(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it(`issues ${ITERATIONS} random leaves that independent parsers read back exactly`, async () => {
    const sampleFiles: { leaf: string; chain: string | undefined; root: string; now: Date }[] = [];
    const kinds: Record<string, number> = {};
    let capped = 0;
    let after2050 = 0;
    for (let i = 0; i < ITERATIONS; i++) {
      const ca = rng.pick(cas);
      const kind = rng.pick<LeafKind>(['P-256', 'P-256', 'P-384', 'RSA', 'Ed25519']);
      const keyObject = kind === 'RSA' ? rng.pick(rsaKeys) : genKey(kind).publicKey;
      const spki = new Uint8Array(keyObject.export({ type: 'spki', format: 'der' }));
      const publicKey = rng.bool() ? keyObject : spki;
      const spiffeId = SpiffeId.fromSegments(ca.td, ...rng.pathSegments());
      const dnsNames = rng.dnsNames();
      const ttlSeconds = rng.pick([1, 60, 3600, 86400, rng.int(1, 10 * 365 * 86400)]);
      const now = new Date(rng.int(Date.parse('2001-02-01T00:00:00Z'), ca.notAfter.getTime() - 86_400_000));
      const serial = rng.bool(0.2) ? rng.serial() : undefined;

      const out = ca.signer.sign({ spiffeId, publicKey, now, ttlSeconds, dnsNames, ...(serial ? { serial } : {}) });
      const ctx = `#${i} ${ca.name} ${kind} ${spiffeId} at ${now.toISOString()}`;

      // Requested values.
      const nowS = Math.floor(now.getTime() / 1000) * 1000;
      const expectedNotAfter = Math.min(nowS + ttlSeconds * 1000, ca.notAfter.getTime());
      if (expectedNotAfter < nowS + ttlSeconds * 1000) capped++;
      if (now.getUTCFullYear() >= 2050) after2050++;
      kinds[kind] = (kinds[kind] ?? 0) + 1;
      expect(out.notBefore.getTime(), ctx).toBe(nowS - 10_000);
      expect(out.notAfter.getTime(), ctx).toBe(expectedNotAfter);
      if (serial) expect(out.serial, ctx).toBe(serial);
      expect(out.serial > 0n && out.serial < 1n << 160n, ctx).toBe(true);
      if (!serial) expect(out.serial < 1n << 128n, ctx).toBe(true);

      // @peculiar/x509's reading.
      const cert = new px.X509Certificate(out.der);
      expect(BigInt('0x' + cert.serialNumber), ctx).toBe(out.serial);
      expect(cert.notBefore.getTime(), ctx).toBe(out.notBefore.getTime());
      expect(cert.notAfter.getTime(), ctx).toBe(out.notAfter.getTime());
      expect(cert.subject, ctx).toBe('C=US, O=Tessera');
      expect(cert.issuer, ctx).toBe(ca.caCert.subject);
      expect(Buffer.from(cert.issuerName.toArrayBuffer()).equals(Buffer.from(ca.caCert.subjectName.toArrayBuffer()))).toBe(true);
      expect(Buffer.from(cert.publicKey.rawData).equals(Buffer.from(spki)), ctx).toBe(true);
      expect(cert.signatureAlgorithm, ctx).toBeDefined();
      expect(cert.getExtensions('2.5.29.15').length + cert.getExtensions('2.5.29.19').length, ctx).toBe(2);
      expect(cert.extensions.length, ctx).toBe(6);

      const san = cert.getExtension(px.SubjectAlternativeNameExtension)!;
      expect(san.critical, ctx).toBe(false);
      expect(
        san.names.items.map((n) => [n.type, n.value]),
        ctx,
      ).toEqual([['url', spiffeId.toString()], ...dnsNames.map((d) => ['dns', d])]);

      const ku = cert.getExtension(px.KeyUsagesExtension)!;
      expect(ku.critical, ctx).toBe(true);
      expect(ku.usages, ctx).toBe(px.KeyUsageFlags.digitalSignature | px.KeyUsageFlags.keyEncipherment | px.KeyUsageFlags.keyAgreement);

      const bc = cert.getExtension(px.BasicConstraintsExtension)!;
      expect(bc.critical, ctx).toBe(true);
      expect(bc.ca, ctx).toBe(false);
      expect(bc.pathLength, ctx).toBeUndefined();

      const eku = cert.getExtension(px.ExtendedKeyUsageExtension)!;
      expect(eku.critical, ctx).toBe(false);
      expect(eku.usages, ctx).toEqual([px.ExtendedKeyUsage.serverAuth, px.ExtendedKeyUsage.clientAuth]);

      const keyBits = AsnConvert.parse(spki, SubjectPublicKeyInfo).subjectPublicKey;
      const expectedSki = createHash('sha1').update(new Uint8Array(keyBits)).digest('hex');
      const ski = cert.getExtension(px.SubjectKeyIdentifierExtension)!;
      expect(ski.critical, ctx).toBe(false);
      expect(ski.keyId, ctx).toBe(expectedSki);
      const aki = cert.getExtension(px.AuthorityKeyIdentifierExtension)!;
      expect(aki.keyId, ctx).toBe(ca.caCert.getExtension(px.SubjectKeyIdentifierExtension)!.keyId);

      const asn = AsnConvert.parse(out.der, Certificate);
      expect(asn.signatureAlgorithm.algorithm, ctx).toBe(ca.sigAlg);
      expect(asn.tbsCertificate.signature.algorithm, ctx).toBe(ca.sigAlg);
      expect(asn.tbsCertificate.version, ctx).toBe(2);
      expect(Buffer.from(AsnConvert.serialize(asn)).equals(Buffer.from(out.der)), `${ctx}: DER round trip`).toBe(true);
      expect(await cert.verify({ publicKey: ca.caCert.publicKey, signatureOnly: true }, crypto), ctx).toBe(true);

      // node's (OpenSSL's) reading.
      const nodeCert = new NodeX509(out.der);
      expect(nodeCert.verify(new NodeX509(ca.caDer).publicKey), ctx).toBe(true);
      expect(nodeCert.checkIssued(new NodeX509(ca.caDer)), ctx).toBe(true);
      expect(nodeCert.ca, ctx).toBe(false);
      expect(nodeCert.publicKey.equals(keyObject), ctx).toBe(true);

      // Our relying-party side.
      const parsed = parseX509Svid([out.der, ...ca.chainTail]);
      expect(parsed.spiffeId.equals(spiffeId), ctx).toBe(true);
      const verified = verifyX509Svid([out.der, ...ca.chainTail], ca.bundle, { now });
      expect(verified.spiffeId.toString(), ctx).toBe(spiffeId.toString());
      expect(verified.chain.length, ctx).toBe(2 + ca.chainTail.length);
      expect(Buffer.from(verified.chain.at(-1)!).equals(Buffer.from(ca.rootDer)), ctx).toBe(true);

      if (sampleFiles.length < OPENSSL_SAMPLE && (i % 7 === 0 || kind !== 'P-256')) {
        const base = join(tmp, `leaf-${i}`);
        writeFileSync(`${base}.der`, out.der);
        writeFileSync(`${base}.pem`, encodePem('CERTIFICATE', out.der));
        let chain: string | undefined;
        if (ca.chainTail.length > 0) {
          chain = `${base}-chain.pem`;
          writeFileSync(chain, ca.chainTail.map((d) => encodePem('CERTIFICATE', d)).join(''));
        }
        writeFileSync(`${base}-root.pem`, encodePem('CERTIFICATE', ca.rootDer));
        sampleFiles.push({ leaf: base, chain, root: `${base}-root.pem`, now });
      }
    }
    // The random inputs covered what they were meant to cover.
    expect(Object.keys(kinds).sort()).toEqual(['Ed25519', 'P-256', 'P-384', 'RSA']);
    expect(capped).toBeGreaterThan(0);
    expect(after2050).toBeGreaterThan(100);

    // openssl, for a sample.
    expect(sampleFiles.length).toBe(OPENSSL_SAMPLE);
    for (const f of sampleFiles) {
      const text = execFileSync('openssl', ['x509', '-inform', 'DER', '-in', `${f.leaf}.der`, '-noout', '-text'], {
        encoding: 'utf8',
      });
      expect(text).toContain('URI:spiffe://');
      expect(text).toMatch(/X509v3 Basic Constraints: critical\s+CA:FALSE/);
      expect(text).toMatch(/X509v3 Key Usage: critical\s+Digital Signature, Key Encipherment, Key Agreement/);
      expect(text).toContain('TLS Web Server Authentication, TLS Web Client Authentication');
      for (const purpose of ['sslserver', 'sslclient']) {
        const args = ['verify', '-x509_strict', '-purpose', purpose, '-attime', String(Math.floor(f.now.getTime() / 1000))];
        args.push('-CAfile', f.root);
        if (f.chain) args.push('-untrusted', f.chain);
        args.push(`${f.leaf}.pem`);
        const res = execFileSync('openssl', args, { encoding: 'utf8' });
        expect(res.trim()).toBe(`${f.leaf}.pem: OK`);
      }
    }
  });
});
