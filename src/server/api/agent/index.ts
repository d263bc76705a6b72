export { createAgentServiceHandlers, registerAgentService, type AgentServiceHandlers } from './service.js';
export {
  DEFAULT_AGENT_RECHECK_MS,
  DEFAULT_ATTEST_TIMEOUT_MS,
  DEFAULT_CALLER_CACHE_MS,
  DEFAULT_MAX_BATCH_SIZE,
  DEFAULT_SYNC_DEBOUNCE_MS,
  jwtTtlFor,
  x509TtlFor,
  type AgentApiPolicy,
  type AgentChangeEvents,
  type AgentServiceConfig,
  type AuthorizedEntrySource,
  type RoleTtlCeiling,
} from './config.js';
export { AgentAuthenticator, type AgentCaller, type AgentAuthenticatorConfig } from './caller.js';
export { INSTANCE_PLACEHOLDER, JWT_INSTANCE_CLAIM, JWT_SUPERVISOR_INSTANCE_CLAIM } from './svid.js';
export { AGENT_PROTO, AGENT_SERVICE } from './messages.js';
