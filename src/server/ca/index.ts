export type {
  AuthorityAdmin,
  AuthorityInfo,
  AuthorityKind,
  BundleSource,
  CaHealth,
  IssuedJwtSvid,
  IssuedX509Svid,
  JwtSvidIssuer,
  ServerIdentitySource,
  X509SvidIssuer,
} from './types.js';
export { CertificateAuthority, SYNC_INTERVAL_MS } from './certificate-authority.js';
export {
  openCertificateAuthority,
  DEFAULT_SERVER_SVID_TTL_SECONDS,
  type CertificateAuthorityOptions,
} from './open.js';
export type { CaKeyType, JwtKeyType } from './key-types.js';
export type { UpstreamAuthorityConfig } from './upstream.js';
export { serverSpiffeId, SERVER_SVID_DNS_NAMES, type ServerSvid } from './server-svid.js';
export {
  ACTIVATE_FRACTION,
  PREPARE_FRACTION,
  RETENTION_GRACE_SECONDS,
  refreshHintSeconds,
} from './schedule.js';
