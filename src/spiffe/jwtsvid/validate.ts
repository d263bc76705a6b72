import type { KeyObject } from 'node:crypto';
import { compactVerify } from 'jose';
import {
  BundleNotFound,
  JwtSvidAudience,
  JwtSvidClaims,
  JwtSvidExpired,
  JwtSvidHeader as JwtSvidHeaderError,
  JwtSvidSignature,
  JwtSvidUntrusted,
} from '../errors.js';
import type { JwtAuthority } from '../bundle/jwt-bundle.js';
import type { JwtBundleSource } from '../bundle/source.js';
import { decodeJwtSvid, type DecodedJwtSvid } from './decode.js';
import { DEFAULT_LEEWAY_SECONDS, type JwtSvid } from './jwt-svid.js';

export interface JwtSvidValidationOptions {
  /** The validation time (src/spiffe never reads the clock). */
  readonly now: Date;
  /** Allowed clock skew on `exp`, `nbf` and `iat`; default 60. */
  readonly leewaySeconds?: number;
}

/**
 * Parses a JWT-SVID and validates it (JWT-SVID §3, Appendix A), in go-spiffe's order, one error code per rule:
 * compact form (JwtSvidMalformed) → `alg` allow-list (JwtSvidAlgorithm) → `typ` JWT/JOSE/absent, no `crit`
 * (JwtSvidHeader) → `sub` present → `exp` present → `sub` a SPIFFE ID → `aud`/`nbf`/`iat` well-typed (JwtSvidClaims)
 * → `kid` present (JwtSvidHeader) → JWT bundle of the SUBJECT's trust domain, then the `kid` in it (JwtSvidUntrusted;
 * a BundleNotFound from the source is wrapped as its cause) → signature by that key, with only the header's algorithm
 * allowed (JwtSvidSignature) → audience intersects `audience` unless it is empty (JwtSvidAudience) → not expired
 * beyond the leeway (JwtSvidExpired) → `nbf` not beyond now + leeway (JwtSvidExpired) → `iat` not beyond now + leeway
 * (JwtSvidClaims).
 */
export async function parseAndValidateJwtSvid(
  token: string,
  source: JwtBundleSource,
  audience: readonly string[],
  opts: JwtSvidValidationOptions,
): Promise<JwtSvid> {
  if (!source || typeof source.getJwtBundleForTrustDomain !== 'function') {
    throw new TypeError('a JWT bundle source is required');
  }
  const { nowSeconds, leeway } = checkOptions(audience, opts);
  const decoded = decodeJwtSvid(token);
  const kid = decoded.header.kid;
  if (kid === undefined || kid.length === 0) {
    throw new JwtSvidHeaderError('kid-missing', 'token header has no key ID ("kid"); it is needed to find the key');
  }
  const authority = findAuthority(source, decoded, kid);
  await verifySignature(decoded, authority.key);
  checkAudienceAndTimes(decoded, audience, nowSeconds, leeway);
  return toJwtSvid(decoded);
}

/**
 * Parses a JWT-SVID WITHOUT checking its signature: every rule of {@link parseAndValidateJwtSvid} except `kid`,
 * bundle and signature. Only for tokens whose origin is already trusted (e.g. just received from the Workload API).
 */
export function parseInsecureJwtSvid(
  token: string,
  audience: readonly string[],
  opts: JwtSvidValidationOptions,
): JwtSvid {
  const { nowSeconds, leeway } = checkOptions(audience, opts);
  const decoded = decodeJwtSvid(token);
  checkAudienceAndTimes(decoded, audience, nowSeconds, leeway);
  return toJwtSvid(decoded);
}

function checkOptions(
  audience: readonly string[],
  opts: JwtSvidValidationOptions,
): { nowSeconds: number; leeway: number } {
  if (!Array.isArray(audience) || !audience.every((a) => typeof a === 'string')) {
    throw new TypeError('audience must be an array of strings');
  }
  if (!opts || !(opts.now instanceof Date) || Number.isNaN(opts.now.getTime())) {
    throw new TypeError('opts.now must be a valid Date');
  }
  const leeway = opts.leewaySeconds ?? DEFAULT_LEEWAY_SECONDS;
  if (typeof leeway !== 'number' || !Number.isFinite(leeway) || leeway < 0) {
    throw new TypeError('opts.leewaySeconds must be a non-negative number');
  }
  return { nowSeconds: opts.now.getTime() / 1000, leeway };
}

function findAuthority(source: JwtBundleSource, decoded: DecodedJwtSvid, kid: string): JwtAuthority {
  const td = decoded.spiffeId.trustDomain;
  let bundle;
  try {
    bundle = source.getJwtBundleForTrustDomain(td);
  } catch (cause) {
    if (!(cause instanceof BundleNotFound)) throw cause;
    throw new JwtSvidUntrusted(
      'bundle-not-found',
      `no JWT bundle for the subject's trust domain ${JSON.stringify(td.name)}`,
      { cause },
    );
  }
  if (!bundle.trustDomain.equals(td)) {
    throw new JwtSvidUntrusted(
      'bundle-not-found',
      `the bundle source gave a bundle for ${JSON.stringify(bundle.trustDomain.name)} ` +
        `instead of the subject's trust domain ${JSON.stringify(td.name)}`,
    );
  }
  const authority = bundle.findJwtAuthority(kid);
  if (!authority) {
    throw new JwtSvidUntrusted(
      'kid-not-found',
      `no JWT authority ${JSON.stringify(kid)} in the bundle of trust domain ${JSON.stringify(td.name)}`,
    );
  }
  return authority;
}

/** Which key each allowed algorithm needs; a mismatch is reported before jose is asked. */
function keyFitsAlgorithm(key: KeyObject, alg: string): boolean {
  const family = alg.slice(0, 2);
  if (family === 'ES') {
    const curve = { ES256: 'prime256v1', ES384: 'secp384r1', ES512: 'secp521r1' }[alg];
    return key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === curve;
  }
  if (family === 'RS') return key.asymmetricKeyType === 'rsa';
  return key.asymmetricKeyType === 'rsa' || key.asymmetricKeyType === 'rsa-pss';
}

async function verifySignature(decoded: DecodedJwtSvid, key: KeyObject): Promise<void> {
  const { alg, kid } = decoded.header;
  if (!keyFitsAlgorithm(key, alg)) {
    throw new JwtSvidSignature(
      'key-algorithm-mismatch',
      `JWT authority ${JSON.stringify(kid)} is a ${key.asymmetricKeyType ?? 'unknown'} key that cannot verify ${alg}`,
    );
  }
  try {
    await compactVerify(decoded.token, key, { algorithms: [alg] });
  } catch (cause) {
    const signatureFailed = (cause as { code?: unknown }).code === 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED';
    throw new JwtSvidSignature(
      signatureFailed ? 'signature-invalid' : 'signature-unverifiable',
      signatureFailed
        ? `token signature does not verify with JWT authority ${JSON.stringify(kid)}`
        : `token signature cannot be verified with JWT authority ${JSON.stringify(kid)}: ${(cause as Error).message}`,
      { cause },
    );
  }
}

function checkAudienceAndTimes(
  decoded: DecodedJwtSvid,
  expected: readonly string[],
  nowSeconds: number,
  leeway: number,
): void {
  if (expected.length > 0 && !decoded.audience.some((a) => expected.includes(a))) {
    throw new JwtSvidAudience(
      'audience-mismatch',
      `token audience ${JSON.stringify(decoded.audience)} has none of the expected ${JSON.stringify(expected)}`,
    );
  }
  if (nowSeconds - leeway > decoded.exp) {
    throw new JwtSvidExpired(
      'expired',
      `token expired at ${isoOf(decoded.exp)} (more than ${leeway}s before ${isoOf(nowSeconds)})`,
    );
  }
  if (decoded.nbf !== undefined && decoded.nbf > nowSeconds + leeway) {
    throw new JwtSvidExpired(
      'not-yet-valid',
      `token is not valid before ${isoOf(decoded.nbf)} (more than ${leeway}s after ${isoOf(nowSeconds)})`,
    );
  }
  if (decoded.iat !== undefined && decoded.iat > nowSeconds + leeway) {
    throw new JwtSvidClaims(
      'iat-in-future',
      `token was issued in the future, at ${isoOf(decoded.iat)} (more than ${leeway}s after ${isoOf(nowSeconds)})`,
    );
  }
}

function isoOf(seconds: number): string {
  const d = new Date(seconds * 1000);
  return Number.isNaN(d.getTime()) ? String(seconds) : d.toISOString();
}

function toJwtSvid(d: DecodedJwtSvid): JwtSvid {
  return {
    spiffeId: d.spiffeId,
    audience: d.audience,
    expiry: new Date(d.exp * 1000),
    ...(d.iat !== undefined && { issuedAt: new Date(d.iat * 1000) }),
    claims: d.claims,
    header: d.header,
    token: d.token,
  };
}
