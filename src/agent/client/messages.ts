/**
 * The shapes of tessera.agent.v1 messages as @grpc/proto-loader hands them to the agent (src/common/grpc/protos.ts
 * options: keepCase, bytes as Buffer, int64 as number, enums as strings, defaults filled, oneof name in a virtual
 * field). Only src/agent/client sees them; the rest of the agent passes domain types.
 */

import type { EntryMessage, SelectorMessage } from '../../common/grpc/messages.js';

export { AGENT_PROTO, AGENT_SERVICE } from '../../common/grpc/messages.js';
export type {
  BatchSignX509SvidResponse,
  MintJwtSvidResponse,
  X509SvidMessage,
  X509SvidResult,
} from '../../common/grpc/messages.js';
export type ProtoSelector = SelectorMessage;
export type ProtoEntry = EntryMessage;

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

export interface MintJwtSvidRequest {
  entry_id: string;
  audience: string[];
  instance_id: string;
  supervisor_instance_id?: string;
}

