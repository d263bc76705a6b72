import type * as grpc from '@grpc/grpc-js';
import { loadService } from '../../../common/grpc/protos.js';
import { agentAdminService } from './agent-service.js';
import { auditService } from './audit-service.js';
import { authorityService } from './authority-service.js';
import { bundleService } from './bundle-service.js';
import { adminContext, type AdminServicesConfig } from './config.js';
import { entryService } from './entry-service.js';
import { federationService } from './federation-service.js';
import { healthService } from './health-service.js';
import { tokenService } from './token-service.js';
import { svidService } from './svid-service.js';
import { Serializer } from './unary.js';

export { DEFAULT_JOIN_TOKEN_TTL, type AdminServicesConfig, type JoinTokenTtlPolicy } from './config.js';
export { listenAdminSocket, type AdminSocket } from './listen.js';
export { MAX_BATCH_ENTRIES } from './entry-service.js';

const ADMIN = 'tessera/admin/v1/';

/**
 * Adds the operator API (proto/tessera/admin/v1: Entry, AgentAdmin, Token, Bundle, Audit, Health, Authority,
 * Federation and Svid services) to `server`. The server is meant to listen only on the admin Unix socket
 * ({@link listenAdminSocket}): file permissions are the access control. Every handler validates its request and maps
 * failures through toStatus.
 */
export function registerAdminServices(server: grpc.Server, config: AdminServicesConfig): void {
  const ctx = adminContext(config);
  // Entry writes and token creation (which may add an alias entry) share one queue: the role check and the write
  // must not interleave with another write.
  const writes = new Serializer();
  const add = (file: string, name: string, impl: grpc.UntypedServiceImplementation) =>
    server.addService(loadService(ADMIN + file, `tessera.admin.v1.${name}`).definition, impl);
  add('entry.proto', 'EntryService', entryService(ctx, writes));
  add('agent.proto', 'AgentAdminService', agentAdminService(ctx));
  add('token.proto', 'TokenService', tokenService(ctx, writes));
  add('bundle.proto', 'BundleService', bundleService(ctx, writes));
  add('audit.proto', 'AuditService', auditService(ctx));
  add('health.proto', 'HealthService', healthService(ctx));
  add('federation.proto', 'FederationService', federationService(ctx));
  add('authority.proto', 'AuthorityService', authorityService(ctx));
  add('svid.proto', 'SvidService', svidService(ctx));
}
