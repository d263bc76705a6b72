import { X509Certificate, type JsonWebKey, type KeyObject } from 'node:crypto';
import { BundleMalformed, BundleNotFound, KeyInvalid } from '../errors.js';
import type { TrustDomain } from '../id/index.js';
import { toTrustDomain } from './args.js';
import { parseCertificateDer } from './certificate.js';
import { parseJsonObject, rawTopLevelMember } from './json.js';
import { JwtBundle } from './jwt-bundle.js';
import { parseJwk, publicJwkOf } from './jwk.js';
import type { JwtBundleSource, X509BundleSource } from './source.js';
import { X509Bundle } from './x509-bundle.js';

/** Largest `spiffe_sequence` (go-spiffe reads it as a uint64). */
export const MAX_SPIFFE_SEQUENCE = (1n << 64n) - 1n;

const USE_X509 = 'x509-svid';
const USE_JWT = 'jwt-svid';
const USE_WIT = 'wit-svid';
const DECIMAL = /^(?:0|[1-9][0-9]*)$/;

export interface SpiffeBundleParts {
  readonly trustDomain: TrustDomain | string;
  /** CA certificates, DER. Each must parse, and its key must be expressible as a JWK. */
  readonly x509Authorities?: readonly Uint8Array[];
  /** JWT signing authorities: non-empty unique `kid`, public key as KeyObject or JWK. */
  readonly jwtAuthorities?: readonly { readonly kid: string; readonly key: KeyObject | JsonWebKey }[];
  readonly sequenceNumber?: bigint;
  readonly refreshHintSeconds?: number;
}

/**
 * A trust domain's SPIFFE bundle (SPIFFE Trust Domain and Bundle §4): its X.509 and JWT authorities plus the optional
 * `spiffe_sequence` and `spiffe_refresh_hint`. The JSON never names its trust domain, so the pair is kept here.
 *
 * Parsing follows go-spiffe where it is stricter than the spec, so that whatever we accept (and emit) go-spiffe
 * accepts too: a missing `keys` member, an `x509-svid` entry whose `x5c` does not hold exactly one certificate, a
 * `jwt-svid` (or `wit-svid`) entry without `kid`, and any key go-jose would refuse (unknown `kty` included — the spec
 * says to ignore such a JWK, go-jose fails the document) are {@link BundleMalformed}. Entries with a missing or
 * unknown `use` are ignored (as the spec says); `wit-svid` entries are checked and then ignored (no WIT support).
 * Stricter than go-spiffe: a repeated JWT `kid` and private key members are refused.
 */
export class SpiffeBundle implements X509BundleSource, JwtBundleSource {
  readonly trustDomain: TrustDomain;
  readonly x509Bundle: X509Bundle;
  readonly jwtBundle: JwtBundle;
  readonly sequenceNumber?: bigint;
  readonly refreshHintSeconds?: number;

  private constructor(
    trustDomain: TrustDomain,
    x509Bundle: X509Bundle,
    jwtBundle: JwtBundle,
    sequenceNumber: bigint | undefined,
    refreshHintSeconds: number | undefined,
  ) {
    this.trustDomain = trustDomain;
    this.x509Bundle = x509Bundle;
    this.jwtBundle = jwtBundle;
    if (sequenceNumber !== undefined) this.sequenceNumber = sequenceNumber;
    if (refreshHintSeconds !== undefined) this.refreshHintSeconds = refreshHintSeconds;
  }

  /** Parses the SPIFFE bundle JSON (text or UTF-8 bytes) of `trustDomain`. Failures are {@link BundleMalformed}. */
  static parse(trustDomain: TrustDomain | string, json: string | Uint8Array): SpiffeBundle {
    const td = toTrustDomain(trustDomain);
    const { text, value } = parseJsonObject(json, 'SPIFFE bundle');
    const sequenceNumber = readSequence(rawTopLevelMember(text, 'spiffe_sequence'));
    const refreshHintSeconds = readRefreshHint(rawTopLevelMember(text, 'spiffe_refresh_hint'));
    const keys = value['keys'];
    if (keys === undefined || keys === null) {
      throw new BundleMalformed('keys-missing', 'SPIFFE bundle has no "keys" member: no authorities found');
    }
    if (!Array.isArray(keys)) throw new BundleMalformed('keys-type', 'SPIFFE bundle "keys" member must be an array');
    const x509 = new X509Bundle(td);
    const jwt = new JwtBundle(td);
    keys.forEach((raw, i) => {
      const where = `SPIFFE bundle key ${i}`;
      const jwk = parseJwk(raw, where);
      switch (jwk.use) {
        case USE_X509: {
          const count = jwk.x5c?.length ?? 0;
          if (count !== 1) {
            throw new BundleMalformed(
              'x509-x5c-count',
              `${where}: an x509-svid entry must carry exactly one certificate in "x5c"; got ${count}`,
            );
          }
          x509.addAuthority(jwk.x5c![0]!);
          break;
        }
        case USE_JWT:
        case USE_WIT: {
          if (jwk.kid === undefined || jwk.kid.length === 0) {
            throw new BundleMalformed('jwt-kid-missing', `${where}: a ${jwk.use} entry needs a key ID ("kid")`);
          }
          if (jwk.use === USE_WIT) break;
          if (jwt.findJwtAuthority(jwk.kid)) {
            throw new BundleMalformed('jwt-kid-duplicate', `${where} repeats JWT key ID ${JSON.stringify(jwk.kid)}`);
          }
          jwt.addAuthority(jwk.kid, jwk.key);
          break;
        }
        default:
          // Missing or unknown `use`: the spec says to ignore the entry.
          break;
      }
    });
    return new SpiffeBundle(td, x509, jwt, sequenceNumber, refreshHintSeconds);
  }

  /**
   * Builds a bundle from its parts. Certificates that do not parse are {@link BundleMalformed}; keys that cannot be
   * published as JWKs, and repeated or empty `kid`s, are {@link KeyInvalid}; a sequence outside [0, 2^64-1] or a refresh
   * hint that is not a non-negative safe integer is a RangeError.
   */
  static fromParts(p: SpiffeBundleParts): SpiffeBundle {
    const td = toTrustDomain(p.trustDomain);
    const x509 = new X509Bundle(td);
    (p.x509Authorities ?? []).forEach((der, i) => {
      if (!(der instanceof Uint8Array)) throw new TypeError('X.509 authorities must be DER bytes (Uint8Array)');
      const cert = parseCertificateDer(der, `X.509 authority ${i}`);
      publicJwkOf(cert.publicKey, `X.509 authority ${i}`);
      x509.addAuthority(der);
    });
    const jwt = new JwtBundle(td);
    for (const { kid, key } of p.jwtAuthorities ?? []) {
      if (typeof kid === 'string' && jwt.findJwtAuthority(kid)) {
        throw new KeyInvalid('jwt-kid-duplicate', `JWT authority key ID ${JSON.stringify(kid)} is repeated`);
      }
      jwt.addAuthority(kid, key);
    }
    return new SpiffeBundle(td, x509, jwt, checkSequence(p.sequenceNumber), checkRefreshHint(p.refreshHintSeconds));
  }

  /**
   * Joins existing bundle objects (shared, not copied) into one SPIFFE bundle; a missing half is an empty bundle.
   * All given parts must be for the same trust domain (TypeError otherwise).
   */
  static fromBundles(p: {
    readonly trustDomain?: TrustDomain | string;
    readonly x509Bundle?: X509Bundle;
    readonly jwtBundle?: JwtBundle;
    readonly sequenceNumber?: bigint;
    readonly refreshHintSeconds?: number;
  }): SpiffeBundle {
    const given = p.trustDomain ?? p.x509Bundle?.trustDomain ?? p.jwtBundle?.trustDomain;
    if (given === undefined) throw new TypeError('fromBundles needs a trust domain or at least one bundle');
    const td = toTrustDomain(given);
    for (const b of [p.x509Bundle, p.jwtBundle]) {
      if (b && !b.trustDomain.equals(td)) {
        throw new TypeError(
          `bundle for trust domain ${JSON.stringify(b.trustDomain.name)} cannot join a SPIFFE bundle for ${JSON.stringify(td.name)}`,
        );
      }
    }
    return new SpiffeBundle(
      td,
      p.x509Bundle ?? new X509Bundle(td),
      p.jwtBundle ?? new JwtBundle(td),
      checkSequence(p.sequenceNumber),
      checkRefreshHint(p.refreshHintSeconds),
    );
  }

  /**
   * The SPIFFE bundle JSON: one `{kty,use:"x509-svid",<key params>,x5c:[<std base64 DER>]}` per CA (never a `kid`),
   * one `{kty,use:"jwt-svid",kid,<key params>}` per JWT authority, then `spiffe_refresh_hint` and `spiffe_sequence`
   * when set. Compact, like go-spiffe's Marshal.
   */
  marshal(): string {
    const keys: Record<string, unknown>[] = [];
    this.x509Bundle.x509Authorities.forEach((der, i) => {
      const jwk = publicJwkOf(new X509Certificate(der).publicKey, `X.509 authority ${i}`);
      keys.push({ kty: jwk.kty, use: USE_X509, ...jwk, x5c: [Buffer.from(der).toString('base64')] });
    });
    for (const a of this.jwtBundle.jwtAuthorities.values()) {
      keys.push({ kty: a.jwk.kty, use: USE_JWT, kid: a.kid, ...a.jwk });
    }
    let out = `{"keys":${JSON.stringify(keys)}`;
    if (this.refreshHintSeconds !== undefined) out += `,"spiffe_refresh_hint":${this.refreshHintSeconds}`;
    if (this.sequenceNumber !== undefined) out += `,"spiffe_sequence":${this.sequenceNumber.toString()}`;
    return out + '}';
  }

  /** True when the bundle has no authority of either kind (a trust domain that revoked all its keys). */
  isEmpty(): boolean {
    return this.x509Bundle.isEmpty() && this.jwtBundle.isEmpty();
  }

  /** Same trust domain, sequence, refresh hint, X.509 authorities and JWT authorities (kid and key). */
  equals(other: SpiffeBundle): boolean {
    if (!(other instanceof SpiffeBundle) || !other.trustDomain.equals(this.trustDomain)) return false;
    if (other.sequenceNumber !== this.sequenceNumber || other.refreshHintSeconds !== this.refreshHintSeconds) return false;
    if (!this.x509Bundle.equals(other.x509Bundle)) return false;
    const mine = this.jwtBundle.jwtAuthorities;
    const theirs = other.jwtBundle.jwtAuthorities;
    if (mine.size !== theirs.size) return false;
    for (const [kid, a] of mine) {
      const b = theirs.get(kid);
      if (!b || !a.key.equals(b.key)) return false;
    }
    return true;
  }

  getX509BundleForTrustDomain(trustDomain: TrustDomain): X509Bundle {
    this.#requireTrustDomain(trustDomain, 'X.509');
    return this.x509Bundle;
  }

  getJwtBundleForTrustDomain(trustDomain: TrustDomain): JwtBundle {
    this.#requireTrustDomain(trustDomain, 'JWT');
    return this.jwtBundle;
  }

  #requireTrustDomain(trustDomain: TrustDomain, kind: string): void {
    if (!trustDomain.equals(this.trustDomain)) {
      throw new BundleNotFound(
        'spiffe-trust-domain',
        `no ${kind} bundle for trust domain ${JSON.stringify(trustDomain.name)} ` +
          `(this SPIFFE bundle is for ${JSON.stringify(this.trustDomain.name)})`,
      );
    }
  }
}

function readSequence(raw: string | undefined): bigint | undefined {
  if (raw === undefined || raw === 'null') return undefined;
  const value = DECIMAL.test(raw) ? BigInt(raw) : undefined;
  if (value === undefined || value > MAX_SPIFFE_SEQUENCE) {
    throw new BundleMalformed(
      'sequence-invalid',
      `"spiffe_sequence" must be an integer in [0, 2^64-1]; got ${JSON.stringify(raw.slice(0, 64))}`,
    );
  }
  return value;
}

function readRefreshHint(raw: string | undefined): number | undefined {
  if (raw === undefined || raw === 'null') return undefined;
  const value = DECIMAL.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(value)) {
    throw new BundleMalformed(
      'refresh-hint-invalid',
      `"spiffe_refresh_hint" must be a non-negative whole number of seconds; got ${JSON.stringify(raw.slice(0, 64))}`,
    );
  }
  return value;
}

function checkSequence(v: bigint | undefined): bigint | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'bigint') throw new TypeError('sequenceNumber must be a bigint');
  if (v < 0n || v > MAX_SPIFFE_SEQUENCE) throw new RangeError('sequenceNumber must be in [0, 2^64-1]');
  return v;
}

function checkRefreshHint(v: number | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!Number.isSafeInteger(v) || v < 0) throw new RangeError('refreshHintSeconds must be a non-negative safe integer');
  return v;
}
