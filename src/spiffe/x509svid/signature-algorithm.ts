import type { KeyObject } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { AlgorithmIdentifier } from '@peculiar/asn1-x509';
import { KeyInvalid } from '../errors.js';
import { OID } from './oids.js';

/** How a CA key signs certificates: the AlgorithmIdentifier to embed and the digest for `crypto.sign`. */
export interface SignatureAlgorithm {
  readonly oid: string;
  /** Digest name for `crypto.sign`/`crypto.verify`; null for Ed25519 (no pre-hash). */
  readonly hash: 'sha256' | 'sha384' | 'sha512' | null;
  /** AlgorithmIdentifier DER. */
  readonly der: Uint8Array;
  /** The key type (`KeyObject.asymmetricKeyType`) that makes such signatures. */
  readonly keyType: 'ec' | 'rsa' | 'ed25519';
}

function algorithm(oid: string, hash: SignatureAlgorithm['hash'], keyType: SignatureAlgorithm['keyType']): SignatureAlgorithm {
  // RSA PKCS#1 v1.5 identifiers carry explicit NULL parameters (RFC 4055); ECDSA and Ed25519 ones carry none.
  const id =
    keyType === 'rsa'
      ? new AlgorithmIdentifier({ algorithm: oid, parameters: null })
      : new AlgorithmIdentifier({ algorithm: oid });
  return { oid, hash, keyType, der: new Uint8Array(AsnConvert.serialize(id)) };
}

/** Signature algorithms we issue with and accept in chains (RFC 5758, RFC 4055, RFC 8410). SHA-1 is refused. */
export const SIGNATURE_ALGORITHMS: ReadonlyMap<string, SignatureAlgorithm> = new Map(
  [
    algorithm(OID.ecdsaWithSha256, 'sha256', 'ec'),
    algorithm(OID.ecdsaWithSha384, 'sha384', 'ec'),
    algorithm(OID.ecdsaWithSha512, 'sha512', 'ec'),
    algorithm(OID.sha256WithRsa, 'sha256', 'rsa'),
    algorithm(OID.sha384WithRsa, 'sha384', 'rsa'),
    algorithm(OID.sha512WithRsa, 'sha512', 'rsa'),
    algorithm(OID.ed25519, null, 'ed25519'),
  ].map((a) => [a.oid, a]),
);

/**
 * The algorithm a CA key signs with: ECDSA with the digest matching the curve (P-256 → SHA-256, P-384 → SHA-384,
 * P-521 → SHA-512), RSA PKCS#1 v1.5 with SHA-256, or Ed25519.
 */
export function signatureAlgorithmFor(key: KeyObject): SignatureAlgorithm {
  let oid: string;
  switch (key.asymmetricKeyType) {
    case 'ec': {
      const curve = key.asymmetricKeyDetails?.namedCurve;
      if (curve === 'prime256v1') oid = OID.ecdsaWithSha256;
      else if (curve === 'secp384r1') oid = OID.ecdsaWithSha384;
      else if (curve === 'secp521r1') oid = OID.ecdsaWithSha512;
      else throw new KeyInvalid('key-type', `unsupported CA curve ${JSON.stringify(curve)}`);
      break;
    }
    case 'rsa':
      oid = OID.sha256WithRsa;
      break;
    case 'ed25519':
      oid = OID.ed25519;
      break;
    default:
      throw new KeyInvalid('key-type', `unsupported CA key type ${JSON.stringify(key.asymmetricKeyType)}`);
  }
  return SIGNATURE_ALGORITHMS.get(oid)!;
}
