import { X509Certificate } from 'node:crypto';
import { BundleMalformed } from '../errors.js';
import { DerLengthError, derElementLength } from './der.js';

/**
 * Parses exactly one DER certificate. The outer SEQUENCE must span the whole input: node (OpenSSL) silently ignores
 * bytes after the certificate, Go's parser refuses them ("x509: trailing data"), so the check is done here.
 * `what` names the input in error messages, e.g. `certificate 2` or `x5c[0] of JWKS key 1`.
 */
export function parseCertificateDer(der: Uint8Array, what: string): X509Certificate {
  if (der.length === 0 || der[0] !== 0x30) {
    throw new BundleMalformed('certificate-der', `${what} is not a DER certificate (no outer SEQUENCE)`);
  }
  let length: number;
  try {
    length = derElementLength(der, 0);
  } catch (cause) {
    if (!(cause instanceof DerLengthError)) throw cause;
    throw new BundleMalformed('certificate-der', `${what} is not valid DER: ${cause.message}`, { cause });
  }
  if (length !== der.length) {
    throw new BundleMalformed(
      'certificate-trailing-data',
      `${what} has ${der.length - length} bytes of trailing data after the certificate`,
    );
  }
  try {
    return new X509Certificate(der);
  } catch (cause) {
    throw new BundleMalformed('certificate-parse', `${what} cannot be parsed as an X.509 certificate`, { cause });
  }
}

/** Splits concatenated DER elements (the Workload API bundle form) without interpreting them. */
export function splitConcatenatedDer(bytes: Uint8Array, what: string): Uint8Array[] {
  const out: Uint8Array[] = [];
  let offset = 0;
  while (offset < bytes.length) {
    let length: number;
    try {
      length = derElementLength(bytes, offset);
    } catch (cause) {
      if (!(cause instanceof DerLengthError)) throw cause;
      throw new BundleMalformed(
        'certificate-der',
        `${what}: certificate ${out.length} (at byte ${offset}) is not valid DER: ${cause.message}`,
        { cause },
      );
    }
    out.push(bytes.subarray(offset, offset + length));
    offset += length;
  }
  return out;
}
