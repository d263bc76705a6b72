import type { TrustDomain } from '../id/index.js';
import type { JwtBundle } from './jwt-bundle.js';
import type { X509Bundle } from './x509-bundle.js';

/** Anything that can give the X.509 authorities of one trust domain (a bundle, a bundle set, a live cache). */
export interface X509BundleSource {
  /** Throws BundleNotFound when there is no X.509 bundle for `trustDomain`. */
  getX509BundleForTrustDomain(trustDomain: TrustDomain): X509Bundle;
}

/** Anything that can give the JWT authorities of one trust domain. */
export interface JwtBundleSource {
  /** Throws BundleNotFound when there is no JWT bundle for `trustDomain`. */
  getJwtBundleForTrustDomain(trustDomain: TrustDomain): JwtBundle;
}
