/**
 * Wire shapes of our own protos (proto/tessera/types/v1, admin/v1 records, agent/v1 signing results) as
 * @grpc/proto-loader hands them over with the loader options of ./protos.ts (keepCase, enums as strings, int64 as
 * numbers, bytes as Buffers, defaults filled). One definition, shared by the server, the agent and the CLI, each of
 * which converts them to its own domain types at its API edge.
 */

export const AGENT_PROTO = 'tessera/agent/v1/agent.proto';
export const AGENT_SERVICE = 'tessera.agent.v1.AgentService';

export interface SelectorMessage {
  type: string;
  value: string;
}

export type RoleName = 'ROLE_UNSPECIFIED' | 'ROLE_WORKER' | 'ROLE_SUPERVISOR';

/** tessera.types.v1.Entry */
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

/** tessera.admin.v1.EntryResult */
export interface EntryResultMessage {
  entry?: EntryMessage | null;
  error_code: number;
  error_message: string;
}

/** tessera.admin.v1.Agent */
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

/** tessera.admin.v1.AuditEvent */
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
  /** Size of details too large to list (then details is empty); 0 otherwise. */
  details_omitted_bytes: number;
}

/** tessera.agent.v1.X509Svid */
export interface X509SvidMessage {
  entry_id: string;
  spiffe_id: string;
  cert_chain: Buffer;
  expires_at: number;
  serial: string;
}

/** tessera.agent.v1.X509SvidResult */
export interface X509SvidResult {
  svid?: X509SvidMessage | null;
  error_code: number;
  error_message: string;
}

export interface BatchSignX509SvidResponse {
  results: X509SvidResult[];
}

export interface MintJwtSvidResponse {
  token: string;
  spiffe_id: string;
  expires_at: number;
  jti: string;
}
