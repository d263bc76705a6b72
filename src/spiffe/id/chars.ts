/** Character classes of the SPIFFE-ID standard (§2.1, §2.2): the exact sets the reference client accepts. */

/** Trust-domain characters: lowercase letters, digits, `.`, `-`, `_`. */
export function isTrustDomainChar(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2e || c === 0x2d || c === 0x5f;
}

/** Path-segment characters: letters of either case, digits, `.`, `-`, `_`. */
export function isPathSegmentChar(c: number): boolean {
  return isTrustDomainChar(c) || (c >= 0x41 && c <= 0x5a);
}
