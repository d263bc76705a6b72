import type { Clock } from '../../common/clock.js';
import type { Logger } from '../../common/log.js';
import { TrustDomain } from '../../spiffe/id/index.js';
import type { BundleStore, KeyStore } from '../datastore/index.js';
import { CertificateAuthority } from './certificate-authority.js';
import { KeyFiles } from './key-files.js';
import type { CaKeyType, JwtKeyType } from './key-types.js';
import { MAX_REFRESH_HINT_SECONDS } from './schedule.js';
import { loadUpstreamAuthority, type UpstreamAuthorityConfig } from './upstream.js';

export interface CertificateAuthorityOptions {
  readonly trustDomain: TrustDomain;
  /** Private keys go to `<dataDir>/keys/` (0700), one PKCS#8 PEM file (0600) per key. */
  readonly dataDir: string;
  /** This server's name in the KeyStore; servers sharing a datastore keep their own keys and publish each other's. */
  readonly serverId: string;
  readonly keys: KeyStore;
  readonly bundles: BundleStore;
  readonly clock: Clock;
  readonly log: Logger;
  /** `refreshHintSeconds` (1..3600) overrides the hint derived from the key lifetimes (schedule.ts). */
  readonly ca: {
    readonly keyType: CaKeyType;
    readonly ttlSeconds: number;
    readonly refreshHintSeconds?: number | undefined;
  };
  readonly jwt: { readonly keyType: JwtKeyType; readonly keyTtlSeconds: number; readonly issuer?: string | undefined };
  readonly upstreamAuthority?: UpstreamAuthorityConfig | undefined;
  /** TTL of the server's own SVID (capped by the CA). Default 3600. */
  readonly serverSvidTtlSeconds?: number;
}

export const DEFAULT_SERVER_SVID_TTL_SECONDS = 3600;

/**
 * Opens the certificate authority: creates `<dataDir>/keys/`, reads the upstream authority when configured, loads this
 * server's keys (a missing or corrupt key file of an active or prepared key is FAILED_PRECONDITION naming the file),
 * then runs one rotation step, which creates the first keys on a fresh datastore, catches up on rotations missed while
 * the server was down, and publishes the bundle (its sequence unchanged when nothing changed). Call `start()` to
 * keep rotating.
 */
export async function openCertificateAuthority(o: CertificateAuthorityOptions): Promise<CertificateAuthority> {
  if (!(o.trustDomain instanceof TrustDomain)) throw new TypeError('trustDomain must be a TrustDomain');
  nonEmpty(o.dataDir, 'dataDir');
  nonEmpty(o.serverId, 'serverId');
  positive(o.ca?.ttlSeconds, 'ca.ttlSeconds');
  positive(o.jwt?.keyTtlSeconds, 'jwt.keyTtlSeconds');
  const hint = o.ca.refreshHintSeconds;
  if (hint !== undefined && (!Number.isSafeInteger(hint) || hint < 1 || hint > MAX_REFRESH_HINT_SECONDS)) {
    throw new TypeError(`ca.refreshHintSeconds must be an integer from 1 to ${MAX_REFRESH_HINT_SECONDS}`);
  }
  const serverSvidTtlSeconds = o.serverSvidTtlSeconds ?? DEFAULT_SERVER_SVID_TTL_SECONDS;
  positive(serverSvidTtlSeconds, 'serverSvidTtlSeconds');

  const log = o.log.child({ component: 'ca' });
  const files = await KeyFiles.open(o.dataDir);
  const upstream = o.upstreamAuthority ? await loadUpstreamAuthority(o.upstreamAuthority, o.trustDomain) : undefined;
  const ca = new CertificateAuthority({
    trustDomain: o.trustDomain,
    serverId: o.serverId,
    keys: o.keys,
    bundles: o.bundles,
    files,
    clock: o.clock,
    log,
    ca: o.ca,
    jwt: o.jwt,
    upstreamAuthority: o.upstreamAuthority,
    upstream,
    serverSvidTtlSeconds,
  });
  await ca.load();
  await ca.tick();
  return ca;
}

function nonEmpty(value: unknown, name: string): void {
  if (typeof value !== 'string' || value.length === 0) throw new TypeError(`${name} must be a non-empty string`);
}

function positive(value: unknown, name: string): void {
  if (!Number.isSafeInteger(value) || (value as number) <= 0) throw new TypeError(`${name} must be a positive integer`);
}
