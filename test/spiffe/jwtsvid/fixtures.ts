import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { CompactSign, type CompactJWSHeaderParameters } from 'jose';
import type { JwtSvidAlgorithm } from '../../../src/spiffe/jwtsvid/index.js';

export interface TestKey {
  readonly kid: string;
  readonly alg: JwtSvidAlgorithm;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
}

/** A fresh key pair fitting `alg`. */
export function keyFor(alg: JwtSvidAlgorithm, kid: string = `kid-${alg}`): TestKey {
  const pair =
    alg === 'ES256'
      ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
      : alg === 'ES384'
        ? generateKeyPairSync('ec', { namedCurve: 'P-384' })
        : generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { kid, alg, ...pair };
}

/** Signs arbitrary header and payload with jose, for tokens minting would refuse to make. */
export async function signCustom(
  header: CompactJWSHeaderParameters,
  payload: Record<string, unknown>,
  key: KeyObject | Uint8Array,
): Promise<string> {
  return new CompactSign(new TextEncoder().encode(JSON.stringify(payload))).setProtectedHeader(header).sign(key);
}

export const b64url = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
