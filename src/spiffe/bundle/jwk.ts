import { createPublicKey, type JsonWebKey, type KeyObject, type X509Certificate } from 'node:crypto';
import { BundleMalformed, KeyInvalid } from '../errors.js';
import { parseCertificateDer } from './certificate.js';
import { isPlainObject } from './json.js';

/**
 * Strict reading of one JWK of a JWKS, as strict as go-jose (which decides what go-spiffe accepts): `kty` must be
 * EC (P-256, P-384, P-521), RSA or OKP (Ed25519); EC coordinates must have the full length of the curve and be on it;
 * private members are refused; `x5c`, when present, must hold standard-base64 DER certificates, the first of which
 * carries the same public key. Unknown `kty` fails the whole document, like go-jose (the spec would have it ignored).
 */
export interface ParsedJwk {
  readonly kty: 'EC' | 'RSA' | 'OKP';
  readonly key: KeyObject;
  /** `kid` when present (may be the empty string; the caller decides whether it is required). */
  readonly kid?: string;
  readonly use?: string;
  /** DER of each `x5c` certificate, when the member is present (possibly empty). */
  readonly x5c?: Uint8Array[];
}

const EC_COORDINATE_BYTES: Readonly<Record<string, number>> = { 'P-256': 32, 'P-384': 48, 'P-521': 66 };
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];
const BASE64URL = /^[A-Za-z0-9_-]+$/;
const BASE64STD = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** `where` names the entry in messages, e.g. `JWKS key 1`. Failures are {@link BundleMalformed}. */
export function parseJwk(raw: unknown, where: string): ParsedJwk {
  if (!isPlainObject(raw)) throw new BundleMalformed('jwk-object', `${where} must be a JSON object`);
  const kid = optionalString(raw, 'kid', where);
  const use = optionalString(raw, 'use', where);
  const kty = raw['kty'];
  if (kty === undefined) throw new BundleMalformed('jwk-kty-missing', `${where} has no "kty" member`);
  for (const m of PRIVATE_MEMBERS) {
    if (m in raw) {
      throw new BundleMalformed('jwk-private', `${where} carries private key member ${JSON.stringify(m)}`);
    }
  }
  let jwk: JsonWebKey & { kty: ParsedJwk['kty'] };
  switch (kty) {
    case 'EC': {
      const crv = raw['crv'];
      const size = typeof crv === 'string' ? EC_COORDINATE_BYTES[crv] : undefined;
      if (size === undefined) {
        throw new BundleMalformed(
          'jwk-crv-unsupported',
          `${where} has unsupported EC curve ${JSON.stringify(crv)} (P-256, P-384 or P-521 expected)`,
        );
      }
      const x = base64urlMember(raw, 'x', where);
      const y = base64urlMember(raw, 'y', where);
      for (const [name, value] of [['x', x], ['y', y]] as const) {
        const got = Buffer.from(value, 'base64url').length;
        if (got !== size) {
          throw new BundleMalformed(
            'jwk-ec-coordinate-length',
            `${where} has an EC "${name}" coordinate of ${got} bytes; ${crv as string} needs exactly ${size}`,
          );
        }
      }
      jwk = { kty: 'EC', crv: crv as string, x, y };
      break;
    }
    case 'RSA':
      jwk = { kty: 'RSA', n: base64urlMember(raw, 'n', where), e: base64urlMember(raw, 'e', where) };
      break;
    case 'OKP': {
      const crv = raw['crv'];
      if (crv !== 'Ed25519') {
        throw new BundleMalformed(
          'jwk-crv-unsupported',
          `${where} has unsupported OKP curve ${JSON.stringify(crv)} (Ed25519 expected)`,
        );
      }
      const x = base64urlMember(raw, 'x', where);
      if (Buffer.from(x, 'base64url').length !== 32) {
        throw new BundleMalformed('jwk-okp-length', `${where} has an Ed25519 "x" that is not 32 bytes`);
      }
      jwk = { kty: 'OKP', crv, x };
      break;
    }
    default:
      throw new BundleMalformed(
        'jwk-kty-unsupported',
        `${where} has unsupported key type ${JSON.stringify(kty)} (EC, RSA or OKP expected)`,
      );
  }
  let key: KeyObject;
  try {
    key = createPublicKey({ key: jwk, format: 'jwk' });
  } catch (cause) {
    throw new BundleMalformed('jwk-key-invalid', `${where} is not a valid ${kty as string} public key`, { cause });
  }
  const x5c = parseX5c(raw, where, key);
  return { kty: jwk.kty, key, ...(kid !== undefined && { kid }), ...(use !== undefined && { use }), ...(x5c && { x5c }) };
}

function parseX5c(raw: Record<string, unknown>, where: string, key: KeyObject): Uint8Array[] | undefined {
  const x5c = raw['x5c'];
  if (x5c === undefined) return undefined;
  if (!Array.isArray(x5c)) throw new BundleMalformed('x5c-type', `${where} has an "x5c" member that is not an array`);
  const ders: Uint8Array[] = [];
  let first: X509Certificate | undefined;
  x5c.forEach((entry, j) => {
    const label = `x5c[${j}] of ${where}`;
    if (typeof entry !== 'string' || entry.length === 0 || !BASE64STD.test(entry)) {
      throw new BundleMalformed('x5c-encoding', `${label} is not a standard (padded, non-url) base64 string`);
    }
    const der = new Uint8Array(Buffer.from(entry, 'base64'));
    const cert = parseCertificateDer(der, label);
    first ??= cert;
    ders.push(der);
  });
  if (first && !first.publicKey.equals(key)) {
    throw new BundleMalformed(
      'x5c-key-mismatch',
      `${where}: the public key of the "x5c" certificate does not match the key parameters of the JWK`,
    );
  }
  return ders;
}

function optionalString(raw: Record<string, unknown>, name: string, where: string): string | undefined {
  const v = raw[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') {
    throw new BundleMalformed(`jwk-${name}-type`, `${where} has a ${JSON.stringify(name)} member that is not a string`);
  }
  return v;
}

function base64urlMember(raw: Record<string, unknown>, name: string, where: string): string {
  const v = raw[name];
  if (v === undefined) throw new BundleMalformed('jwk-param-missing', `${where} has no ${JSON.stringify(name)} member`);
  if (typeof v !== 'string' || !BASE64URL.test(v) || v.length % 4 === 1) {
    throw new BundleMalformed(
      'jwk-param-encoding',
      `${where} has a ${JSON.stringify(name)} member that is not unpadded base64url`,
    );
  }
  return v;
}

/**
 * The public JWK of a key with only its key parameters (no `use`, `kid`, `alg`), in the member order the bundle
 * writers use. Only JOSE key types are accepted: EC P-256/P-384/P-521, RSA, Ed25519; anything else is KeyInvalid.
 */
export function publicJwkOf(key: KeyObject, what: string): JsonWebKey {
  let jwk: JsonWebKey;
  try {
    jwk = key.export({ format: 'jwk' });
  } catch (cause) {
    throw new KeyInvalid('key-type', `${what} has a key that cannot be expressed as a JWK`, { cause });
  }
  if (jwk.kty === 'EC' && typeof jwk.crv === 'string' && jwk.crv in EC_COORDINATE_BYTES) {
    return { kty: 'EC', crv: jwk.crv, x: jwk.x, y: jwk.y };
  }
  if (jwk.kty === 'RSA') return { kty: 'RSA', n: jwk.n, e: jwk.e };
  if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519') return { kty: 'OKP', crv: 'Ed25519', x: jwk.x };
  throw new KeyInvalid(
    'key-type',
    `${what} has key type ${JSON.stringify(jwk.kty)}${jwk.crv ? ` on curve ${JSON.stringify(jwk.crv)}` : ''}, ` +
      'which is not supported (EC P-256/P-384/P-521, RSA or Ed25519)',
  );
}
