import { TrustDomainInvalid } from '../errors.js';
import { isTrustDomainChar } from './chars.js';

/** Maximum length of a trust domain name in bytes (RFC 3986 host, SPIFFE-ID §2.1). */
export const MAX_TRUST_DOMAIN_BYTES = 255;

const SCHEME = 'spiffe://';

/**
 * A SPIFFE trust domain name (SPIFFE-ID standard §2.1). Only {@link TrustDomain.parse} builds one, so every instance is
 * valid: lowercase letters, digits, `.`, `-`, `_`; at most 255 bytes; no empty DNS label (Go's X.509 parser refuses URI
 * SANs whose host has one, so such a trust domain could never carry an SVID).
 */
export class TrustDomain {
  readonly #name: string;

  private constructor(name: string) {
    this.#name = name;
  }

  /**
   * Parses a bare trust domain name (`example.org`) or takes the trust domain of a SPIFFE ID
   * (`spiffe://example.org/x`), as the Workload API map keys may be either.
   */
  static parse(input: string): TrustDomain {
    if (typeof input !== 'string') throw new TypeError('trust domain must be a string');
    if (input.includes(':/')) {
      if (!input.startsWith(SCHEME)) {
        throw new TrustDomainInvalid('scheme', 'scheme is missing or invalid: a SPIFFE ID must start with "spiffe://"');
      }
      const rest = input.slice(SCHEME.length);
      const slash = rest.indexOf('/');
      return TrustDomain.parse(slash === -1 ? rest : rest.slice(0, slash));
    }
    validateTrustDomainName(input);
    return new TrustDomain(input);
  }

  /** Builds a trust domain from a name already checked by {@link validateTrustDomainName}. */
  static fromValidated(name: string): TrustDomain {
    return new TrustDomain(name);
  }

  get name(): string {
    return this.#name;
  }

  /** The trust domain's own SPIFFE ID string, `spiffe://<name>` (the key form of Workload API maps). */
  idString(): string {
    return SCHEME + this.#name;
  }

  equals(other: TrustDomain): boolean {
    return other instanceof TrustDomain && other.#name === this.#name;
  }

  toString(): string {
    return this.#name;
  }

  toJSON(): string {
    return this.#name;
  }
}

/** Throws {@link TrustDomainInvalid} naming the first rule `name` breaks. */
export function validateTrustDomainName(name: string): void {
  if (name.length === 0) {
    throw new TrustDomainInvalid('missing', 'trust domain is missing');
  }
  for (let i = 0; i < name.length; i++) {
    if (!isTrustDomainChar(name.charCodeAt(i))) {
      throw new TrustDomainInvalid(
        'charset',
        'trust domain characters are limited to lowercase letters, numbers, dots, dashes, and underscores ' +
          `(found ${JSON.stringify(name[i])} at index ${i})`,
      );
    }
  }
  // Every accepted character is ASCII, so the string length is the byte length.
  if (name.length > MAX_TRUST_DOMAIN_BYTES) {
    throw new TrustDomainInvalid(
      'length',
      `trust domain is ${name.length} bytes long; at most ${MAX_TRUST_DOMAIN_BYTES} are allowed`,
    );
  }
  if (name.startsWith('.') || name.endsWith('.') || name.includes('..')) {
    throw new TrustDomainInvalid(
      'empty-label',
      'trust domain must not contain an empty DNS label (a leading, trailing or doubled dot)',
    );
  }
}
