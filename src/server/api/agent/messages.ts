import type { EntryMessage, SelectorMessage } from '../../../common/grpc/messages.js';
import type { Entry, Selector } from '../../datastore/index.js';

/**
 * The shapes of tessera.agent.v1 messages as @grpc/proto-loader hands them to handlers (src/common/grpc/protos.ts
 * options: keepCase, bytes as Buffer, int64 as number, enums as strings, defaults filled, oneof name in a virtual
 * field). Only this folder sees them; the rest of the server passes domain types.
 */

export { AGENT_PROTO, AGENT_SERVICE } from '../../../common/grpc/messages.js';
export type {
  BatchSignX509SvidResponse,
  MintJwtSvidResponse,
  X509SvidMessage,
  X509SvidResult,
} from '../../../common/grpc/messages.js';
export type ProtoSelector = SelectorMessage;
export type ProtoEntry = EntryMessage;

export interface AttestRequest {
  step?: 'start' | 'challenge_response';
  start?: { attestor: string; payload: Buffer; agent_public_key: Buffer } | null;
  challenge_response?: Buffer;
}

export interface AttestationResultMessage {
  spiffe_id: string;
  svid_chain: Buffer;
  bundle: Buffer;
  selectors: ProtoSelector[];
}

export type AttestResponse = { challenge: Buffer } | { result: AttestationResultMessage };

export interface RenewAgentRequest {
  public_key: Buffer;
}

export interface RenewAgentResponse {
  svid_chain: Buffer;
}

export type SyncRequest = Record<string, never>;

export interface SyncResponse {
  entries: ProtoEntry[];
  bundle: Buffer;
  federated_bundles: Record<string, Buffer>;
  revision: number;
}

export interface X509SvidParams {
  entry_id: string;
  public_key: Buffer;
  instance_id: string;
  supervisor_instance_id: string;
}

export interface BatchSignX509SvidRequest {
  params: X509SvidParams[];
}

export interface MintJwtSvidRequest {
  entry_id: string;
  audience: string[];
  instance_id: string;
  supervisor_instance_id: string;
}

export interface ReportWorkloadEventRequest {
  kind: 'WORKLOAD_EVENT_KIND_UNSPECIFIED' | 'WORKLOAD_EVENT_KIND_ROLE_CONFLICT';
  entry_ids: string[];
  instance_id: string;
  pid: number;
  message: string;
}

export type ReportWorkloadEventResponse = Record<string, never>;

export function toProtoSelectors(selectors: readonly Selector[]): ProtoSelector[] {
  return selectors.map((s) => ({ type: s.type, value: s.value }));
}

const protoEntries = new WeakMap<Entry, ProtoEntry>();

/** The wire form of an entry; cached per (immutable) entry object, since every sync stream sends the same ones. */
export function toProtoEntry(e: Entry): ProtoEntry {
  let p = protoEntries.get(e);
  if (!p) {
    p = {
      id: e.id,
      spiffe_id: e.spiffeId,
      parent_id: e.parentId,
      selectors: toProtoSelectors(e.selectors),
      role: e.role === 'supervisor' ? 'ROLE_SUPERVISOR' : 'ROLE_WORKER',
      x509_svid_ttl_seconds: e.x509SvidTtlSeconds,
      jwt_svid_ttl_seconds: e.jwtSvidTtlSeconds,
      dns_names: [...e.dnsNames],
      federates_with: [...e.federatesWith],
      hint: e.hint,
      admin: e.admin,
      expires_at: e.expiresAt ?? 0,
      revision: e.revision,
      created_at: e.createdAt,
    };
    protoEntries.set(e, p);
  }
  return p;
}
