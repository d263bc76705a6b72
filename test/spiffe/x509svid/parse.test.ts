import 'reflect-metadata';
import { generateKeyPairSync } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { encodePem } from '../../../src/spiffe/pem.js';
import { parseX509Svid, parseX509SvidPem } from '../../../src/spiffe/x509svid/index.js';
import {
  generateTestKey,
  KU,
  newIntermediateCa,
  newLeaf,
  newRootCa,
  type TestCert,
} from '../../helpers/test-ca.js';
import { BAD_LEAVES, mintBadLeaf } from './bad-leaves.js';

const ID = 'spiffe://example.org/workload';

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

describe('parseX509Svid', () => {
  let root: TestCert;
  let inter: TestCert;
  let leaf: TestCert;

  beforeAll(async () => {
    root = await newRootCa('example.org');
    inter = await newIntermediateCa(root);
    leaf = await newLeaf(inter, ID, {
      // Long expired: Parse does not look at dates.
      notBefore: new Date('2001-01-01T00:00:00Z'),
      notAfter: new Date('2002-01-01T00:00:00Z'),
    });
  });

  it('reads a chain given as a list or as concatenated DER, with its key', () => {
    const fromList = parseX509Svid([leaf.der, inter.der], leaf.key.pkcs8);
    const fromConcat = parseX509Svid(Buffer.concat([leaf.der, inter.der]), leaf.key.pkcs8);
    for (const svid of [fromList, fromConcat]) {
      expect(svid.spiffeId.toString()).toBe(ID);
      expect(svid.certificates).toEqual([leaf.der, inter.der]);
      expect(svid.privateKey?.equals(leaf.key.privateKey)).toBe(true);
    }
    expect(parseX509Svid([leaf.der]).privateKey).toBeUndefined();
  });

  it('accepts RSA, P-384 and Ed25519 leaf keys', async () => {
    for (const kind of ['RSA-2048', 'P-384', 'Ed25519'] as const) {
      const key = await generateTestKey(kind);
      const l = await newLeaf(inter, ID, { key });
      expect(parseX509Svid([l.der], key.pkcs8).privateKey?.asymmetricKeyType).toBe(key.privateKey.asymmetricKeyType);
    }
  });

  describe('refuses each leaf rule', () => {
    for (const c of BAD_LEAVES) {
      it(c.name, async () => {
        const bad = await mintBadLeaf(inter, c);
        expectError(() => parseX509Svid([bad.der, inter.der], bad.key.pkcs8), c.code, c.rule);
      });
    }
  });

  it('refuses an empty chain', () => {
    expectError(() => parseX509Svid([]), 'ERR_X509_SVID_INVALID', 'no-certificates');
    expectError(() => parseX509Svid(new Uint8Array()), 'ERR_X509_SVID_INVALID', 'no-certificates');
  });

  it('refuses bytes that are not DER certificates', () => {
    expectError(() => parseX509Svid(new TextEncoder().encode('not-DER-encoded')), 'ERR_X509_SVID_INVALID', 'malformed-certificate');
    expectError(() => parseX509Svid(Buffer.concat([leaf.der, Buffer.from([0x30])])), 'ERR_X509_SVID_INVALID', 'malformed-certificate');
  });

  it('refuses signing certificates that are not CAs or lack keyCertSign (key usage required here)', async () => {
    const notCa = await newIntermediateCa(root, 'example.org', { ca: false });
    expectError(() => parseX509Svid([leaf.der, notCa.der]), 'ERR_X509_SVID_INVALID', 'signing-not-ca');
    const noCertSign = await newIntermediateCa(root, 'example.org', { keyUsage: KU.cRLSign });
    expectError(() => parseX509Svid([leaf.der, noCertSign.der]), 'ERR_X509_SVID_INVALID', 'signing-key-cert-sign');
    const noKu = await newIntermediateCa(root, 'example.org', { keyUsage: undefined });
    expectError(() => parseX509Svid([leaf.der, noKu.der]), 'ERR_X509_SVID_INVALID', 'signing-key-cert-sign');
  });

  it('refuses a key that does not match the leaf', async () => {
    const other = await generateTestKey('P-256');
    expectError(() => parseX509Svid([leaf.der, inter.der], other.pkcs8), 'ERR_KEY_INVALID', 'key-mismatch');
    const rsa = await generateTestKey('RSA-2048');
    expectError(() => parseX509Svid([leaf.der], rsa.pkcs8), 'ERR_KEY_INVALID', 'key-mismatch');
    // The CA's key is not the leaf's either.
    expectError(() => parseX509Svid([leaf.der, inter.der], inter.key.pkcs8), 'ERR_KEY_INVALID', 'key-mismatch');
  });

  it('a key of another type does not disturb later calls (no stale OpenSSL error)', async () => {
    const rsa = await generateTestKey('RSA-2048');
    const rsaLeaf = await newLeaf(inter, ID, { key: rsa });
    for (let i = 0; i < 3; i++) {
      expectError(() => parseX509Svid([leaf.der], rsa.pkcs8), 'ERR_KEY_INVALID', 'key-mismatch');
      expect(parseX509Svid([rsaLeaf.der], rsa.pkcs8).privateKey).toBeDefined();
    }
  });

  it('refuses malformed and unsupported private keys', () => {
    expectError(() => parseX509Svid([leaf.der], new TextEncoder().encode('CORRUPT')), 'ERR_KEY_INVALID', 'malformed-private-key');
    const x25519 = generateKeyPairSync('x25519').privateKey.export({ type: 'pkcs8', format: 'der' });
    expectError(() => parseX509Svid([leaf.der], x25519), 'ERR_KEY_INVALID', 'unsupported-key-type');
  });

  it('decodes both inputs first, then checks the certificates, then the key (go-spiffe order)', async () => {
    const bad = await newLeaf(inter, ID, { ca: true });
    const wrongKey = (await generateTestKey()).pkcs8;
    expectError(() => parseX509Svid([bad.der], new Uint8Array([1, 2, 3])), 'ERR_KEY_INVALID', 'malformed-private-key');
    expectError(() => parseX509Svid([bad.der], wrongKey), 'ERR_X509_SVID_INVALID', 'leaf-ca-flag');
  });
});

describe('parseX509SvidPem', () => {
  let leaf: TestCert;
  let inter: TestCert;

  beforeAll(async () => {
    inter = await newIntermediateCa(await newRootCa('example.org'));
    leaf = await newLeaf(inter, ID);
  });

  it('reads CERTIFICATE blocks in order and the PRIVATE KEY block, from one or two texts', () => {
    const keyPem = encodePem('PRIVATE KEY', leaf.key.pkcs8);
    const combined = leaf.pem + inter.pem + keyPem;
    for (const svid of [parseX509SvidPem(leaf.pem + inter.pem, keyPem), parseX509SvidPem(combined, combined)]) {
      expect(svid.spiffeId.toString()).toBe(ID);
      expect(svid.certificates).toEqual([leaf.der, inter.der]);
      expect(svid.privateKey?.equals(leaf.key.privateKey)).toBe(true);
    }
  });

  it('names the missing part', () => {
    expectError(() => parseX509SvidPem('no pem here'), 'ERR_X509_SVID_INVALID', 'no-pem-blocks');
    expectError(() => parseX509SvidPem(leaf.pem, 'no pem here'), 'ERR_KEY_INVALID', 'no-pem-blocks');
    expectError(() => parseX509SvidPem(leaf.pem, leaf.pem), 'ERR_KEY_INVALID', 'no-private-key');
    expectError(
      () => parseX509SvidPem(encodePem('PRIVATE KEY', leaf.key.pkcs8)),
      'ERR_X509_SVID_INVALID',
      'no-certificates',
    );
    expectError(
      () => parseX509SvidPem('-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n'),
      'ERR_X509_SVID_INVALID',
      'malformed-pem',
    );
  });
});
