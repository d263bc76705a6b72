/** The trust domain's own bundle and federated ones, as SPIFFE bundle documents, keyed by trust domain name. */
export interface BundleRecord {
  readonly trustDomain: string;
  /** The SPIFFE bundle document (JSON text), stored as given. */
  readonly document: string;
  /**
   * Never goes down for a trust domain. For our own trust domain it is the bundle's spiffe_sequence; for a federated
   * one it is a change counter of this datastore (peers need not publish a sequence; their rollback is judged on the
   * documents' spiffe_sequence).
   */
  readonly sequence: number;
  /** Unix seconds of the last put. */
  readonly updatedAt: number;
}

export interface BundleStore {
  /**
   * Creates or replaces the bundle of `trustDomain`. FAILED_PRECONDITION if the stored sequence is higher (checked in
   * the same statement as the write); an equal sequence replaces.
   */
  put(trustDomain: string, document: string, sequence: number): Promise<BundleRecord>;
  get(trustDomain: string): Promise<BundleRecord | null>;
  /** Ordered by trust domain. */
  list(): Promise<BundleRecord[]>;
  /** NOT_FOUND. */
  delete(trustDomain: string): Promise<void>;
}
