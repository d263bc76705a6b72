import { describe, expect, it } from 'vitest';
import { X509Bundle } from '../../../src/spiffe/bundle/index.js';
import { TrustDomain } from '../../../src/spiffe/id/index.js';
import { decodePem } from '../../../src/spiffe/pem.js';
import { makeSelfSignedCa } from './local-ca.js';
import { vector } from './vectors.js';

const td = TrustDomain.parse('domain.test');
const pem = (file: string): string => vector('x509bundle', file).toString('utf8');
const derOf = (file: string): Buffer => Buffer.concat(decodePem(pem(file)).map((b) => b.der));

describe('X509Bundle.parsePem on the go-spiffe x509bundle vectors', () => {
  it.each([
    ['cert.pem', 1],
    ['certs.pem', 2],
    ['empty.pem', 0],
    ['key.pem', 0], // a PRIVATE KEY block only: skipped, as go-spiffe does
  ])('%s gives %i authorities', (file, count) => {
    const bundle = X509Bundle.parsePem(td, pem(file));
    expect(bundle.x509Authorities).toHaveLength(count);
    expect(bundle.trustDomain.equals(td)).toBe(true);
  });

  it.each([
    ['not-pem.pem', 'pem-no-blocks'],
    ['corrupted.pem', 'certificate-trailing-data'],
  ])('%s is refused', (file, rule) => {
    expect(() => X509Bundle.parsePem(td, pem(file))).toThrow(expect.objectContaining({ code: 'ERR_BUNDLE_MALFORMED', rule }));
  });
});

describe('X509Bundle.parsePem edge cases', () => {
  it.each([
    ['whitespace only', ' \n'],
    ['certificate block of garbage', '-----BEGIN CERTIFICATE-----\nQ09SUlVQVA==\n-----END CERTIFICATE-----\n'],
    ['certificate block that is not base64', '-----BEGIN CERTIFICATE-----\n@@@@\n-----END CERTIFICATE-----\n'],
  ])('%s → ERR_BUNDLE_MALFORMED', (_name, text) => {
    expect(() => X509Bundle.parsePem(td, text)).toThrow(expect.objectContaining({ code: 'ERR_BUNDLE_MALFORMED' }));
  });

  it('deduplicates repeated certificates', () => {
    expect(X509Bundle.parsePem(td, pem('cert.pem') + pem('certs.pem')).x509Authorities).toHaveLength(2);
  });

  it('accepts a string trust domain and rejects a non-string text', () => {
    expect(X509Bundle.parsePem('spiffe://domain.test', pem('cert.pem')).trustDomain.name).toBe('domain.test');
    expect(() => X509Bundle.parsePem(td, 42 as unknown as string)).toThrow(TypeError);
  });
});

describe('X509Bundle.parseDer', () => {
  it('splits concatenated DER certificates', () => {
    const bundle = X509Bundle.parseDer(td, derOf('certs.pem'));
    expect(bundle.x509Authorities).toHaveLength(2);
    expect(Buffer.from(bundle.toConcatenatedDer())).toEqual(derOf('certs.pem'));
  });

  it('gives an empty bundle for empty input', () => {
    expect(X509Bundle.parseDer(td, new Uint8Array()).isEmpty()).toBe(true);
  });

  it('reads generated CA certificates of every key type', async () => {
    const cas = await Promise.all([makeSelfSignedCa('P-256'), makeSelfSignedCa('P-384'), makeSelfSignedCa('RSA')]);
    const bundle = X509Bundle.parseDer(td, Buffer.concat(cas.map((c) => c.der)));
    expect(bundle.x509Authorities.map((d) => Buffer.from(d))).toEqual(cas.map((c) => Buffer.from(c.der)));
  });

  const one = derOf('cert.pem');
  it.each([
    ['not DER at all', Buffer.from('not-DER-encoded')],
    ['truncated certificate', one.subarray(0, one.length - 10)],
    ['trailing garbage after a certificate', Buffer.concat([one, Buffer.from([0x01])])],
    ['SEQUENCE that is not a certificate', Buffer.from([0x30, 0x03, 0x02, 0x01, 0x00])],
    ['indefinite length', Buffer.from([0x30, 0x80, 0x00, 0x00])],
    ['non-minimal length', Buffer.concat([Buffer.from([0x30, 0x81, 0x03]), Buffer.from([0x02, 0x01, 0x00])])],
    ['the corrupted.pem vector as DER', derOf('corrupted.pem')],
  ])('%s → ERR_BUNDLE_MALFORMED', (_name, bytes) => {
    expect(() => X509Bundle.parseDer(td, bytes)).toThrow(expect.objectContaining({ code: 'ERR_BUNDLE_MALFORMED' }));
  });
});

describe('X509Bundle.toPem', () => {
  it('reproduces the certs.pem vector byte for byte', () => {
    expect(X509Bundle.parsePem(td, pem('certs.pem')).toPem()).toBe(pem('certs.pem'));
  });

  it('is empty for an empty bundle and round trips', () => {
    expect(new X509Bundle(td).toPem()).toBe('');
    const b = X509Bundle.parsePem(td, pem('certs.pem'));
    expect(X509Bundle.parsePem(td, b.toPem()).equals(b)).toBe(true);
  });
});

describe('X509Bundle as a source', () => {
  it('answers only for its own trust domain', () => {
    const b = X509Bundle.parsePem(td, pem('cert.pem'));
    expect(b.getX509BundleForTrustDomain(TrustDomain.parse('domain.test'))).toBe(b);
    expect(() => b.getX509BundleForTrustDomain(TrustDomain.parse('domain2.test'))).toThrow(
      expect.objectContaining({ code: 'ERR_BUNDLE_NOT_FOUND' }),
    );
  });
});
