import { createPublicKey, hash, KeyObject, type JsonWebKey } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { AlgorithmIdentifier, SubjectPublicKeyInfo } from '@peculiar/asn1-x509';
import { KeyInvalid } from '../errors.js';
import { bitString, sequence, unsignedInteger } from './der.js';
import { OID, oidDer } from './oids.js';

/** A leaf public key as it goes into a certificate. */
export interface EncodedPublicKey {
  /** SubjectPublicKeyInfo DER: may view a shared pool or the caller's input, so copy it to keep it. */
  readonly spki: Uint8Array;
  /** SHA-1 of the subjectPublicKey BIT STRING contents (RFC 5280 §4.2.1.2 method 1): the SKI value. */
  readonly keyId: Uint8Array;
}

/** RSA leaf keys accepted: at least 2048 bits (SPIFFE/SPIRE practice) and at most 8192 (verifiers' usual ceiling). */
export const MIN_RSA_BITS = 2048;
export const MAX_RSA_BITS = 8192;

interface EcCurve {
  readonly crv: 'P-256' | 'P-384';
  readonly size: number; // field element octets
  readonly p: bigint;
  readonly b: bigint;
  /** SPKI DER up to and including the BIT STRING's unused-bits octet; the point 04||X||Y follows. */
  readonly prefix: Uint8Array;
}

function spkiPrefix(algorithm: AlgorithmIdentifier, keyLength: number): Uint8Array {
  const der = new Uint8Array(
    AsnConvert.serialize(new SubjectPublicKeyInfo({ algorithm, subjectPublicKey: new ArrayBuffer(keyLength) })),
  );
  return der.subarray(0, der.length - keyLength);
}

function ecCurve(crv: 'P-256' | 'P-384', curveOid: string, size: number, p: bigint, b: bigint): EcCurve {
  const algorithm = new AlgorithmIdentifier({
    algorithm: OID.ecPublicKey,
    parameters: oidDer(curveOid).slice().buffer,
  });
  return { crv, size, p, b, prefix: spkiPrefix(algorithm, 1 + 2 * size) };
}

// Curve constants from FIPS 186-4 / SEC 2 (a = -3 for both).
const P256 = ecCurve(
  'P-256',
  OID.p256,
  32,
  2n ** 256n - 2n ** 224n + 2n ** 192n + 2n ** 96n - 1n,
  0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn,
);
const P384 = ecCurve(
  'P-384',
  OID.p384,
  48,
  2n ** 384n - 2n ** 128n - 2n ** 96n + 2n ** 32n - 1n,
  0xb3312fa7e23ee7e4988e056be3f82d19181d9c6efe8141120314088f5013875ac656398d8a2ed19d2a85c8edd3ec2aefn,
);
const ED25519_PREFIX = spkiPrefix(new AlgorithmIdentifier({ algorithm: OID.ed25519 }), 32);
const RSA_ALGORITHM = new Uint8Array(
  AsnConvert.serialize(new AlgorithmIdentifier({ algorithm: OID.rsaEncryption, parameters: null })),
);

/**
 * Encodes a leaf public key for a certificate. Accepts a KeyObject (public, or private whose public half is used) or
 * SubjectPublicKeyInfo DER, of type EC P-256/P-384, RSA 2048–8192 bits, or Ed25519. The SPKI is always rebuilt in
 * canonical form (named curve, uncompressed point), so what is certified is exactly the key OpenSSL understood.
 *
 * Speed: KeyObject SPKI export is slow (~7k/s), JWK export is ~175k/s, so keys are rebuilt from their JWK. Canonical
 * EC/Ed25519 SPKI bytes are taken as they are after a point-on-curve check, without touching OpenSSL.
 */
export function encodePublicKey(key: KeyObject | Uint8Array): EncodedPublicKey {
  if (key instanceof Uint8Array) return fromSpkiDer(key);
  if (!(key instanceof KeyObject)) throw new TypeError('publicKey must be a KeyObject or SPKI DER bytes');
  if (key.type === 'secret') throw new KeyInvalid('key-type', 'a secret key cannot be a certificate public key');
  return fromJwk(key.export({ format: 'jwk' }), key.asymmetricKeyType);
}

function fromSpkiDer(der: Uint8Array): EncodedPublicKey {
  const fast = fastSpki(der);
  if (fast) return fast;
  let key: KeyObject;
  try {
    key = createPublicKey({ key: Buffer.from(der.buffer, der.byteOffset, der.byteLength), format: 'der', type: 'spki' });
  } catch (err) {
    throw new KeyInvalid('malformed-public-key', 'public key is not a valid SubjectPublicKeyInfo', { cause: err });
  }
  return fromJwk(key.export({ format: 'jwk' }), key.asymmetricKeyType);
}

/** Canonical P-256 / P-384 / Ed25519 SPKI, recognised by prefix and length; undefined when not one of those. */
function fastSpki(der: Uint8Array): EncodedPublicKey | undefined {
  for (const curve of [P256, P384]) {
    if (der.length === curve.prefix.length + 1 + 2 * curve.size && startsWith(der, curve.prefix)) {
      const point = der.subarray(curve.prefix.length);
      if (point[0] !== 0x04) return undefined;
      const x = point.subarray(1, 1 + curve.size);
      const y = point.subarray(1 + curve.size);
      if (!onCurve(curve, x, y)) throw new KeyInvalid('ec-point', `public key point is not on curve ${curve.crv}`);
      return { spki: der, keyId: sha1(point) };
    }
  }
  if (der.length === ED25519_PREFIX.length + 32 && startsWith(der, ED25519_PREFIX)) {
    return { spki: der, keyId: sha1(der.subarray(ED25519_PREFIX.length)) };
  }
  return undefined;
}

function fromJwk(jwk: JsonWebKey, type: string | undefined): EncodedPublicKey {
  switch (type) {
    case 'ec': {
      const curve = jwk.crv === 'P-256' ? P256 : jwk.crv === 'P-384' ? P384 : undefined;
      if (!curve) {
        throw new KeyInvalid('key-type', `EC public keys must use P-256 or P-384 (got ${JSON.stringify(jwk.crv)})`);
      }
      // Decoded straight into the SPKI buffer: prefix, 0x04, X, Y.
      const start = curve.prefix.length;
      const spki = Buffer.allocUnsafe(start + 1 + 2 * curve.size); // pooled: copied into the TBS at once
      spki.set(curve.prefix, 0);
      spki[start] = 0x04;
      writeB64u(spki, jwk.x, start + 1, curve.size);
      writeB64u(spki, jwk.y, start + 1 + curve.size, curve.size);
      return { spki: new Uint8Array(spki.buffer, spki.byteOffset, spki.length), keyId: sha1(spki.subarray(start)) };
    }
    case 'ed25519': {
      const raw = b64u(jwk.x, 32);
      const spki = new Uint8Array(ED25519_PREFIX.length + 32);
      spki.set(ED25519_PREFIX, 0);
      spki.set(raw, ED25519_PREFIX.length);
      return { spki, keyId: sha1(raw) };
    }
    case 'rsa': {
      const n = b64u(jwk.n);
      const e = b64u(jwk.e);
      let bits = n.length * 8;
      for (let i = 0; i < n.length && n[i] === 0; i++) bits -= 8;
      const lead = n.find((v) => v !== 0) ?? 0;
      bits -= Math.clz32(lead) - 24;
      if (bits < MIN_RSA_BITS || bits > MAX_RSA_BITS) {
        throw new KeyInvalid('rsa-size', `RSA public keys must have ${MIN_RSA_BITS} to ${MAX_RSA_BITS} bits (got ${bits})`);
      }
      const eValue = e.reduce((acc, v) => acc * 256 + v, 0);
      if (e.length > 4 || eValue < 3 || eValue % 2 === 0) {
        throw new KeyInvalid('rsa-exponent', 'RSA public exponent must be odd, at least 3 and fit in 32 bits');
      }
      const keyBits = sequence(unsignedInteger(n), unsignedInteger(e));
      return { spki: sequence(RSA_ALGORITHM, bitString(keyBits)), keyId: sha1(keyBits) };
    }
    default:
      throw new KeyInvalid(
        'key-type',
        `unsupported public key type ${JSON.stringify(type)}: use EC P-256/P-384, RSA or Ed25519`,
      );
  }
}

function writeB64u(out: Buffer, s: string | undefined, offset: number, size: number): void {
  if (typeof s !== 'string' || s.length !== Math.ceil((size * 4) / 3) || out.write(s, offset, size, 'base64url') !== size) {
    throw new KeyInvalid('malformed-public-key', `public key component is not ${size} octets of base64url`);
  }
}

function b64u(s: string | undefined, size?: number): Uint8Array {
  if (typeof s !== 'string') throw new KeyInvalid('malformed-public-key', 'public key is missing a component');
  const b = Buffer.from(s, 'base64url');
  if (size !== undefined && b.length !== size) {
    throw new KeyInvalid('malformed-public-key', `public key component has ${b.length} octets, expected ${size}`);
  }
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

function startsWith(buf: Uint8Array, prefix: Uint8Array): boolean {
  for (let i = 0; i < prefix.length; i++) if (buf[i] !== prefix[i]) return false;
  return true;
}

function toBigint(b: Uint8Array): bigint {
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let v = 0n;
  for (let i = 0; i < b.length; i += 8) v = (v << 64n) | view.getBigUint64(i);
  return v;
}

/** y² = x³ − 3x + b (mod p) with 0 ≤ x, y < p; with cofactor 1 every such point is in the prime-order group. */
function onCurve(curve: EcCurve, xb: Uint8Array, yb: Uint8Array): boolean {
  const { p, b } = curve;
  const x = toBigint(xb);
  const y = toBigint(yb);
  if (x >= p || y >= p) return false;
  const lhs = (y * y) % p;
  const rhs = (((((x * x) % p) * x) % p) - 3n * x + b) % p;
  return lhs === (rhs + p) % p;
}

export function sha1(data: Uint8Array): Uint8Array {
  return hash('sha1', data, 'buffer');
}

/**
 * Whether two keys have the same public half. Compares public JWKs rather than calling `KeyObject.equals`, which on
 * keys of different types leaves an error on OpenSSL's queue that makes the next, unrelated crypto call fail.
 */
export function samePublicKey(a: KeyObject, b: KeyObject): boolean {
  if (a.asymmetricKeyType !== b.asymmetricKeyType) return false;
  const ja = (a.type === 'private' ? createPublicKey(a) : a).export({ format: 'jwk' });
  const jb = (b.type === 'private' ? createPublicKey(b) : b).export({ format: 'jwk' });
  return ja.kty === jb.kty && ja.crv === jb.crv && ja.x === jb.x && ja.y === jb.y && ja.n === jb.n && ja.e === jb.e;
}
