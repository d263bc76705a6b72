/**
 * A TLV walker for DER: enough to split concatenated certificates and to take exact byte ranges (TBSCertificate,
 * issuer, subject, SPKI) out of a certificate. Field values are decoded by @peculiar/asn1-x509, not here.
 */

export interface Tlv {
  readonly tag: number;
  /** Offset of the tag octet. */
  readonly offset: number;
  /** Offset of the first content octet. */
  readonly start: number;
  /** Offset just past the last content octet. */
  readonly end: number;
}

/** Reads the TLV at `offset`; throws RangeError on truncation, indefinite or non-minimal lengths, or multi-byte tags. */
export function readTlv(buf: Uint8Array, offset: number, limit = buf.length): Tlv {
  if (offset + 2 > limit) throw new RangeError('truncated DER element');
  const tag = buf[offset]!;
  if ((tag & 0x1f) === 0x1f) throw new RangeError('multi-byte DER tags are not supported');
  let len = buf[offset + 1]!;
  let start = offset + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0) throw new RangeError('indefinite DER length');
    if (n > 4) throw new RangeError('DER length too large');
    if (start + n > limit) throw new RangeError('truncated DER length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[start + i]!;
    if (buf[start] === 0 || len < 0x80) throw new RangeError('non-minimal DER length');
    start += n;
  }
  const end = start + len;
  if (end > limit) throw new RangeError('truncated DER element');
  return { tag, offset, start, end };
}

/** Splits back-to-back top-level DER elements (e.g. a Workload API certificate chain). */
export function splitDer(buf: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  let o = 0;
  while (o < buf.length) {
    const t = readTlv(buf, o);
    out.push(buf.subarray(o, t.end));
    o = t.end;
  }
  return out;
}

/** Exact byte ranges of the parts of a Certificate that must be compared or hashed as they were signed. */
export interface CertificateParts {
  readonly tbs: Uint8Array;
  readonly issuer: Uint8Array;
  readonly subject: Uint8Array;
  readonly spki: Uint8Array;
}

/** Walks Certificate → TBSCertificate → (version, serial, signature, issuer, validity, subject, SPKI). */
export function certificateParts(der: Uint8Array): CertificateParts {
  const cert = readTlv(der, 0);
  if (cert.tag !== 0x30 || cert.end !== der.length) throw new RangeError('not a single DER SEQUENCE');
  const tbs = readTlv(der, cert.start, cert.end);
  if (tbs.tag !== 0x30) throw new RangeError('TBSCertificate is not a SEQUENCE');
  let o = tbs.start;
  const next = (): Tlv => {
    const t = readTlv(der, o, tbs.end);
    o = t.end;
    return t;
  };
  let t = next();
  if (t.tag === 0xa0) t = next(); // version, then serial
  next(); // signature
  const issuer = next();
  next(); // validity
  const subject = next();
  const spki = next();
  const slice = (x: Tlv): Uint8Array => der.subarray(x.offset, x.end);
  return { tbs: slice(tbs), issuer: slice(issuer), subject: slice(subject), spki: slice(spki) };
}
