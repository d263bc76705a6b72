import { SpiffeIdInvalid, X509SvidInvalid } from '../errors.js';
import { SpiffeId } from '../id/index.js';
import { KU, type CertificateInfo } from './certificate-info.js';

/** The SPIFFE ID of a certificate: its single URI SAN, which must be a valid SPIFFE ID. */
export function certificateSpiffeId(cert: CertificateInfo): SpiffeId {
  if (cert.uris.length === 0) throw new X509SvidInvalid('no-uri-san', 'certificate contains no URI SAN');
  if (cert.uris.length > 1) throw new X509SvidInvalid('multiple-uri-sans', 'certificate contains more than one URI SAN');
  try {
    return SpiffeId.parse(cert.uris[0]!);
  } catch (err) {
    if (err instanceof SpiffeIdInvalid) {
      throw new X509SvidInvalid('leaf-spiffe-id', `URI SAN is not a valid SPIFFE ID: ${err.message}`, { cause: err });
    }
    throw err;
  }
}

/**
 * The X509-SVID leaf rules (X509-SVID §4.1, §4.3, §5.2–5.3), in go-spiffe's order: one URI SAN holding a valid SPIFFE
 * ID with a non-root path, CA flag not set, digitalSignature set, keyCertSign and cRLSign not set.
 */
export function checkLeaf(leaf: CertificateInfo): SpiffeId {
  const id = certificateSpiffeId(leaf);
  if (id.isTrustDomainId()) {
    throw new X509SvidInvalid('leaf-root-path', 'leaf certificate SPIFFE ID must have a non-root path');
  }
  if (leaf.basicConstraints?.ca) {
    throw new X509SvidInvalid('leaf-ca-flag', 'leaf certificate must not have the CA flag set');
  }
  const ku = leaf.keyUsage ?? 0;
  if (!(ku & KU.digitalSignature)) {
    throw new X509SvidInvalid('leaf-digital-signature', 'leaf certificate must have the digitalSignature key usage');
  }
  if (ku & KU.keyCertSign) {
    throw new X509SvidInvalid('leaf-key-cert-sign', 'leaf certificate must not have the keyCertSign key usage');
  }
  if (ku & KU.cRLSign) {
    throw new X509SvidInvalid('leaf-crl-sign', 'leaf certificate must not have the cRLSign key usage');
  }
  return id;
}

/** A certificate that signs others must be a CA (basicConstraints CA:true) with keyCertSign (X509-SVID §4.1, §4.3). */
export function checkSigningCertificate(cert: CertificateInfo, requireKeyUsage: boolean): void {
  if (!cert.basicConstraints?.ca) {
    throw new X509SvidInvalid('signing-not-ca', 'signing certificate must have the CA flag set');
  }
  if ((requireKeyUsage || cert.keyUsage !== undefined) && !((cert.keyUsage ?? 0) & KU.keyCertSign)) {
    throw new X509SvidInvalid('signing-key-cert-sign', 'signing certificate must have the keyCertSign key usage');
  }
}
