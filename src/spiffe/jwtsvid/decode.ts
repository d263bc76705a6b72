import { decodeJwt } from 'jose';
import {
  JwtSvidAlgorithm as JwtSvidAlgorithmError,
  JwtSvidClaims,
  JwtSvidHeader as JwtSvidHeaderError,
  JwtSvidMalformed,
} from '../errors.js';
import { SpiffeId } from '../id/index.js';
import { JWT_SVID_VALIDATION_ALGORITHMS, type JwtSvidJoseHeader } from './jwt-svid.js';

/** A token that passed every structural check, before any key, audience or time check. Internal. */
export interface DecodedJwtSvid {
  readonly token: string;
  readonly header: JwtSvidJoseHeader;
  readonly claims: Record<string, unknown>;
  readonly spiffeId: SpiffeId;
  readonly audience: string[];
  /** Seconds since the epoch (NumericDate). */
  readonly exp: number;
  readonly nbf?: number;
  readonly iat?: number;
}

const SEGMENT = /^[A-Za-z0-9_-]*$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The checks of JWT-SVID §3 that need no key, in go-spiffe's order: compact form, then the `alg` allow-list on the
 * raw header before anything else is looked at, then payload decoding, `typ`, `sub` present, `exp` present, `sub` a
 * SPIFFE ID, and the types of `aud`, `nbf`, `iat`.
 */
export function decodeJwtSvid(token: string): DecodedJwtSvid {
  if (typeof token !== 'string') throw new TypeError('JWT-SVID must be a string');
  if (token.length === 0) throw new JwtSvidMalformed('empty', 'token is empty');
  if (token.trimStart().startsWith('{')) {
    throw new JwtSvidMalformed(
      'json-serialization',
      'token uses the JWS JSON serialization; a JWT-SVID must use the compact serialization',
    );
  }
  const parts = token.split('.');
  if (parts.length === 5) throw new JwtSvidMalformed('jwe', 'token is a JWE; a JWT-SVID must be a JWS');
  if (parts.length !== 3) {
    throw new JwtSvidMalformed('compact-form', `token must have 3 dot-separated parts; it has ${parts.length}`);
  }
  if (!parts.every((p) => SEGMENT.test(p) && p.length % 4 !== 1)) {
    throw new JwtSvidMalformed('base64url', 'token parts must be unpadded base64url');
  }
  const rawHeader = decodeHeader(parts[0]!);

  // The algorithm decides everything else, so it is checked on the raw header first.
  const alg = rawHeader['alg'];
  if (typeof alg !== 'string' || !JWT_SVID_VALIDATION_ALGORITHMS.includes(alg)) {
    throw new JwtSvidAlgorithmError(
      'alg-not-allowed',
      `token algorithm ${JSON.stringify(alg ?? null)} is not allowed; ` +
        `a JWT-SVID must use one of ${JWT_SVID_VALIDATION_ALGORITHMS.join(', ')}`,
    );
  }

  if (parts[2]!.length === 0) throw new JwtSvidMalformed('signature-missing', 'token has an empty signature');
  let claims: Record<string, unknown>;
  try {
    claims = decodeJwt(token) as Record<string, unknown>;
  } catch (cause) {
    throw new JwtSvidMalformed('payload-json', 'token payload is not a JSON object', { cause });
  }

  const header = checkHeader(rawHeader, alg);

  const sub = claims['sub'];
  if (sub === undefined || sub === '') throw new JwtSvidClaims('sub-missing', 'token has no subject ("sub") claim');
  const exp = claims['exp'];
  if (exp === undefined) throw new JwtSvidClaims('exp-missing', 'token has no expiry ("exp") claim');
  if (typeof sub !== 'string') throw new JwtSvidClaims('sub-invalid', 'token subject ("sub") claim must be a string');
  let spiffeId: SpiffeId;
  try {
    spiffeId = SpiffeId.parse(sub);
  } catch (cause) {
    throw new JwtSvidClaims(
      'sub-not-spiffe-id',
      `token subject ${JSON.stringify(sub)} is not a SPIFFE ID: ${(cause as Error).message}`,
      { cause },
    );
  }
  if (!isNumericDate(exp)) throw new JwtSvidClaims('exp-invalid', 'token "exp" claim must be a number of seconds');
  const nbf = optionalNumericDate(claims, 'nbf');
  const iat = optionalNumericDate(claims, 'iat');
  const audience = readAudience(claims['aud']);

  return {
    token,
    header,
    claims,
    spiffeId,
    audience,
    exp,
    ...(nbf !== undefined && { nbf }),
    ...(iat !== undefined && { iat }),
  };
}

function decodeHeader(segment: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(utf8.decode(Buffer.from(segment, 'base64url')));
  } catch (cause) {
    throw new JwtSvidMalformed('header-json', 'token header is not base64url-encoded JSON', { cause });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new JwtSvidMalformed('header-json', 'token header is not a JSON object');
  }
  return value as Record<string, unknown>;
}

function checkHeader(raw: Record<string, unknown>, alg: string): JwtSvidJoseHeader {
  const typ = raw['typ'];
  if (typ !== undefined && typ !== 'JWT' && typ !== 'JOSE') {
    throw new JwtSvidHeaderError(
      'typ-invalid',
      `token header type ${JSON.stringify(typ)} is neither "JWT" nor "JOSE"`,
    );
  }
  if ('crit' in raw) {
    throw new JwtSvidHeaderError('crit-unsupported', 'token header has a "crit" member; no extension is understood');
  }
  const kid = raw['kid'];
  if (kid !== undefined && typeof kid !== 'string') {
    throw new JwtSvidHeaderError('kid-invalid', 'token header key ID ("kid") must be a string');
  }
  return { alg, ...(kid !== undefined && { kid }), ...(typ !== undefined && { typ }) };
}

function isNumericDate(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

function optionalNumericDate(claims: Record<string, unknown>, name: 'nbf' | 'iat'): number | undefined {
  const v = claims[name];
  if (v === undefined) return undefined;
  if (!isNumericDate(v)) throw new JwtSvidClaims(`${name}-invalid`, `token "${name}" claim must be a number of seconds`);
  return v;
}

function readAudience(aud: unknown): string[] {
  if (aud === undefined || (Array.isArray(aud) && aud.length === 0) || aud === '') {
    throw new JwtSvidClaims('aud-missing', 'token has no audience ("aud") claim; a JWT-SVID needs at least one');
  }
  if (typeof aud === 'string') return [aud];
  if (Array.isArray(aud) && aud.every((a) => typeof a === 'string' && a.length > 0)) return [...(aud as string[])];
  throw new JwtSvidClaims('aud-invalid', 'token audience ("aud") claim must be a non-empty string or list of them');
}
