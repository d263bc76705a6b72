import { TrustDomain } from '../id/index.js';

/** Bundle factories take a TrustDomain or its name (`td` or `spiffe://td`, see TrustDomain.parse). */
export function toTrustDomain(td: TrustDomain | string): TrustDomain {
  if (td instanceof TrustDomain) return td;
  if (typeof td !== 'string') throw new TypeError('trust domain must be a TrustDomain or a string');
  return TrustDomain.parse(td);
}
