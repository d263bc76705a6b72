import type { FederationRelationship, FederationRelationshipInput, OperatorBundle } from '../federation/types.js';
import type { BundleRecord } from './bundles.js';

/**
 * Federation relationships (one per federated trust domain) and, through the same transactions, the federated trust
 * domain's row of the `bundles` table (the one BundleStore keeps, keyed by trust domain name). The store does not
 * judge content (trust domain syntax, URL, SPIFFE ID and bundle checks are the admin API's), but it never writes a
 * relationship with `endpointSpiffeId` set for `https_web` or missing for `https_spiffe` (INVALID_ARGUMENT), and it
 * never leaves a relationship without the bundle it was written with, or the reverse.
 */
export interface FederationStore {
  /**
   * ALREADY_EXISTS if a relationship for `rel.trustDomain` exists. With `bundle`, the relationship and the bundle are
   * written in one transaction; the bundle replaces any stored one whatever its sequence (an operator's decision).
   */
  create(rel: FederationRelationshipInput, bundle?: OperatorBundle): Promise<FederationRelationship>;
  /** Replaces every caller-set field (createdAt stays); NOT_FOUND. The bundle is written as with create. */
  update(rel: FederationRelationshipInput, bundle?: OperatorBundle): Promise<FederationRelationship>;
  get(trustDomain: string): Promise<FederationRelationship | null>;
  /** Ordered by trust domain. */
  list(): Promise<FederationRelationship[]>;
  /**
   * Deletes the relationship and the stored bundle of its trust domain in one transaction; returns the deleted
   * relationship. NOT_FOUND.
   */
  delete(trustDomain: string): Promise<FederationRelationship>;
  /** The stored bundle of `trustDomain` (whoever wrote it: an operator or the refresher), or null. */
  bundle(trustDomain: string): Promise<BundleRecord | null>;
}
