/**
 * The admin API's messages as the CLI receives them (proto/tessera/admin/v1, loaded with keepCase, enums as strings,
 * int64 as numbers, bytes as Buffers), and their JSON form for `--output json` (camelCase, selectors as
 * "type:value", role as "worker"/"supervisor"): the same shape `entry create --data` reads.
 */

export interface SelectorMessage {
  type: string;
  value: string;
}

export type RoleName = 'ROLE_UNSPECIFIED' | 'ROLE_WORKER' | 'ROLE_SUPERVISOR';

export interface EntryMessage {
  id: string;
  spiffe_id: string;
  parent_id: string;
  selectors: SelectorMessage[];
  role: RoleName;
  x509_svid_ttl_seconds: number;
  jwt_svid_ttl_seconds: number;
  dns_names: string[];
  federates_with: string[];
  hint: string;
  admin: boolean;
  expires_at: number;
  revision: number;
  created_at: number;
}

export interface EntryResultMessage {
  entry?: EntryMessage | null;
  error_code: number;
  error_message: string;
}

export interface AgentMessage {
  spiffe_id: string;
  attestor: string;
  selectors: SelectorMessage[];
  svid_serial: string;
  svid_expires_at: number;
  banned: boolean;
  attested_at: number;
  last_seen_at: number;
}

export interface AuditEventMessage {
  id: number;
  at_ms: number;
  kind: string;
  spiffe_id: string;
  entry_id: string;
  agent_id: string;
  instance_id: string;
  serial: string;
  jti: string;
  expires_at: number;
  details: string;
}

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
  };
}
