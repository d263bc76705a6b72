import { generateKeyPair, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import type { JwtSvidAlgorithm } from '../../spiffe/jwtsvid/index.js';

/** X.509 CA key types (server config `ca.keyType`). */
export type CaKeyType = 'ec-p256' | 'ec-p384';
/** JWT signing key types (server config `jwt.keyType`). */
export type JwtKeyType = 'ec-p256' | 'ec-p384' | 'rsa-2048';

const generate = promisify(generateKeyPair);

/** A fresh key pair of `type` (cold path: once per rotation). */
export async function generateSigningKey(
  type: CaKeyType | JwtKeyType,
): Promise<{ publicKey: KeyObject; privateKey: KeyObject }> {
  switch (type) {
    case 'ec-p256':
      return generate('ec', { namedCurve: 'P-256' });
    case 'ec-p384':
      return generate('ec', { namedCurve: 'P-384' });
    case 'rsa-2048':
      return generate('rsa', { modulusLength: 2048 });
    default:
      throw new TypeError(`unsupported key type ${JSON.stringify(type)}`);
  }
}

/** The JWS algorithm a JWT key signs with: ES256 for P-256, ES384 for P-384, RS256 for RSA. */
export function jwtAlgorithmOf(key: KeyObject): JwtSvidAlgorithm {
  if (key.asymmetricKeyType === 'rsa') return 'RS256';
  if (key.asymmetricKeyType === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve === 'prime256v1') return 'ES256';
    if (curve === 'secp384r1') return 'ES384';
  }
  throw new TypeError(`no JWT-SVID algorithm for a ${key.asymmetricKeyType ?? 'unknown'} key`);
}
