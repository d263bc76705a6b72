/**
 * Wire shapes of proto/tessera/admin/v1/federation.proto as @grpc/proto-loader hands them over with the loader options
 * of ./protos.ts (keepCase, enums as strings, int64 as numbers, bytes as Buffers, defaults filled). Shared by the
 * server's FederationService and the CLI's `tessera federation` commands. (Kept beside ./messages.ts, which holds the
 * other services' shapes.)
 */

export type BundleEndpointProfileName =
  | 'BUNDLE_ENDPOINT_PROFILE_UNSPECIFIED'
  | 'BUNDLE_ENDPOINT_PROFILE_HTTPS_WEB'
  | 'BUNDLE_ENDPOINT_PROFILE_HTTPS_SPIFFE';

/** tessera.admin.v1.FederationStatus */
export interface FederationStatusMessage {
  /** Decimal uint64; '' when no bundle is stored. */
  bundle_sequence: string;
  /** Unix ms; 0 = never / none scheduled. */
  last_attempt_at_ms: number;
  last_success_at_ms: number;
  last_error: string;
  next_refresh_at_ms: number;
}

/** tessera.admin.v1.FederationRelationship */
export interface FederationRelationshipMessage {
  trust_domain: string;
  bundle_endpoint_url: string;
  profile: BundleEndpointProfileName;
  /** '' unless the profile is https_spiffe. */
  endpoint_spiffe_id: string;
  /** Unix seconds. */
  created_at: number;
  updated_at: number;
  status?: FederationStatusMessage | null;
}

/** tessera.admin.v1.{Create,Update}FederationRelationshipRequest */
export interface FederationRelationshipRequest {
  trust_domain: string;
  bundle_endpoint_url: string;
  profile: BundleEndpointProfileName;
  endpoint_spiffe_id: string;
  /** A SPIFFE bundle document (JSON) or PEM certificates; empty = none given. */
  trust_bundle: Buffer | Uint8Array;
}

/** tessera.admin.v1.{Get,Create,Update}FederationRelationshipResponse */
export interface FederationRelationshipResponse {
  relationship?: FederationRelationshipMessage | null;
  /** The stored SPIFFE bundle document (JSON); empty when none is stored. */
  trust_bundle: Buffer;
}
