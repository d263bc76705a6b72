/**
 * A tiny self-signed CA maker for the bundle tests (the shared test/helpers/test-ca.ts is written elsewhere).
 * Certificates are built with @peculiar/x509 and returned as DER plus node's view of the public key.
 */
import 'reflect-metadata';
import { webcrypto, type KeyObject, X509Certificate } from 'node:crypto';
import * as x509 from '@peculiar/x509';

export type CaKeyKind = 'P-256' | 'P-384' | 'RSA';

export interface LocalCa {
  readonly der: Uint8Array;
  readonly publicKey: KeyObject;
}

let serial = 1;

export async function makeSelfSignedCa(kind: CaKeyKind, trustDomain = 'example.org'): Promise<LocalCa> {
  const crypto = webcrypto as unknown as Crypto;
  const alg =
    kind === 'RSA'
      ? { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' }
      : { name: 'ECDSA', namedCurve: kind };
  const keys = (await crypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: (serial++).toString(16).padStart(2, '0'),
      name: `CN=Test CA ${kind}`,
      notBefore: new Date('2025-01-01T00:00:00Z'),
      notAfter: new Date('2035-01-01T00:00:00Z'),
      keys,
      signingAlgorithm: kind === 'RSA' ? alg : { name: 'ECDSA', hash: kind === 'P-384' ? 'SHA-384' : 'SHA-256' },
      extensions: [
        new x509.BasicConstraintsExtension(true, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        new x509.SubjectAlternativeNameExtension([{ type: 'url', value: `spiffe://${trustDomain}` }]),
      ],
    },
    crypto,
  );
  const der = new Uint8Array(cert.rawData);
  return { der, publicKey: new X509Certificate(der).publicKey };
}
