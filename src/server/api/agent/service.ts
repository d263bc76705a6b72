import type * as grpc from '@grpc/grpc-js';
import { loadService } from '../../../common/grpc/protos.js';
import { attestHandler } from './attest.js';
import type { AgentServiceConfig } from './config.js';
import { agentApiContext } from './context.js';
import type {
  AttestRequest,
  AttestResponse,
  BatchSignX509SvidRequest,
  BatchSignX509SvidResponse,
  MintJwtSvidRequest,
  MintJwtSvidResponse,
  RenewAgentRequest,
  ReportWorkloadEventRequest,
  ReportWorkloadEventResponse,
  RenewAgentResponse,
  SyncRequest,
  SyncResponse,
} from './messages.js';
import { AGENT_PROTO, AGENT_SERVICE } from './messages.js';
import { renewAgentHandler } from './renew.js';
import { reportWorkloadEventHandler } from './workload-event.js';
import { syncHandler } from './sync.js';
import { batchSignX509SvidHandler, mintJwtSvidHandler } from './svid.js';

/** The tessera.agent.v1.AgentService handlers, keyed by RPC name. */
export interface AgentServiceHandlers extends grpc.UntypedServiceImplementation {
  Attest: grpc.handleBidiStreamingCall<AttestRequest, AttestResponse>;
  RenewAgent: grpc.handleUnaryCall<RenewAgentRequest, RenewAgentResponse>;
  Sync: grpc.handleServerStreamingCall<SyncRequest, SyncResponse>;
  BatchSignX509Svid: grpc.handleUnaryCall<BatchSignX509SvidRequest, BatchSignX509SvidResponse>;
  MintJwtSvid: grpc.handleUnaryCall<MintJwtSvidRequest, MintJwtSvidResponse>;
  ReportWorkloadEvent: grpc.handleUnaryCall<ReportWorkloadEventRequest, ReportWorkloadEventResponse>;
}

export function createAgentServiceHandlers(config: AgentServiceConfig): AgentServiceHandlers {
  const ctx = agentApiContext(config);
  return {
    Attest: attestHandler(ctx),
    RenewAgent: renewAgentHandler(ctx),
    Sync: syncHandler(ctx),
    BatchSignX509Svid: batchSignX509SvidHandler(ctx),
    MintJwtSvid: mintJwtSvidHandler(ctx),
    ReportWorkloadEvent: reportWorkloadEventHandler(ctx),
  };
}

/**
 * Adds the agent API to `server`. Serve it only over createAgentApiCredentials (src/server/api/tls.ts): the handlers
 * authenticate agents by the TLS client certificate.
 */
export function registerAgentService(server: grpc.Server, config: AgentServiceConfig): AgentServiceHandlers {
  const handlers = createAgentServiceHandlers(config);
  server.addService(loadService(AGENT_PROTO, AGENT_SERVICE).definition, handlers);
  return handlers;
}
