import { createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { BundleNotFound, KeyInvalid } from '../errors.js';
import type { TrustDomain } from '../id/index.js';
import type { JwtBundleSource } from './source.js';

/** One JWT signing authority: its key ID and public key (JWK form as published, KeyObject for verifying). */
export interface JwtAuthority {
  readonly kid: string;
  readonly jwk: Readonly<JsonWebKey>;
  readonly key: KeyObject;
}

/** The JWT authorities of one trust domain, keyed by `kid`. */
export class JwtBundle implements JwtBundleSource {
  readonly trustDomain: TrustDomain;
  readonly #authorities = new Map<string, JwtAuthority>();

  constructor(trustDomain: TrustDomain) {
    this.trustDomain = trustDomain;
  }

  get jwtAuthorities(): ReadonlyMap<string, JwtAuthority> {
    return this.#authorities;
  }

  /** Adds (or replaces) the authority `kid`. `key` is a public JWK or a public KeyObject. */
  addAuthority(kid: string, key: JsonWebKey | KeyObject): JwtAuthority {
    if (typeof kid !== 'string' || kid.length === 0) {
      throw new KeyInvalid('jwt-kid-empty', 'JWT authority key ID cannot be empty');
    }
    let keyObject: KeyObject;
    try {
      keyObject = isKeyObject(key) ? key : createPublicKey({ key: key as JsonWebKey, format: 'jwk' });
    } catch (cause) {
      throw new KeyInvalid('jwt-key-unparsable', `JWT authority ${JSON.stringify(kid)} is not a usable public key`, {
        cause,
      });
    }
    if (keyObject.type !== 'public') {
      throw new KeyInvalid('jwt-key-not-public', `JWT authority ${JSON.stringify(kid)} must be a public key`);
    }
    const jwk = publicJwk(keyObject);
    const authority: JwtAuthority = Object.freeze({ kid, jwk: Object.freeze(jwk), key: keyObject });
    this.#authorities.set(kid, authority);
    return authority;
  }

  findJwtAuthority(kid: string): JwtAuthority | undefined {
    return this.#authorities.get(kid);
  }

  removeAuthority(kid: string): boolean {
    return this.#authorities.delete(kid);
  }

  isEmpty(): boolean {
    return this.#authorities.size === 0;
  }

  getJwtBundleForTrustDomain(trustDomain: TrustDomain): JwtBundle {
    if (!trustDomain.equals(this.trustDomain)) {
      throw new BundleNotFound(
        'jwt-trust-domain',
        `no JWT bundle for trust domain ${JSON.stringify(trustDomain.name)} ` +
          `(this bundle is for ${JSON.stringify(this.trustDomain.name)})`,
      );
    }
    return this;
  }
}

function isKeyObject(k: unknown): k is KeyObject {
  return typeof k === 'object' && k !== null && typeof (k as KeyObject).export === 'function' && 'type' in k;
}

/** The public JWK of a key, with only the key parameters (no `use`, `kid`, `alg`). */
function publicJwk(key: KeyObject): JsonWebKey {
  const jwk = key.export({ format: 'jwk' });
  switch (jwk.kty) {
    case 'EC':
      return { kty: 'EC', crv: jwk.crv, x: jwk.x, y: jwk.y };
    case 'RSA':
      return { kty: 'RSA', n: jwk.n, e: jwk.e };
    default:
      throw new KeyInvalid('jwt-key-type', `JWT authority key type ${JSON.stringify(jwk.kty)} is not supported (EC or RSA)`);
  }
}
