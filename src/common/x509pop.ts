import { sign as cryptoSign, verify as cryptoVerify, constants, type KeyObject } from 'node:crypto';

/**
 * The x509pop proof-of-possession scheme, shared by the server (verifies) and the agent (signs), so the two cannot
 * drift apart.
 *
 * The server sends a challenge of {@link X509POP_NONCE_BYTES} random bytes. The agent answers with a signature, by the
 * private key of its node certificate (the leaf of the chain it presented), over the message
 *
 *     UTF-8("tessera-x509pop-v1") || 0x00 || UTF-8(<trust domain name, e.g. "example.org">) || 0x00 || nonce
 *
 * The context string keeps the signature from being valid for any other protocol; the trust domain keeps one server's
 * challenge from being answered to another's. The signature algorithm follows the key type:
 *
 * | leaf key        | signature                                                               |
 * |-----------------|-------------------------------------------------------------------------|
 * | EC P-256        | ECDSA with SHA-256, DER (ASN.1 `Ecdsa-Sig-Value`) encoding               |
 * | EC P-384        | ECDSA with SHA-384, DER encoding                                         |
 * | EC P-521        | ECDSA with SHA-512, DER encoding                                         |
 * | RSA / RSA-PSS   | RSASSA-PSS, SHA-256, MGF1 with SHA-256, salt length 32                   |
 * | Ed25519         | Ed25519 (pure, over the whole message)                                   |
 */
export const X509POP_CONTEXT = 'tessera-x509pop-v1';
export const X509POP_NONCE_BYTES = 32;

/** The exact bytes that are signed for `nonce`. */
export function x509popChallengeMessage(trustDomain: string, nonce: Uint8Array): Buffer {
  if (typeof trustDomain !== 'string') throw new TypeError('trustDomain must be a string');
  if (!(nonce instanceof Uint8Array)) throw new TypeError('nonce must be bytes');
  return Buffer.concat([
    Buffer.from(X509POP_CONTEXT, 'utf8'),
    Buffer.of(0),
    Buffer.from(trustDomain, 'utf8'),
    Buffer.of(0),
    nonce,
  ]);
}

interface Scheme {
  readonly hash: string | null;
  readonly pss: boolean;
}

/** The signature scheme for a key, or undefined when x509pop does not support its type. */
export function x509popScheme(key: KeyObject): Scheme | undefined {
  switch (key.asymmetricKeyType) {
    case 'ec':
      switch (key.asymmetricKeyDetails?.namedCurve) {
        case 'prime256v1':
          return { hash: 'sha256', pss: false };
        case 'secp384r1':
          return { hash: 'sha384', pss: false };
        case 'secp521r1':
          return { hash: 'sha512', pss: false };
        default:
          return undefined;
      }
    case 'rsa':
    case 'rsa-pss':
      return { hash: 'sha256', pss: true };
    case 'ed25519':
      return { hash: null, pss: false };
    default:
      return undefined;
  }
}

const PSS = { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 } as const;

/** Signs the challenge (the agent side). TypeError for a key type the scheme does not cover. */
export function signX509PopChallenge(privateKey: KeyObject, trustDomain: string, nonce: Uint8Array): Buffer {
  const scheme = x509popScheme(privateKey);
  if (!scheme) throw new TypeError(`x509pop does not support ${String(privateKey.asymmetricKeyType)} keys`);
  const message = x509popChallengeMessage(trustDomain, nonce);
  return cryptoSign(scheme.hash, message, scheme.pss ? { key: privateKey, ...PSS } : privateKey);
}

/** Checks an answer (the server side). False for a wrong signature or an unsupported key type; never throws on bad input bytes. */
export function verifyX509PopSignature(
  publicKey: KeyObject,
  trustDomain: string,
  nonce: Uint8Array,
  signature: Uint8Array,
): boolean {
  const scheme = x509popScheme(publicKey);
  if (!scheme) return false;
  const message = x509popChallengeMessage(trustDomain, nonce);
  try {
    return cryptoVerify(scheme.hash, message, scheme.pss ? { key: publicKey, ...PSS } : publicKey, signature);
  } catch {
    return false;
  }
}
