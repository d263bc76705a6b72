import { BundleNotFound } from '../errors.js';
import type { TrustDomain } from '../id/index.js';
import { toTrustDomain } from './args.js';
import { JwtBundle } from './jwt-bundle.js';
import type { JwtBundleSource, X509BundleSource } from './source.js';
import { SpiffeBundle } from './spiffe-bundle.js';
import { X509Bundle } from './x509-bundle.js';

interface Entry {
  readonly trustDomain: TrustDomain;
  x509?: X509Bundle;
  jwt?: JwtBundle;
  spiffe?: SpiffeBundle;
}

/**
 * Bundles of several trust domains (own + federated), keyed by trust domain; bundles of different trust domains are
 * never merged. Per trust domain the set holds an X.509 half and a JWT half: adding a {@link SpiffeBundle} sets both,
 * adding an {@link X509Bundle} or {@link JwtBundle} replaces only that half. A lookup for a half never added throws
 * {@link BundleNotFound}, so a trust domain known only for JWT has no X.509 bundle (not an empty one).
 */
export class BundleSet implements X509BundleSource, JwtBundleSource {
  readonly #entries = new Map<string, Entry>();

  constructor(bundles: Iterable<SpiffeBundle | X509Bundle | JwtBundle> = []) {
    for (const b of bundles) this.add(b);
  }

  /** Adds or replaces the bundle (or bundle half) of the bundle's trust domain. */
  add(bundle: SpiffeBundle | X509Bundle | JwtBundle): void {
    const td = bundle.trustDomain;
    if (bundle instanceof SpiffeBundle) {
      this.#entries.set(td.name, { trustDomain: td, x509: bundle.x509Bundle, jwt: bundle.jwtBundle, spiffe: bundle });
      return;
    }
    const entry: Entry = this.#entries.get(td.name) ?? { trustDomain: td };
    if (bundle instanceof X509Bundle) entry.x509 = bundle;
    else if (bundle instanceof JwtBundle) entry.jwt = bundle;
    else throw new TypeError('BundleSet.add takes a SpiffeBundle, X509Bundle or JwtBundle');
    delete entry.spiffe;
    this.#entries.set(td.name, entry);
  }

  /**
   * The SPIFFE bundle of `trustDomain`, or undefined. For a trust domain added as halves, a SpiffeBundle sharing those
   * halves is returned (a half never added is an empty bundle there).
   */
  get(trustDomain: TrustDomain | string): SpiffeBundle | undefined {
    const entry = this.#entries.get(toTrustDomain(trustDomain).name);
    if (!entry) return undefined;
    entry.spiffe ??= SpiffeBundle.fromBundles({
      trustDomain: entry.trustDomain,
      ...(entry.x509 && { x509Bundle: entry.x509 }),
      ...(entry.jwt && { jwtBundle: entry.jwt }),
    });
    return entry.spiffe;
  }

  has(trustDomain: TrustDomain | string): boolean {
    return this.#entries.has(toTrustDomain(trustDomain).name);
  }

  /** Removes every bundle of `trustDomain`; true when there was one. */
  remove(trustDomain: TrustDomain | string): boolean {
    return this.#entries.delete(toTrustDomain(trustDomain).name);
  }

  /** The trust domains in the set, in order of first addition. */
  trustDomains(): TrustDomain[] {
    return [...this.#entries.values()].map((e) => e.trustDomain);
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Every X.509 bundle in the set (the Workload API's X.509 bundle map). */
  x509Bundles(): X509Bundle[] {
    return [...this.#entries.values()].flatMap((e) => (e.x509 ? [e.x509] : []));
  }

  /** Every JWT bundle in the set (the Workload API's JWT bundle map). */
  jwtBundles(): JwtBundle[] {
    return [...this.#entries.values()].flatMap((e) => (e.jwt ? [e.jwt] : []));
  }

  getX509BundleForTrustDomain(trustDomain: TrustDomain): X509Bundle {
    const b = this.#entries.get(trustDomain.name)?.x509;
    if (!b) {
      throw new BundleNotFound('x509-trust-domain', `no X.509 bundle for trust domain ${JSON.stringify(trustDomain.name)}`);
    }
    return b;
  }

  getJwtBundleForTrustDomain(trustDomain: TrustDomain): JwtBundle {
    const b = this.#entries.get(trustDomain.name)?.jwt;
    if (!b) {
      throw new BundleNotFound('jwt-trust-domain', `no JWT bundle for trust domain ${JSON.stringify(trustDomain.name)}`);
    }
    return b;
  }
}
