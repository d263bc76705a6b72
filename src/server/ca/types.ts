import type { KeyObject } from 'node:crypto';
import type { SpiffeBundle } from '../../spiffe/bundle/index.js';
import type { SpiffeId } from '../../spiffe/id/index.js';

/**
 * What the rest of the server needs from the certificate authority. Consumers depend on the one capability they use
 * (the agent API on X509SvidIssuer and JwtSvidIssuer, the sync stream on BundleSource, HTTP on CaHealth).
 */

export interface IssuedX509Svid {
  /** Leaf first, then any intermediates up to (not including) the root in the bundle. DER. */
  readonly chain: readonly Uint8Array[];
  readonly serial: bigint;
  readonly notAfter: Date;
}

export interface X509SvidIssuer {
  /**
   * Signs a leaf X509-SVID with the active CA key (fast path). The TTL is capped so the SVID never outlives the CA
   * certificate. Throws X509IssueInvalid (bad ID, DNS name or key) and TesseraError UNAVAILABLE when no CA is active.
   */
  signX509Svid(p: {
    spiffeId: SpiffeId;
    publicKey: KeyObject | Uint8Array;
    ttlSeconds: number;
    dnsNames?: readonly string[];
  }): IssuedX509Svid;
}

export interface IssuedJwtSvid {
  readonly token: string;
  readonly jti: string;
  readonly expiresAt: Date;
}

export interface JwtSvidIssuer {
  /** Mints a JWT-SVID with the active JWT key; `iss` is the configured issuer when one is set. */
  signJwtSvid(p: {
    spiffeId: SpiffeId;
    audience: readonly string[];
    ttlSeconds: number;
    extraClaims?: Readonly<Record<string, unknown>>;
  }): Promise<IssuedJwtSvid>;
}

export interface BundleSource {
  /** The trust domain's current SPIFFE bundle: every CA certificate and JWT key still valid (prepared, active, retired). */
  currentBundle(): SpiffeBundle;
  /** Called after every change of the bundle (spiffe_sequence increased). Returns an unsubscribe function. */
  onBundleChange(listener: (bundle: SpiffeBundle) => void): () => void;
}

/** The server's own X509-SVID (`spiffe://<td>/tessera/server`) for its TLS listeners, renewed before expiry. */
export interface ServerIdentitySource {
  currentServerSvid(): { readonly chain: readonly Uint8Array[]; readonly privateKey: KeyObject; readonly notAfter: Date };
  onServerSvidChange(listener: () => void): () => void;
}

export interface CaHealth {
  /** True when an active CA key and JWT key exist and a test signature with each succeeds. */
  canSign(): Promise<boolean>;
  /** notAfter of the active X.509 CA certificate. */
  activeCaNotAfter(): Date;
}

/** `x509`: the X.509 CA keys; `jwt`: the JWT-SVID signing keys. */
export type AuthorityKind = 'x509' | 'jwt';

/** One of this server's signing keys as the operator sees it (never any key material). */
export interface AuthorityInfo {
  readonly kind: AuthorityKind;
  /** The KeyStore id; for JWT keys the `kid`. */
  readonly keyId: string;
  readonly state: 'prepared' | 'active' | 'retired';
  readonly notAfter: Date;
  readonly createdAt: Date;
  /** Prepared keys: when it was first seen in the published bundle (undefined while it is not). */
  readonly publishedAt?: Date;
  /** Prepared keys: the earliest time `activateNow` accepts it (one refresh hint after publication). */
  readonly activatableAt?: Date;
}

/**
 * Operator-forced rotation (SPIRE's `localauthority … prepare|activate`), for the admin API. Both run in the CA's
 * step queue, never interleaved with the timer's rotation; errors are TesseraError FAILED_PRECONDITION.
 */
export interface AuthorityAdmin {
  /** The bundle's refresh hint: how long a prepared key must have been published before it may be activated. */
  readonly refreshHintSeconds: number;
  /** This server's keys of both kinds: prepared, active and retired (kept in the bundle until notAfter + grace). */
  listAuthorities(): AuthorityInfo[];
  /** Creates and publishes the next key of `kind` now (bundle sequence + 1, bundle listeners notified). */
  prepareNow(kind: AuthorityKind): Promise<AuthorityInfo>;
  /**
   * Activates the prepared key of `kind`, once it has been published for one refresh hint; the old key is retired but
   * stays in the bundle until notAfter + grace.
   */
  activateNow(kind: AuthorityKind): Promise<{ activated: AuthorityInfo; retired?: AuthorityInfo }>;
}
