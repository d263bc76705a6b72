/**
 * The few DER facts the bundle parsers need: the total length of one TLV element, read from its header, so concatenated
 * certificates can be split and trailing bytes after a certificate detected. Internal to the bundle package.
 */

/** Thrown by {@link derElementLength}; callers turn it into a coded error naming their input. */
export class DerLengthError extends Error {}

/**
 * The length in bytes (header + contents) of the DER element starting at `offset` of `buf`. Only definite, minimally
 * encoded lengths of at most 4 length bytes are accepted (DER rules); the element must fit inside `buf`.
 */
export function derElementLength(buf: Uint8Array, offset: number): number {
  if (offset + 2 > buf.length) throw new DerLengthError('truncated DER element header');
  const first = buf[offset + 1]!;
  let headerLength = 2;
  let contentLength: number;
  if (first < 0x80) {
    contentLength = first;
  } else {
    const count = first & 0x7f;
    if (count === 0) throw new DerLengthError('indefinite length is not allowed in DER');
    if (count > 4) throw new DerLengthError(`length of ${count} bytes is too large`);
    if (offset + 2 + count > buf.length) throw new DerLengthError('truncated DER length');
    contentLength = 0;
    for (let i = 0; i < count; i++) contentLength = contentLength * 256 + buf[offset + 2 + i]!;
    if (buf[offset + 2]! === 0 || contentLength < 0x80) throw new DerLengthError('length is not minimally encoded');
    headerLength += count;
  }
  const total = headerLength + contentLength;
  if (offset + total > buf.length) {
    throw new DerLengthError(`element claims ${total} bytes but only ${buf.length - offset} remain`);
  }
  return total;
}
