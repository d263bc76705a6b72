import { createPublicKey, randomBytes, type JsonWebKey, type KeyObject } from 'node:crypto';
import { failedPrecondition } from '../../common/errors.js';
import type { JwtSvidAlgorithm } from '../../spiffe/jwtsvid/index.js';
import type { KeyRecord } from '../datastore/index.js';
import type { KeyKindOps } from './key-ring-types.js';
import { generateSigningKey, jwtAlgorithmOf, type JwtKeyType } from './key-types.js';

/** A JWT signing key ready to mint. */
export interface JwtKeyMaterial {
  readonly kid: string;
  readonly privateKey: KeyObject;
  readonly alg: JwtSvidAlgorithm;
}

const PUBLIC_MEMBERS = ['kty', 'crv', 'x', 'y', 'n', 'e'] as const;

/**
 * JWT keys: `kid` = 24 random bytes, base64url (32 characters), stable for the key's life; the record's public material
 * is the public JWK. A JWT key's life starts at its record's createdAt (the datastore's clock).
 */
export function jwtKeyOps(o: { keyType: JwtKeyType; keyTtlSeconds: number }): KeyKindOps<JwtKeyMaterial> {
  return {
    kind: 'jwt',
    label: 'JWT',
    fileStem: (kid) => `jwt-${kid}`,
    async create(now) {
      const { publicKey, privateKey } = await generateSigningKey(o.keyType);
      const kid = randomBytes(24).toString('base64url');
      const jwk = publicJwk(publicKey);
      return {
        id: kid,
        privateKey,
        publicMaterial: new TextEncoder().encode(JSON.stringify(jwk)),
        notAfterSeconds: Math.floor(now.getTime() / 1000) + o.keyTtlSeconds,
        material: { kid, privateKey, alg: jwtAlgorithmOf(privateKey) },
      };
    },
    material(record: KeyRecord, privateKey: KeyObject) {
      let stored: JsonWebKey;
      try {
        stored = JSON.parse(new TextDecoder().decode(record.publicMaterial)) as JsonWebKey;
      } catch (cause) {
        throw failedPrecondition(`the public key of JWT key ${JSON.stringify(record.id)} cannot be decoded`, { cause });
      }
      const actual = publicJwk(createPublicKey(privateKey));
      if (!PUBLIC_MEMBERS.every((m) => stored[m] === actual[m])) {
        throw failedPrecondition(
          `the private key of JWT key ${JSON.stringify(record.id)} does not match its public key`,
        );
      }
      return { kid: record.id, privateKey, alg: jwtAlgorithmOf(privateKey) };
    },
    lifetime(record: KeyRecord) {
      const notAfterMs = record.notAfter * 1000;
      return { startMs: Math.min(record.createdAt * 1000, notAfterMs - 1000), notAfterMs };
    },
  };
}

function publicJwk(key: KeyObject): JsonWebKey {
  const jwk = key.export({ format: 'jwk' });
  const out: JsonWebKey = {};
  for (const m of PUBLIC_MEMBERS) if (jwk[m] !== undefined) out[m] = jwk[m];
  return out;
}
