/**
 * The shapes of tessera.agent.v1 messages as @grpc/proto-loader hands them to the agent (src/common/grpc/protos.ts
 * options: keepCase, bytes as Buffer, int64 as number, enums as strings, defaults filled, oneof name in a virtual
 * field). Only src/agent/client sees them; the rest of the agent passes domain types.
 */

export const AGENT_PROTO = 'tessera/agent/v1/agent.proto';
export const AGENT_SERVICE = 'tessera.agent.v1.AgentService';

export interface ProtoSelector {
  type: string;
  value: string;
}

export interface ProtoEntry {
  id: string;
  spiffe_id: string;
  parent_id: string;
  selectors: ProtoSelector[];
  role: 'ROLE_UNSPECIFIED' | 'ROLE_WORKER' | 'ROLE_SUPERVISOR';
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

export interface AttestStartMessage {
  attestor: string;
  payload: Buffer;
  agent_public_key: Buffer;
}

export type AttestRequest = { start: AttestStartMessage } | { challenge_response: Buffer };

export interface AttestationResultMessage {
  spiffe_id: string;
  svid_chain: Buffer;
  bundle: Buffer;
  selectors: ProtoSelector[];
}

export interface AttestResponse {
  step?: 'challenge' | 'result';
  challenge?: Buffer;
  result?: AttestationResultMessage | null;
}

export interface RenewAgentResponse {
  svid_chain: Buffer;
}

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
  supervisor_instance_id?: string;
}

export interface X509SvidMessage {
  entry_id: string;
  spiffe_id: string;
  cert_chain: Buffer;
  expires_at: number;
  serial: string;
}

export interface X509SvidResult {
  svid?: X509SvidMessage | null;
  error_code: number;
  error_message: string;
}

export interface BatchSignX509SvidResponse {
  results: X509SvidResult[];
}

export interface MintJwtSvidRequest {
  entry_id: string;
  audience: string[];
  instance_id: string;
  supervisor_instance_id?: string;
}

export interface MintJwtSvidResponse {
  token: string;
  spiffe_id: string;
  expires_at: number;
  jti: string;
}
