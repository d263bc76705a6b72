import type {
  BundleEndpointProfileName,
  FederationRelationshipMessage,
  FederationStatusMessage,
} from '../../../common/grpc/federation-messages.js';
import { SpiffeBundle } from '../../../spiffe/bundle/index.js';
import type { BundleRecord } from '../../datastore/index.js';
import type { BundleEndpointProfile, FederationRelationship, FederationStatus } from '../../federation/types.js';

export type {
  FederationRelationshipMessage,
  FederationRelationshipResponse,
  FederationStatusMessage,
} from '../../../common/grpc/federation-messages.js';

/** proto tessera.admin.v1.BundleEndpointProfile ↔ the datastore's profile names. */
const PROFILES: Record<BundleEndpointProfile, BundleEndpointProfileName> = {
  https_web: 'BUNDLE_ENDPOINT_PROFILE_HTTPS_WEB',
  https_spiffe: 'BUNDLE_ENDPOINT_PROFILE_HTTPS_SPIFFE',
};

/** The profile of a request; undefined when unset, UNSPECIFIED or unknown. */
export function profileFromMessage(value: unknown): BundleEndpointProfile | undefined {
  for (const [profile, name] of Object.entries(PROFILES)) if (value === name) return profile as BundleEndpointProfile;
  return undefined;
}

export function relationshipToMessage(
  r: FederationRelationship,
  status: FederationStatusMessage,
): FederationRelationshipMessage {
  return {
    trust_domain: r.trustDomain,
    bundle_endpoint_url: r.bundleEndpointUrl,
    profile: PROFILES[r.profile],
    endpoint_spiffe_id: r.endpointSpiffeId ?? '',
    created_at: r.createdAt,
    updated_at: r.updatedAt,
    status,
  };
}

/**
 * The refresher's view of a relationship, with `bundle_sequence` read from the stored bundle (shared by every server)
 * rather than from this server's memory: the document's spiffe_sequence, 0 when it has none, empty when none is stored.
 */
export function statusToMessage(
  trustDomain: string,
  stored: BundleRecord | null,
  status: FederationStatus | undefined,
): FederationStatusMessage {
  return {
    bundle_sequence: stored === null ? '' : storedSequence(trustDomain, stored) ?? status?.bundleSequence ?? '',
    last_attempt_at_ms: status?.lastAttemptAtMs ?? 0,
    last_success_at_ms: status?.lastSuccessAtMs ?? 0,
    last_error: status?.lastError ?? '',
    next_refresh_at_ms: status?.nextRefreshAtMs ?? 0,
  };
}

function storedSequence(trustDomain: string, stored: BundleRecord): string | undefined {
  try {
    return (SpiffeBundle.parse(trustDomain, stored.document).sequenceNumber ?? 0n).toString();
  } catch {
    return undefined;
  }
}
