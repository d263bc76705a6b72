import { BundleNotFound } from '../errors.js';
import type { TrustDomain } from '../id/index.js';
import type { X509BundleSource } from './source.js';

/**
 * The X.509 authorities (CA certificates, DER) of one trust domain. A bundle never names its trust domain on the wire,
 * so the pair is kept together here. Authorities are deduplicated by their DER bytes; order of first addition is kept.
 */
export class X509Bundle implements X509BundleSource {
  readonly trustDomain: TrustDomain;
  readonly #authorities: Uint8Array[] = [];
  readonly #seen = new Set<string>();

  constructor(trustDomain: TrustDomain, authorities: Iterable<Uint8Array> = []) {
    this.trustDomain = trustDomain;
    for (const der of authorities) this.addAuthority(der);
  }

  /** The CA certificates, DER-encoded, in order of addition. */
  get x509Authorities(): readonly Uint8Array[] {
    return this.#authorities;
  }

  addAuthority(der: Uint8Array): void {
    if (!(der instanceof Uint8Array)) throw new TypeError('authority must be DER bytes (Uint8Array)');
    const key = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString('base64');
    if (this.#seen.has(key)) return;
    this.#seen.add(key);
    this.#authorities.push(new Uint8Array(der));
  }

  hasAuthority(der: Uint8Array): boolean {
    return this.#seen.has(Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString('base64'));
  }

  isEmpty(): boolean {
    return this.#authorities.length === 0;
  }

  /** The concatenated DER of every authority: the Workload API's `bundle` / bundle-map value form. */
  toConcatenatedDer(): Uint8Array {
    return Buffer.concat(this.#authorities);
  }

  equals(other: X509Bundle): boolean {
    if (!this.trustDomain.equals(other.trustDomain)) return false;
    if (other.#authorities.length !== this.#authorities.length) return false;
    return this.#authorities.every((der) => other.hasAuthority(der));
  }

  getX509BundleForTrustDomain(trustDomain: TrustDomain): X509Bundle {
    if (!trustDomain.equals(this.trustDomain)) {
      throw new BundleNotFound(
        'x509-trust-domain',
        `no X.509 bundle for trust domain ${JSON.stringify(trustDomain.name)} ` +
          `(this bundle is for ${JSON.stringify(this.trustDomain.name)})`,
      );
    }
    return this;
  }
}
