import 'reflect-metadata';
import { execFileSync } from 'node:child_process';
import { createHash, generateKeyPairSync, X509Certificate as NodeX509, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as px from '@peculiar/x509';
import { AsnConvert } from '@peculiar/asn1-schema';
import { Certificate, SubjectPublicKeyInfo } from '@peculiar/asn1-x509';
import { afterAll, describe, expect, it } from 'vitest';
import { X509Bundle } from '../../../src/spiffe/bundle/x509-bundle.js';
import { SpiffeId, TrustDomain } from '../../../src/spiffe/id/index.js';
import { encodePem } from '../../../src/spiffe/pem.js';
import { certificateParts } from '../../../src/spiffe/x509svid/der-reader.js';
import {
  createCaCertificate,
  parseX509Svid,
  verifyX509Svid,
  X509SvidSigner,
} from '../../../src/spiffe/x509svid/index.js';
import { newLeaf, newRootCa } from '../../helpers/test-ca.js';

const TD = TrustDomain.parse('example.org');
const NOW = new Date('2030-01-01T00:00:00.250Z');
const crypto = (globalThis as { crypto: Crypto }).crypto;

type Pair = { publicKey: KeyObject; privateKey: KeyObject };
const keys = {
  'P-256': (): Pair => generateKeyPairSync('ec', { namedCurve: 'P-256' }),
  'P-384': (): Pair => generateKeyPairSync('ec', { namedCurve: 'P-384' }),
  RSA: (): Pair => generateKeyPairSync('rsa', { modulusLength: 2048 }),
  Ed25519: (): Pair => generateKeyPairSync('ed25519'),
};

async function expectRejection(p: Promise<unknown>, code: string, rule?: string): Promise<void> {
  const err = (await p.then(
    () => undefined,
    (e: unknown) => e,
  )) as { code?: string; rule?: string } | undefined;
  expect(err, 'expected a rejection').toBeDefined();
  expect(err!.code).toBe(code);
  if (rule) expect(err!.rule).toBe(rule);
}

function skiOf(pub: KeyObject): string {
  const spki = pub.export({ type: 'spki', format: 'der' });
  return createHash('sha1').update(new Uint8Array(AsnConvert.parse(spki, SubjectPublicKeyInfo).subjectPublicKey)).digest('hex');
}

const tmp = mkdtempSync(join(tmpdir(), 'tessera-ca-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function opensslVerify(root: Uint8Array, chain: Uint8Array[], leaf: Uint8Array, at: Date): string {
  const f = (name: string, ders: Uint8Array[]): string => {
    const p = join(tmp, name);
    writeFileSync(p, ders.map((d) => encodePem('CERTIFICATE', d)).join(''));
    return p;
  };
  const args = ['verify', '-x509_strict', '-attime', String(Math.floor(at.getTime() / 1000)), '-CAfile', f('root.pem', [root])];
  if (chain.length) args.push('-untrusted', f('chain.pem', chain));
  args.push(f('leaf.pem', [leaf]));
  return execFileSync('openssl', args, { encoding: 'utf8' }).trim();
}

describe('createCaCertificate', () => {
  for (const kind of Object.keys(keys) as (keyof typeof keys)[]) {
    it(`makes a ${kind} self-signed root with the SPIFFE CA profile`, async () => {
      const k = keys[kind]();
      const der = await createCaCertificate({ trustDomain: TD, publicKey: k.publicKey, signer: { key: k.privateKey }, now: NOW, ttlSeconds: 86400, pathLenConstraint: 1 });
      const cert = new px.X509Certificate(der);
      expect(cert.notBefore.toISOString()).toBe('2029-12-31T23:59:50.000Z');
      expect(cert.notAfter.toISOString()).toBe('2030-01-02T00:00:00.000Z');
      expect(cert.subject).toBe(`C=US, O=Tessera, 2.5.4.5=${BigInt('0x' + cert.serialNumber)}`);
      expect(cert.issuer).toBe(cert.subject);
      const bc = cert.getExtension(px.BasicConstraintsExtension)!;
      expect([bc.critical, bc.ca, bc.pathLength]).toEqual([true, true, 1]);
      const ku = cert.getExtension(px.KeyUsagesExtension)!;
      expect([ku.critical, ku.usages]).toEqual([true, px.KeyUsageFlags.keyCertSign | px.KeyUsageFlags.cRLSign]);
      const san = cert.getExtension(px.SubjectAlternativeNameExtension)!;
      expect(san.names.items.map((n) => [n.type, n.value])).toEqual([['url', 'spiffe://example.org']]);
      expect(cert.getExtension(px.SubjectKeyIdentifierExtension)!.keyId).toBe(skiOf(k.publicKey));
      expect(cert.getExtension(px.AuthorityKeyIdentifierExtension)).toBeNull();
      expect(await cert.verify({ signatureOnly: true }, crypto)).toBe(true);
      expect(new NodeX509(der).verify(k.publicKey)).toBe(true);
      expect(opensslVerify(der, [], der, NOW)).toMatch(/: OK$/);
      // And it signs leaves that verify against it.
      const signer = X509SvidSigner.create({ caCertificate: der, caKey: k.privateKey });
      const leaf = signer.sign({ spiffeId: SpiffeId.parse('spiffe://example.org/w'), publicKey: keys['P-256']().publicKey, now: NOW, ttlSeconds: 60 });
      expect(verifyX509Svid([leaf.der], new X509Bundle(TD, [der]), { now: NOW }).chain).toEqual([leaf.der, der]);
      expect(opensslVerify(der, [], leaf.der, NOW)).toMatch(/: OK$/);
    });
  }

  it('makes intermediates: issuer = parent subject bytes, AKI = parent SKI, notAfter capped, chains verify', async () => {
    const rootKey = keys['P-384']();
    const rootDer = await createCaCertificate({ trustDomain: TD, publicKey: rootKey.publicKey, signer: { key: rootKey.privateKey }, now: NOW, ttlSeconds: 7 * 86400 });
    const k1 = keys['P-256']();
    const inter1 = await createCaCertificate({
      trustDomain: TD,
      publicKey: k1.publicKey,
      signer: { key: rootKey.privateKey, certificate: rootDer },
      now: NOW,
      ttlSeconds: 30 * 86400, // longer than the root: capped
      subject: 'C=US, O=Tessera, CN=Intermediate 1',
    });
    const k2 = keys.RSA();
    const inter2 = await createCaCertificate({ trustDomain: TD, publicKey: k2.publicKey, signer: { key: k1.privateKey, certificate: inter1 }, now: NOW, ttlSeconds: 3600 });

    const root = new px.X509Certificate(rootDer);
    const c1 = new px.X509Certificate(inter1);
    const c2 = new px.X509Certificate(inter2);
    expect(c1.subject).toBe('C=US, O=Tessera, CN=Intermediate 1');
    expect(Buffer.from(certificateParts(inter1).issuer).equals(Buffer.from(certificateParts(rootDer).subject))).toBe(true);
    expect(Buffer.from(certificateParts(inter2).issuer).equals(Buffer.from(certificateParts(inter1).subject))).toBe(true);
    expect(c1.notAfter.getTime()).toBe(root.notAfter.getTime());
    expect(c2.notAfter.toISOString()).toBe('2030-01-01T01:00:00.000Z');
    expect(c1.getExtension(px.AuthorityKeyIdentifierExtension)!.keyId).toBe(root.getExtension(px.SubjectKeyIdentifierExtension)!.keyId);
    expect(c2.getExtension(px.AuthorityKeyIdentifierExtension)!.keyId).toBe(c1.getExtension(px.SubjectKeyIdentifierExtension)!.keyId);
    expect(AsnConvert.parse(inter1, Certificate).signatureAlgorithm.algorithm).toBe('1.2.840.10045.4.3.3');
    expect(new NodeX509(inter1).verify(rootKey.publicKey)).toBe(true);
    expect(new NodeX509(inter2).verify(k1.publicKey)).toBe(true);

    const leafKey = keys['P-256']();
    const leaf = X509SvidSigner.create({ caCertificate: inter2, caKey: k2.privateKey }).sign({
      spiffeId: SpiffeId.parse('spiffe://example.org/w'),
      publicKey: leafKey.publicKey,
      now: NOW,
      ttlSeconds: 86400,
    });
    expect(leaf.notAfter.getTime()).toBe(c2.notAfter.getTime());
    const chain = [leaf.der, inter2, inter1];
    const res = verifyX509Svid(chain, new X509Bundle(TD, [rootDer]), { now: NOW });
    expect(res.chain).toEqual([leaf.der, inter2, inter1, rootDer]);
    expect(parseX509Svid(chain, new Uint8Array(leafKey.privateKey.export({ type: 'pkcs8', format: 'der' }))).certificates.length).toBe(3);
    expect(opensslVerify(rootDer, [inter2, inter1], leaf.der, NOW)).toMatch(/: OK$/);
  });

  it('honours pathLenConstraint in verification', async () => {
    const r = keys['P-256']();
    const rootDer = await createCaCertificate({ trustDomain: TD, publicKey: r.publicKey, signer: { key: r.privateKey }, now: NOW, ttlSeconds: 86400, pathLenConstraint: 0 });
    const i = keys['P-256']();
    const interDer = await createCaCertificate({ trustDomain: TD, publicKey: i.publicKey, signer: { key: r.privateKey, certificate: rootDer }, now: NOW, ttlSeconds: 3600 });
    const leaf = X509SvidSigner.create({ caCertificate: interDer, caKey: i.privateKey }).sign({
      spiffeId: SpiffeId.parse('spiffe://example.org/w'),
      publicKey: keys['P-256']().publicKey,
      now: NOW,
      ttlSeconds: 60,
    });
    let code: string | undefined;
    try {
      verifyX509Svid([leaf.der, interDer], new X509Bundle(TD, [rootDer]), { now: NOW });
    } catch (e) {
      code = (e as { rule?: string }).rule;
    }
    expect(code).toBe('path-len-exceeded');
  });

  it('takes a caller serial', async () => {
    const k = keys['P-256']();
    const der = await createCaCertificate({ trustDomain: TD, publicKey: k.publicKey, signer: { key: k.privateKey }, now: NOW, ttlSeconds: 60, serial: 0xfedcban });
    expect(new px.X509Certificate(der).serialNumber).toBe('fedcba');
  });

  it('refuses a parent that is not a CA, a signer key that is not the parent key, and an expired parent', async () => {
    const k = keys['P-256']();
    const root = await newRootCa();
    const leaf = await newLeaf(root, 'spiffe://example.org/w');
    await expectRejection(
      createCaCertificate({ trustDomain: TD, publicKey: k.publicKey, signer: { key: leaf.key.privateKey, certificate: leaf.der }, now: NOW, ttlSeconds: 60 }),
      'ERR_X509_ISSUE_INVALID',
      'parent-not-ca',
    );
    await expectRejection(
      createCaCertificate({ trustDomain: TD, publicKey: k.publicKey, signer: { key: k.privateKey, certificate: root.der }, now: NOW, ttlSeconds: 60 }),
      'ERR_KEY_INVALID',
      'signer-key-mismatch',
    );
    await expectRejection(
      createCaCertificate({ trustDomain: TD, publicKey: k.publicKey, signer: { key: keys['P-256']().privateKey }, now: NOW, ttlSeconds: 60 }),
      'ERR_KEY_INVALID',
      'signer-key-mismatch',
    );
    await expectRejection(
      createCaCertificate({ trustDomain: TD, publicKey: k.publicKey, signer: { key: root.key.privateKey, certificate: root.der }, now: new Date('2045-01-01T00:00:00Z'), ttlSeconds: 60 }),
      'ERR_X509_ISSUE_INVALID',
      'parent-expired',
    );
  });

  it('refuses bad TTLs, path lengths and serials', async () => {
    const k = keys['P-256']();
    const p = { trustDomain: TD, publicKey: k.publicKey, signer: { key: k.privateKey }, now: NOW, ttlSeconds: 60 };
    await expectRejection(createCaCertificate({ ...p, ttlSeconds: 0 }), 'ERR_X509_ISSUE_INVALID', 'ttl');
    await expectRejection(createCaCertificate({ ...p, pathLenConstraint: -1 }), 'ERR_X509_ISSUE_INVALID', 'path-len');
    await expectRejection(createCaCertificate({ ...p, serial: 0n }), 'ERR_X509_ISSUE_INVALID', 'serial');
    await expectRejection(
      createCaCertificate({ ...p, publicKey: generateKeyPairSync('ec', { namedCurve: 'P-521' }).publicKey }),
      'ERR_KEY_INVALID',
      'key-type',
    );
  });
});
