import type { SpiffeBundle } from '../../spiffe/bundle/index.js';

/**
 * Federation with other trust domains: the relationships an operator configures (datastore), and what the refresher
 * reports about each (in memory, per server). The admin API depends on {@link FederationControl}; the refresher
 * (refresher.ts) implements it.
 */

/** How the peer's bundle endpoint is authenticated (SPIFFE Federation §5). */
export type BundleEndpointProfile = 'https_web' | 'https_spiffe';

/** One federation relationship, as stored. */
export interface FederationRelationship {
  /** The federated trust domain's bare name (`b.test`); never our own trust domain. */
  readonly trustDomain: string;
  /** `https://…` URL of the peer's SPIFFE bundle endpoint. */
  readonly bundleEndpointUrl: string;
  readonly profile: BundleEndpointProfile;
  /** The SPIFFE ID the endpoint's X509-SVID must carry; set exactly when `profile` is `https_spiffe`. */
  readonly endpointSpiffeId?: string;
  /** Unix seconds. */
  readonly createdAt: number;
  readonly updatedAt: number;
}

export type FederationRelationshipInput = Omit<FederationRelationship, 'createdAt' | 'updatedAt'>;

/** A federated trust domain's bundle an operator supplies (`--trust-bundle`), stored as given, replacing any other. */
export interface OperatorBundle {
  /** SPIFFE bundle document (JSON text) for the relationship's trust domain. */
  readonly document: string;
  /** Its spiffe_sequence, or 0 when the document has none. */
  readonly sequence: number;
}

/** What one server's refresher knows about a relationship (not stored: each server fetches on its own). */
export interface FederationStatus {
  /** spiffe_sequence of the stored bundle, if one is stored (string: uint64). */
  readonly bundleSequence?: string;
  /** Unix ms of the last fetch attempt / last successful fetch. */
  readonly lastAttemptAtMs?: number;
  readonly lastSuccessAtMs?: number;
  /** Why the last attempt failed (cleared by a success). Never contains key material. */
  readonly lastError?: string;
  /** Unix ms of the next scheduled fetch. */
  readonly nextRefreshAtMs?: number;
}

/** What the admin API drives. */
export interface FederationControl {
  /** Re-reads the relationship of `trustDomain` from the datastore (after create/update/delete) and reschedules it. */
  reload(trustDomain: string): Promise<void>;
  /**
   * Fetches the bundle of `trustDomain` now. Resolves with the status after a successful fetch; rejects with a coded
   * TesseraError (NOT_FOUND: no relationship; UNAVAILABLE: endpoint unreachable, unauthenticated or answering an
   * error; FAILED_PRECONDITION: the peer served a bundle that was refused, or there is no bundle to authenticate an
   * https_spiffe endpoint with) and keeps the last good bundle.
   */
  refresh(trustDomain: string): Promise<FederationStatus>;
  /** The current status, or undefined when no relationship is known. */
  status(trustDomain: string): FederationStatus | undefined;
}

/** The federated bundles the server holds (last good per trust domain), for the agent API's sync streams. */
export interface FederatedBundleSource {
  /** The last good bundle of a federated trust domain (bare name), if any. */
  federatedBundle(trustDomain: string): SpiffeBundle | undefined;
  /** Called with the trust domain's name whenever its bundle is stored, replaced or dropped. */
  onFederatedBundleChange(listener: (trustDomain: string) => void): () => void;
}
