import type { AgentMessage, AuditEventMessage, EntryMessage } from '../../../common/grpc/messages.js';
import type { AgentRecord, AuditEvent, Entry } from '../../datastore/index.js';

export type {
  AgentMessage,
  AuditEventMessage,
  EntryMessage,
  EntryResultMessage,
  RoleName,
  SelectorMessage,
} from '../../../common/grpc/messages.js';

/**
 * The admin API's wire shapes (proto/tessera/admin/v1, tessera/types/v1) as grpc-js hands them over with our loader
 * options (src/common/grpc/protos.ts: keepCase, enums as strings, int64 as numbers, bytes as Buffers), and the
 * conversions from the datastore's records. Only this folder sees these shapes.
 */

/** A request as received: every field may be missing or of the wrong type when a client sends garbage. */
export type Incoming<T> = { readonly [K in keyof T]?: unknown };

export function entryToMessage(e: Entry): EntryMessage {
  return {
    id: e.id,
    spiffe_id: e.spiffeId,
    parent_id: e.parentId,
    selectors: e.selectors.map((s) => ({ type: s.type, value: s.value })),
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
}

export function agentToMessage(a: AgentRecord): AgentMessage {
  return {
    spiffe_id: a.spiffeId,
    attestor: a.attestor,
    selectors: a.selectors.map((s) => ({ type: s.type, value: s.value })),
    svid_serial: a.svidSerial,
    svid_expires_at: a.svidExpiresAt,
    banned: a.banned,
    attested_at: a.attestedAt,
    last_seen_at: a.lastSeenAt,
  };
}

export function auditEventToMessage(e: AuditEvent): AuditEventMessage {
  return {
    id: e.id,
    at_ms: e.atMs,
    kind: e.kind,
    spiffe_id: e.spiffeId ?? '',
    entry_id: e.entryId ?? '',
    agent_id: e.agentId ?? '',
    instance_id: e.instanceId ?? '',
    serial: e.serial ?? '',
    jti: e.jti ?? '',
    expires_at: e.expiresAt ?? 0,
    details: e.details === null ? '' : JSON.stringify(e.details),
    details_omitted_bytes: e.detailsOmittedBytes ?? 0,
  };
}
