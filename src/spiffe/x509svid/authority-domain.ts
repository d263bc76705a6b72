import { BundleMalformed } from '../errors.js';
import type { X509Bundle } from '../bundle/index.js';
import { parseCertificate } from './certificate-info.js';

/**
 * Refuses an X.509 bundle holding an authority that names another trust domain: a CA certificate whose URI SANs
 * include a SPIFFE ID outside the bundle's trust domain (X509-SVID §3: a signing certificate MAY carry its trust
 * domain's SPIFFE ID). Federation must never let one trust domain's bundle smuggle in another's authority, so such a
 * bundle is refused as a whole (BundleMalformed, rule `authority-foreign-trust-domain`). Authorities without a SPIFFE
 * URI SAN are accepted: the SAN is optional.
 */
export function checkAuthoritiesTrustDomain(bundle: X509Bundle): void {
  bundle.x509Authorities.forEach((der, i) => {
    let uris: readonly string[];
    try {
      uris = parseCertificate(der).uris;
    } catch (cause) {
      throw new BundleMalformed('certificate-parse', `X.509 authority ${i} cannot be parsed`, { cause });
    }
    for (const uri of uris) {
      if (!uri.toLowerCase().startsWith('spiffe://')) continue;
      const rest = uri.slice('spiffe://'.length);
      const name = rest.slice(0, rest.includes('/') ? rest.indexOf('/') : rest.length);
      if (name !== bundle.trustDomain.name) {
        throw new BundleMalformed(
          'authority-foreign-trust-domain',
          `X.509 authority ${i} belongs to trust domain ${JSON.stringify(name)}, not ${JSON.stringify(bundle.trustDomain.name)}`,
        );
      }
    }
  });
}
