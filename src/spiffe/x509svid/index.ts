export { createCaCertificate, type CreateCaCertificateParams } from './ca-certificate.js';
export {
  X509SvidSigner,
  BACKDATE_SECONDS,
  type X509SvidSignerParams,
  type SignX509SvidParams,
  type SignedX509Svid,
} from './signer.js';
export { parseX509Svid, parseX509SvidPem, type X509Svid } from './svid.js';
export { verifyX509Svid, type VerifyX509SvidOptions, type VerifiedX509Svid } from './verify.js';
export { LEAF_SUBJECT, LEAF_KEY_USAGE } from './leaf-template.js';
export { checkAuthoritiesTrustDomain } from './authority-domain.js';
