import { BundleMalformed, BundleNotFound } from '../errors.js';
import type { TrustDomain } from '../id/index.js';
import { toTrustDomain } from './args.js';
import { decodePem, encodePem, type PemBlock } from '../pem.js';
import { parseCertificateDer, splitConcatenatedDer } from './certificate.js';
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

  /**
   * Reads the CERTIFICATE blocks of PEM text (other block types are skipped). Empty text gives an empty bundle; text
   * with no PEM block at all, a block that is not base64, or a certificate that does not parse (trailing bytes after
   * the DER included) is {@link BundleMalformed}. Certificates are not checked for CA-ness (as go-spiffe).
   */
  static parsePem(trustDomain: TrustDomain | string, pemText: string): X509Bundle {
    const td = toTrustDomain(trustDomain);
    if (typeof pemText !== 'string') throw new TypeError('PEM text must be a string');
    const bundle = new X509Bundle(td);
    if (pemText.length === 0) return bundle;
    let blocks: PemBlock[];
    try {
      blocks = decodePem(pemText);
    } catch (cause) {
      throw new BundleMalformed('pem-base64', `X.509 bundle PEM is malformed: ${(cause as Error).message}`, { cause });
    }
    if (blocks.length === 0) throw new BundleMalformed('pem-no-blocks', 'X.509 bundle text contains no PEM blocks');
    let n = 0;
    for (const block of blocks) {
      if (block.type !== 'CERTIFICATE') continue;
      parseCertificateDer(block.der, `X.509 bundle certificate ${n++}`);
      bundle.addAuthority(block.der);
    }
    return bundle;
  }

  /**
   * Reads concatenated DER certificates (the Workload API form). Empty input gives an empty bundle; each element is
   * delimited by its outer SEQUENCE length and must parse as an X.509 certificate, else {@link BundleMalformed}.
   */
  static parseDer(trustDomain: TrustDomain | string, concatenatedDer: Uint8Array): X509Bundle {
    const td = toTrustDomain(trustDomain);
    if (!(concatenatedDer instanceof Uint8Array)) throw new TypeError('DER input must be a Uint8Array');
    const bundle = new X509Bundle(td);
    splitConcatenatedDer(concatenatedDer, 'X.509 bundle').forEach((der, i) => {
      parseCertificateDer(der, `X.509 bundle certificate ${i}`);
      bundle.addAuthority(der);
    });
    return bundle;
  }

  /** Every authority as a PEM CERTIFICATE block, in order; the empty string for an empty bundle. */
  toPem(): string {
    return this.#authorities.map((der) => encodePem('CERTIFICATE', der)).join('');
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
