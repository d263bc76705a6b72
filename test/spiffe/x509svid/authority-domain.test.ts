import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { X509Bundle } from '../../../src/spiffe/bundle/index.js';
import { BundleMalformed } from '../../../src/spiffe/errors.js';
import { TrustDomain } from '../../../src/spiffe/id/index.js';
import { checkAuthoritiesTrustDomain, createCaCertificate } from '../../../src/spiffe/x509svid/index.js';
import { bundleOf, mintCertificate, newRootCa, CA_KU } from '../../helpers/test-ca.js';

const malformed = (rule: string): unknown =>
  expect.objectContaining({ name: 'BundleMalformed', code: 'ERR_BUNDLE_MALFORMED', rule });

function refusal(fn: () => void): BundleMalformed {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(BundleMalformed);
    return err as BundleMalformed;
  }
  throw new Error('expected the bundle to be refused');
}

describe('checkAuthoritiesTrustDomain', () => {
  it('accepts authorities carrying the bundle trust domain SPIFFE ID (as Tessera issues them)', async () => {
    const td = TrustDomain.parse('b.test');
    const key = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const der = await createCaCertificate({
      trustDomain: td,
      publicKey: key.publicKey,
      signer: { key: key.privateKey },
      now: new Date(),
      ttlSeconds: 3600,
    });
    const withPath = await newRootCa('b.test', { uris: ['spiffe://b.test/ca/intermediate'] });
    expect(() => checkAuthoritiesTrustDomain(new X509Bundle(td, [der, withPath.der]))).not.toThrow();
  });

  it('accepts authorities without any URI SAN, or with only non-SPIFFE URIs', async () => {
    const plain = await mintCertificate({ subject: 'CN=Plain Root', ca: true, keyUsage: CA_KU });
    const dnsOnly = await mintCertificate({ subject: 'CN=DNS Root', ca: true, keyUsage: CA_KU, dnsNames: ['ca.c.test'] });
    const httpsUri = await newRootCa('b.test', { uris: ['https://c.test/ca'] });
    expect(() => checkAuthoritiesTrustDomain(bundleOf('b.test', plain, dnsOnly, httpsUri))).not.toThrow();
  });

  it('accepts an empty bundle', () => {
    expect(() => checkAuthoritiesTrustDomain(new X509Bundle(TrustDomain.parse('b.test')))).not.toThrow();
  });

  it('refuses a bundle holding an authority of another trust domain', async () => {
    const own = await newRootCa('b.test');
    const foreign = await newRootCa('c.test');
    const err = refusal(() => checkAuthoritiesTrustDomain(bundleOf('b.test', own, foreign)));
    expect(err).toEqual(malformed('authority-foreign-trust-domain'));
    // Names the offending authority (index 1) and both trust domains.
    expect(err.message).toContain('authority 1');
    expect(err.message).toContain('"c.test"');
    expect(err.message).toContain('"b.test"');
    // Alone, the same c.test authority is fine in c.test's bundle.
    expect(() => checkAuthoritiesTrustDomain(bundleOf('c.test', foreign))).not.toThrow();
  });

  it('refuses a foreign SPIFFE ID even next to the own one, with a path, or in upper-case scheme', async () => {
    const both = await newRootCa('b.test', { uris: ['spiffe://b.test', 'spiffe://c.test'] });
    expect(() => checkAuthoritiesTrustDomain(bundleOf('b.test', both))).toThrow(malformed('authority-foreign-trust-domain'));
    const withPath = await newRootCa('b.test', { uris: ['spiffe://c.test/tessera/server'] });
    expect(() => checkAuthoritiesTrustDomain(bundleOf('b.test', withPath))).toThrow(
      malformed('authority-foreign-trust-domain'),
    );
    const upper = await newRootCa('b.test', { uris: ['SPIFFE://c.test'] });
    expect(() => checkAuthoritiesTrustDomain(bundleOf('b.test', upper))).toThrow(malformed('authority-foreign-trust-domain'));
  });

  it('does not take a longer name sharing the prefix for the own trust domain', async () => {
    const lookalike = await newRootCa('b.test', { uris: ['spiffe://b.test.evil'] });
    expect(() => checkAuthoritiesTrustDomain(bundleOf('b.test', lookalike))).toThrow(
      malformed('authority-foreign-trust-domain'),
    );
    const sub = await newRootCa('b.test', { uris: ['spiffe://sub.b.test'] });
    expect(() => checkAuthoritiesTrustDomain(bundleOf('b.test', sub))).toThrow(malformed('authority-foreign-trust-domain'));
  });

  it('refuses an authority that cannot be parsed (certificate-parse)', async () => {
    const own = await newRootCa('b.test');
    const bundle = new X509Bundle(TrustDomain.parse('b.test'), [own.der, new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x01])]);
    expect(() => checkAuthoritiesTrustDomain(bundle)).toThrow(malformed('certificate-parse'));
  });
});
