export { TrustDomain, MAX_TRUST_DOMAIN_BYTES, validateTrustDomainName } from './trust-domain.js';
export { SpiffeId, MAX_SPIFFE_ID_BYTES, validatePath } from './spiffe-id.js';
