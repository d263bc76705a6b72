/**
 * The smallest DER writer the leaf fast path needs: tag + definite length + contents, and concatenation. It never
 * parses. Structured values (names, algorithm identifiers, fixed extensions) are encoded once elsewhere with
 * @peculiar/asn1-schema; this file only glues bytes together per certificate.
 */

export const TAG_INTEGER = 0x02;
export const TAG_BIT_STRING = 0x03;
export const TAG_OCTET_STRING = 0x04;
export const TAG_NULL = 0x05;
export const TAG_OID = 0x06;
export const TAG_UTC_TIME = 0x17;
export const TAG_GENERALIZED_TIME = 0x18;
export const TAG_SEQUENCE = 0x30;

/** Bytes of a DER definite length for `n` content octets. */
export function lengthBytes(n: number): Uint8Array {
  if (n < 0x80) return Uint8Array.of(n);
  if (n < 0x100) return Uint8Array.of(0x81, n);
  if (n < 0x10000) return Uint8Array.of(0x82, n >>> 8, n & 0xff);
  if (n < 0x1000000) return Uint8Array.of(0x83, n >>> 16, (n >>> 8) & 0xff, n & 0xff);
  throw new RangeError(`DER length ${n} is too large`);
}

/** One TLV whose contents are the concatenation of `parts`. */
export function tlv(tag: number, ...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  let n = 0;
  for (const p of parts) n += p.length;
  const len = lengthBytes(n);
  const out = new Uint8Array(1 + len.length + n);
  out[0] = tag;
  out.set(len, 1);
  let o = 1 + len.length;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/**
 * An element to assemble in one pass: its contents are its children (already-encoded bytes or other nodes) laid end
 * to end. {@link assemble} sizes the whole tree first and then writes it into a single buffer, so a certificate costs
 * one allocation instead of one copy per nesting level.
 */
export class DerNode {
  /** Content length, filled in by {@link assemble}. */
  size = -1;
  constructor(
    readonly tag: number,
    readonly children: readonly (Uint8Array | DerNode)[],
  ) {}
}

export function node(tag: number, ...children: (Uint8Array | DerNode)[]): DerNode {
  return new DerNode(tag, children);
}

function headerSize(len: number): number {
  return len < 0x80 ? 2 : len < 0x100 ? 3 : len < 0x10000 ? 4 : len < 0x1000000 ? 5 : -1;
}

function measure(n: DerNode): number {
  let len = 0;
  for (const c of n.children) len += c instanceof DerNode ? measure(c) : c.length;
  const h = headerSize(len);
  if (h < 0) throw new RangeError(`DER length ${len} is too large`);
  n.size = len;
  return h + len;
}

function write(n: DerNode, out: Uint8Array, o: number): number {
  const len = n.size;
  out[o++] = n.tag;
  if (len < 0x80) {
    out[o++] = len;
  } else if (len < 0x100) {
    out[o++] = 0x81;
    out[o++] = len;
  } else if (len < 0x10000) {
    out[o++] = 0x82;
    out[o++] = len >>> 8;
    out[o++] = len & 0xff;
  } else {
    out[o++] = 0x83;
    out[o++] = len >>> 16;
    out[o++] = (len >>> 8) & 0xff;
    out[o++] = len & 0xff;
  }
  for (const c of n.children) {
    if (c instanceof DerNode) {
      o = write(c, out, o);
    } else {
      out.set(c, o);
      o += c.length;
    }
  }
  return o;
}

/** Encodes a node tree into one new buffer. */
export function assemble(root: DerNode): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(measure(root));
  write(root, out, 0);
  return out;
}

/** A reusable output area for encodings that are consumed at once (e.g. a TBSCertificate about to be signed). */
export class Scratch {
  #buf = new Uint8Array(2048);

  /** Encodes `root` into the scratch area; the view is valid until the next call. */
  assemble(root: DerNode): Uint8Array {
    const n = measure(root);
    if (n > this.#buf.length) this.#buf = new Uint8Array(Math.max(n, this.#buf.length * 2));
    write(root, this.#buf, 0);
    return this.#buf.subarray(0, n);
  }
}

export function sequence(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  return tlv(TAG_SEQUENCE, ...parts);
}

/** Context-specific constructed tag `[n]` (EXPLICIT wrapping), n < 31. */
export function explicit(n: number, ...parts: Uint8Array[]): Uint8Array {
  return tlv(0xa0 | n, ...parts);
}

/** BIT STRING with zero unused bits (keys, signatures). */
export function bitString(contents: Uint8Array): Uint8Array {
  return tlv(TAG_BIT_STRING, Uint8Array.of(0), contents);
}

/**
 * INTEGER from the big-endian magnitude of a non-negative number: leading zero octets are dropped and one 0x00 is
 * put back when the top bit is set, so the encoding is minimal and positive.
 */
export function unsignedInteger(magnitude: Uint8Array): Uint8Array {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
  const body = magnitude.subarray(start);
  if (body.length === 0) return Uint8Array.of(TAG_INTEGER, 1, 0);
  return body[0]! & 0x80 ? tlv(TAG_INTEGER, Uint8Array.of(0), body) : tlv(TAG_INTEGER, body);
}

/** Big-endian magnitude of a non-negative bigint (at least one octet). */
export function bigintToBytes(value: bigint): Uint8Array {
  if (value < 0n) throw new RangeError('value must not be negative');
  let hex = value.toString(16);
  if (hex.length % 2) hex = '0' + hex;
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

function pad2(n: number): string {
  return n < 10 ? '0' + n : String(n);
}

/**
 * RFC 5280 §4.1.2.5 Time: UTCTime `YYMMDDHHMMSSZ` for 1950–2049, GeneralizedTime `YYYYMMDDHHMMSSZ` otherwise. Sub-second
 * parts are dropped (callers pass whole seconds).
 */
export function encodeTime(date: Date): Uint8Array {
  const y = date.getUTCFullYear();
  if (y < 0 || y > 9999) throw new RangeError(`year ${y} cannot be encoded in an X.509 time`);
  const rest =
    pad2(date.getUTCMonth() + 1) +
    pad2(date.getUTCDate()) +
    pad2(date.getUTCHours()) +
    pad2(date.getUTCMinutes()) +
    pad2(date.getUTCSeconds()) +
    'Z';
  if (y >= 1950 && y < 2050) return tlv(TAG_UTC_TIME, ascii(pad2(y % 100) + rest));
  return tlv(TAG_GENERALIZED_TIME, ascii(String(y).padStart(4, '0') + rest));
}

export function ascii(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}
