export type { X509BundleSource, JwtBundleSource } from './source.js';
export { X509Bundle } from './x509-bundle.js';
export { JwtBundle, type JwtAuthority } from './jwt-bundle.js';
export { SpiffeBundle, MAX_SPIFFE_SEQUENCE, type SpiffeBundleParts } from './spiffe-bundle.js';
export { BundleSet } from './bundle-set.js';
