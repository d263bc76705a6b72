/**
 * The admin API's messages as the CLI receives them (proto/tessera/admin/v1, loaded with keepCase, enums as strings,
 * int64 as numbers, bytes as Buffers), and their JSON form for `--output json` (camelCase, selectors as
 * "type:value", role as "worker"/"supervisor"): the same shape `entry create --data` reads.
 */

import type { AgentMessage, AuditEventMessage, EntryMessage, RoleName, SelectorMessage } from '../common/grpc/messages.js';

export type {
  AgentMessage,
  AuditEventMessage,
  EntryMessage,
  EntryResultMessage,
  RoleName,
  SelectorMessage,
} from '../common/grpc/messages.js';

export const selectorText = (s: SelectorMessage) => `${s.type}:${s.value}`;

export const roleText = (role: RoleName) => (role === 'ROLE_SUPERVISOR' ? 'supervisor' : 'worker');

export function entryJson(e: EntryMessage) {
  return {
    id: e.id,
    spiffeId: e.spiffe_id,
    parentId: e.parent_id,
    selectors: e.selectors.map(selectorText),
    role: roleText(e.role),
    x509SvidTtlSeconds: e.x509_svid_ttl_seconds,
    jwtSvidTtlSeconds: e.jwt_svid_ttl_seconds,
    dnsNames: e.dns_names,
    federatesWith: e.federates_with,
    hint: e.hint,
    admin: e.admin,
    expiresAt: e.expires_at,
    revision: e.revision,
    createdAt: e.created_at,
  };
}

export function agentJson(a: AgentMessage) {
  return {
    spiffeId: a.spiffe_id,
    attestor: a.attestor,
    selectors: a.selectors.map(selectorText),
    svidSerial: a.svid_serial,
    svidExpiresAt: a.svid_expires_at,
    banned: a.banned,
    attestedAt: a.attested_at,
    lastSeenAt: a.last_seen_at,
  };
}

export function auditEventJson(e: AuditEventMessage) {
  let details: unknown = null;
  if (e.details !== '') {
    try {
      details = JSON.parse(e.details);
    } catch {
      details = e.details;
    }
  }
  return {
    id: e.id,
    atMs: e.at_ms,
    at: new Date(e.at_ms).toISOString(),
    kind: e.kind,
    spiffeId: e.spiffe_id,
    entryId: e.entry_id,
    agentId: e.agent_id,
    instanceId: e.instance_id,
    serial: e.serial,
    jti: e.jti,
    expiresAt: e.expires_at,
    details,
    ...(e.details_omitted_bytes ? { detailsOmittedBytes: e.details_omitted_bytes } : {}),
  };
}
