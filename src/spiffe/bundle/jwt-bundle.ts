import { createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { BundleMalformed, BundleNotFound, KeyInvalid } from '../errors.js';
import type { TrustDomain } from '../id/index.js';
import { toTrustDomain } from './args.js';
import { parseJsonObject } from './json.js';
import { parseJwk, publicJwkOf } from './jwk.js';
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

  /**
   * Parses a plain JWKS (the Workload API's FetchJWTBundles value): `keys` must be present; every key needs a non-empty
   * `kid` (the error names the index of the first that lacks one); `use` is ignored; each key is read as strictly as
   * go-jose does (see {@link parseJwk}), so an unknown `kty` fails the whole document. A repeated `kid` is refused.
   * `json` is the JSON text or its UTF-8 bytes. Failures are {@link BundleMalformed}.
   */
  static parseJwks(trustDomain: TrustDomain | string, json: string | Uint8Array): JwtBundle {
    const td = toTrustDomain(trustDomain);
    const { value } = parseJsonObject(json, 'JWKS');
    const keys = value['keys'];
    if (keys === undefined || keys === null) throw new BundleMalformed('keys-missing', 'JWKS has no "keys" member');
    if (!Array.isArray(keys)) throw new BundleMalformed('keys-type', 'JWKS "keys" member must be an array');
    const bundle = new JwtBundle(td);
    keys.forEach((raw, i) => {
      const where = `JWKS key ${i}`;
      const parsed = parseJwk(raw, where);
      if (parsed.kid === undefined || parsed.kid.length === 0) {
        throw new BundleMalformed('jwt-kid-missing', `${where} has no key ID ("kid"); every JWT authority needs one`);
      }
      if (bundle.#authorities.has(parsed.kid)) {
        throw new BundleMalformed('jwt-kid-duplicate', `${where} repeats key ID ${JSON.stringify(parsed.kid)}`);
      }
      bundle.addAuthority(parsed.kid, parsed.key);
    });
    return bundle;
  }

  /**
   * The plain JWKS of the authorities, `{"keys":[{kty,kid,crv,x,y | n,e}]}`: what the Workload API's FetchJWTBundles
   * sends (no `use`, no `spiffe_*` members).
   */
  toJwks(): string {
    return JSON.stringify({ keys: [...this.#authorities.values()].map((a) => ({ kty: a.jwk.kty, kid: a.kid, ...a.jwk })) });
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
    const jwk = publicJwkOf(keyObject, `JWT authority ${JSON.stringify(kid)}`);
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
