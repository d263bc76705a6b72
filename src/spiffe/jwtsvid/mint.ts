import { randomBytes, type KeyObject } from 'node:crypto';
import { CompactSign } from 'jose';
import { JwtMintInvalid } from '../errors.js';
import { SpiffeId } from '../id/index.js';
import type { JwtSvidAlgorithm } from './jwt-svid.js';

export interface MintJwtSvidParams {
  readonly spiffeId: SpiffeId;
  /** At least one non-empty audience; always written as an array. */
  readonly audience: readonly string[];
  readonly key: { readonly kid: string; readonly privateKey: KeyObject; readonly alg?: JwtSvidAlgorithm };
  /** Issue time; `iat` = floor(now), `exp` = `iat` + ttlSeconds. */
  readonly now: Date;
  /** Positive whole number of seconds. */
  readonly ttlSeconds: number;
  /** Default: 128 random bits, base64url. */
  readonly jti?: string;
  readonly issuer?: string;
  /** Private claims; none may be a registered claim name (iss, sub, aud, exp, nbf, iat, jti). */
  readonly extraClaims?: Record<string, unknown>;
}

const REGISTERED_CLAIMS = new Set(['iss', 'sub', 'aud', 'exp', 'nbf', 'iat', 'jti']);
const MIN_RSA_BITS = 2048;

/** What each minting algorithm needs of the private key. */
const KEY_REQUIREMENTS: Readonly<Record<JwtSvidAlgorithm, { types: readonly string[]; curve?: string; label: string }>> = {
  ES256: { types: ['ec'], curve: 'prime256v1', label: 'an EC P-256 key' },
  ES384: { types: ['ec'], curve: 'secp384r1', label: 'an EC P-384 key' },
  RS256: { types: ['rsa'], label: `an RSA key of at least ${MIN_RSA_BITS} bits` },
  PS256: { types: ['rsa', 'rsa-pss'], label: `an RSA key of at least ${MIN_RSA_BITS} bits` },
};

/**
 * Signs a JWT-SVID (JWS compact serialization). Header exactly `{alg, kid, typ: "JWT"}`; claims `sub`, `aud` (array),
 * `exp`, `iat`, `jti`, then `iss` when given, then the extra claims. Inputs that cannot make a valid JWT-SVID are
 * {@link JwtMintInvalid} (rejected promise).
 */
export async function mintJwtSvid(p: MintJwtSvidParams): Promise<string> {
  if (!p || typeof p !== 'object') throw new TypeError('mintJwtSvid needs a params object');
  if (!(p.spiffeId instanceof SpiffeId)) throw new TypeError('spiffeId must be a SpiffeId');
  if (!(p.now instanceof Date) || Number.isNaN(p.now.getTime())) throw new TypeError('now must be a valid Date');
  const audience = checkAudience(p.audience);
  const { kid, privateKey, alg } = checkKey(p.key);
  if (!Number.isSafeInteger(p.ttlSeconds) || p.ttlSeconds <= 0) {
    throw new JwtMintInvalid('ttl', `ttlSeconds must be a positive whole number; got ${JSON.stringify(p.ttlSeconds)}`);
  }
  const jti = p.jti ?? randomBytes(16).toString('base64url');
  if (typeof jti !== 'string' || jti.length === 0) throw new JwtMintInvalid('jti', 'jti must be a non-empty string');
  if (p.issuer !== undefined && (typeof p.issuer !== 'string' || p.issuer.length === 0)) {
    throw new JwtMintInvalid('issuer', 'issuer must be a non-empty string when given');
  }
  const extra = checkExtraClaims(p.extraClaims);

  const iat = Math.floor(p.now.getTime() / 1000);
  const claims = {
    sub: p.spiffeId.toString(),
    aud: audience,
    exp: iat + p.ttlSeconds,
    iat,
    jti,
    ...(p.issuer !== undefined && { iss: p.issuer }),
    ...extra,
  };
  let payload: string;
  try {
    payload = JSON.stringify(claims);
  } catch (cause) {
    throw new JwtMintInvalid('extra-claims-json', 'extra claims cannot be serialized as JSON', { cause });
  }
  return new CompactSign(new TextEncoder().encode(payload))
    .setProtectedHeader({ alg, kid, typ: 'JWT' })
    .sign(privateKey);
}

function checkAudience(audience: readonly string[]): string[] {
  if (!Array.isArray(audience) || audience.length === 0) {
    throw new JwtMintInvalid('audience-empty', 'a JWT-SVID needs at least one audience');
  }
  audience.forEach((a, i) => {
    if (typeof a !== 'string' || a.length === 0) {
      throw new JwtMintInvalid('audience-invalid', `audience ${i} must be a non-empty string`);
    }
  });
  return [...audience];
}

function checkKey(key: MintJwtSvidParams['key']): { kid: string; privateKey: KeyObject; alg: JwtSvidAlgorithm } {
  if (!key || typeof key !== 'object') throw new TypeError('key must be { kid, privateKey, alg? }');
  if (typeof key.kid !== 'string' || key.kid.length === 0) {
    throw new JwtMintInvalid('kid-empty', 'the signing key needs a non-empty key ID ("kid")');
  }
  const alg = key.alg ?? 'ES256';
  const need = Object.hasOwn(KEY_REQUIREMENTS, alg) ? KEY_REQUIREMENTS[alg] : undefined;
  if (!need) {
    throw new JwtMintInvalid(
      'alg-unsupported',
      `algorithm ${JSON.stringify(alg)} cannot mint JWT-SVIDs (${Object.keys(KEY_REQUIREMENTS).join(', ')})`,
    );
  }
  const pk = key.privateKey as KeyObject | undefined;
  if (!pk || typeof pk !== 'object' || (pk as { type?: unknown }).type !== 'private') {
    throw new JwtMintInvalid('key-not-private', 'privateKey must be a private KeyObject');
  }
  const type = pk.asymmetricKeyType ?? '';
  const details = pk.asymmetricKeyDetails ?? {};
  const fits =
    need.types.includes(type) &&
    (need.curve === undefined || details.namedCurve === need.curve) &&
    (type === 'ec' || (details.modulusLength ?? 0) >= MIN_RSA_BITS);
  if (!fits) {
    const got = type === 'ec' ? `EC ${details.namedCurve ?? '?'}` : `${type}${details.modulusLength ? ` ${details.modulusLength}-bit` : ''}`;
    throw new JwtMintInvalid('key-algorithm-mismatch', `${alg} needs ${need.label}; the key is ${got}`);
  }
  return { kid: key.kid, privateKey: pk, alg };
}

function checkExtraClaims(extra: Record<string, unknown> | undefined): Record<string, unknown> {
  if (extra === undefined) return {};
  if (typeof extra !== 'object' || extra === null || Array.isArray(extra)) {
    throw new JwtMintInvalid('extra-claims-type', 'extraClaims must be a plain object');
  }
  for (const name of Object.keys(extra)) {
    if (REGISTERED_CLAIMS.has(name)) {
      throw new JwtMintInvalid(
        'extra-claim-registered',
        `extra claim ${JSON.stringify(name)} is a registered claim that minting sets itself`,
      );
    }
  }
  return extra;
}
