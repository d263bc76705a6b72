import { SpiffeIdInvalid, TrustDomainInvalid } from '../errors.js';
import { isPathSegmentChar, isTrustDomainChar } from './chars.js';
import { TrustDomain, validateTrustDomainName } from './trust-domain.js';

/** Implementations must accept SPIFFE IDs up to 2048 bytes and should not mint longer ones (SPIFFE-ID §2.3). */
export const MAX_SPIFFE_ID_BYTES = 2048;

const SCHEME = 'spiffe://';

/**
 * A SPIFFE ID (SPIFFE-ID standard §2). Instances are only built by the validating factories, so holding one means it
 * is valid: scheme `spiffe://`, a valid {@link TrustDomain}, an optional path of non-empty segments of
 * `[A-Za-z0-9._-]` that are not `.` or `..`, no trailing slash, at most 2048 bytes in all.
 */
export class SpiffeId {
  readonly #trustDomain: TrustDomain;
  readonly #path: string;

  private constructor(trustDomain: TrustDomain, path: string) {
    this.#trustDomain = trustDomain;
    this.#path = path;
  }

  /** Parses `spiffe://<trust-domain>[/<path>]`, reporting the first rule broken (scanning left to right). */
  static parse(input: string): SpiffeId {
    if (typeof input !== 'string') throw new TypeError('SPIFFE ID must be a string');
    if (input.length === 0) throw new SpiffeIdInvalid('empty', 'SPIFFE ID cannot be empty');
    if (!input.startsWith(SCHEME)) {
      throw new SpiffeIdInvalid('scheme', 'scheme is missing or invalid: a SPIFFE ID must start with "spiffe://"');
    }
    const rest = input.slice(SCHEME.length);
    let end = 0;
    for (; end < rest.length; end++) {
      const c = rest.charCodeAt(end);
      if (c === 0x2f) break;
      if (!isTrustDomainChar(c)) {
        throw new SpiffeIdInvalid(
          'trust-domain-charset',
          'trust domain characters are limited to lowercase letters, numbers, dots, dashes, and underscores ' +
            `(found ${JSON.stringify(rest[end])} at index ${SCHEME.length + end})`,
        );
      }
    }
    const name = rest.slice(0, end);
    if (name.length === 0) throw new SpiffeIdInvalid('trust-domain-missing', 'trust domain is missing');
    const td = trustDomainOf(name);
    const path = rest.slice(end);
    validatePath(path);
    checkLength(SCHEME.length + Buffer.byteLength(rest, 'utf8'));
    return new SpiffeId(td, path);
  }

  /** Builds `spiffe://<td><path>`; `path` must be empty or start with `/` and follow the path rules. */
  static fromPath(trustDomain: TrustDomain, path: string): SpiffeId {
    if (!(trustDomain instanceof TrustDomain)) throw new TypeError('trustDomain must be a TrustDomain');
    if (typeof path !== 'string') throw new TypeError('path must be a string');
    validatePath(path);
    checkLength(SCHEME.length + trustDomain.name.length + Buffer.byteLength(path, 'utf8'));
    return new SpiffeId(trustDomain, path);
  }

  /** Builds `spiffe://<td>/<seg1>/<seg2>…`; each segment must be a valid non-empty path segment. */
  static fromSegments(trustDomain: TrustDomain, ...segments: string[]): SpiffeId {
    for (const s of segments) {
      if (typeof s !== 'string') throw new TypeError('path segments must be strings');
      if (s.includes('/')) {
        throw new SpiffeIdInvalid('segment-slash', `path segment ${JSON.stringify(s)} must not contain a slash`);
      }
    }
    return SpiffeId.fromPath(trustDomain, segments.map((s) => '/' + s).join(''));
  }

  /** The trust domain's own ID (`spiffe://td`, no path): what signing certificates carry. */
  static forTrustDomain(trustDomain: TrustDomain): SpiffeId {
    return new SpiffeId(trustDomain, '');
  }

  get trustDomain(): TrustDomain {
    return this.#trustDomain;
  }

  /** The path, empty or starting with `/`. */
  get path(): string {
    return this.#path;
  }

  /** True when the ID has no path (the trust domain's own ID). */
  isTrustDomainId(): boolean {
    return this.#path === '';
  }

  memberOf(trustDomain: TrustDomain): boolean {
    return this.#trustDomain.equals(trustDomain);
  }

  equals(other: SpiffeId): boolean {
    return other instanceof SpiffeId && other.#path === this.#path && other.#trustDomain.equals(this.#trustDomain);
  }

  toString(): string {
    return SCHEME + this.#trustDomain.name + this.#path;
  }

  toJSON(): string {
    return this.toString();
  }
}

function trustDomainOf(name: string): TrustDomain {
  try {
    validateTrustDomainName(name);
  } catch (err) {
    if (err instanceof TrustDomainInvalid) throw new SpiffeIdInvalid('trust-domain-' + err.rule, err.message);
    throw err;
  }
  return TrustDomain.fromValidated(name);
}

function checkLength(bytes: number): void {
  if (bytes > MAX_SPIFFE_ID_BYTES) {
    throw new SpiffeIdInvalid('length', `SPIFFE ID is ${bytes} bytes long; at most ${MAX_SPIFFE_ID_BYTES} are allowed`);
  }
}

/** Throws {@link SpiffeIdInvalid} naming the first rule the path breaks; the empty path is valid. */
export function validatePath(path: string): void {
  if (path.length === 0) return;
  if (path.charCodeAt(0) !== 0x2f) throw new SpiffeIdInvalid('leading-slash', 'path must have a leading slash');
  let segStart = 1;
  for (let i = 1; i <= path.length; i++) {
    if (i < path.length && path.charCodeAt(i) !== 0x2f) {
      if (!isPathSegmentChar(path.charCodeAt(i))) {
        throw new SpiffeIdInvalid(
          'path-charset',
          'path segment characters are limited to letters, numbers, dots, dashes, and underscores ' +
            `(found ${JSON.stringify(path[i])} in the path at index ${i})`,
        );
      }
      continue;
    }
    const segment = path.slice(segStart, i);
    if (segment.length === 0) {
      if (i === path.length) throw new SpiffeIdInvalid('trailing-slash', 'path cannot have a trailing slash');
      throw new SpiffeIdInvalid('empty-segment', 'path cannot contain empty segments');
    }
    if (segment === '.' || segment === '..') {
      throw new SpiffeIdInvalid('dot-segment', 'path cannot contain dot segments ("." or "..")');
    }
    segStart = i + 1;
  }
}
