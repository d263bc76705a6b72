import { AsnConvert } from '@peculiar/asn1-schema';
import { AlgorithmIdentifier } from '@peculiar/asn1-x509';

/** Object identifiers used by the X509-SVID code (dotted form, as @peculiar/asn1-schema takes them). */
export const OID = {
  // Public key algorithms
  ecPublicKey: '1.2.840.10045.2.1',
  rsaEncryption: '1.2.840.113549.1.1.1',
  ed25519: '1.3.101.112',
  p256: '1.2.840.10045.3.1.7',
  p384: '1.3.132.0.34',
  p521: '1.3.132.0.35',
  // Signature algorithms
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  ecdsaWithSha384: '1.2.840.10045.4.3.3',
  ecdsaWithSha512: '1.2.840.10045.4.3.4',
  sha256WithRsa: '1.2.840.113549.1.1.11',
  sha384WithRsa: '1.2.840.113549.1.1.12',
  sha512WithRsa: '1.2.840.113549.1.1.13',
  // Name attributes
  countryName: '2.5.4.6',
  organizationName: '2.5.4.10',
  serialNumber: '2.5.4.5',
  // Extensions
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  nameConstraints: '2.5.29.30',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  // Extended key usages
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
} as const;

/** DER of an OBJECT IDENTIFIER, via @peculiar/asn1-schema (an AlgorithmIdentifier without parameters, unwrapped). */
export function oidDer(oid: string): Uint8Array {
  const der = new Uint8Array(AsnConvert.serialize(new AlgorithmIdentifier({ algorithm: oid })));
  return der.subarray(2); // SEQUENCE header: our OIDs are far shorter than 128 octets
}
