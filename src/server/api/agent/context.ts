import { systemClock, type Clock } from '../../../common/clock.js';
import { silentLogger, type Logger } from '../../../common/log.js';
import type { AuditEventInput } from '../../datastore/index.js';
import { AgentWatcher } from './agent-watch.js';
import { AgentAuthenticator } from './caller.js';
import {
  DEFAULT_AGENT_RECHECK_MS,
  DEFAULT_ATTEST_TIMEOUT_MS,
  DEFAULT_CALLER_CACHE_MS,
  DEFAULT_MAX_BATCH_SIZE,
  DEFAULT_SYNC_DEBOUNCE_MS,
  type AgentServiceConfig,
} from './config.js';
import { InstanceRoles } from './instance-roles.js';

/** The config with defaults applied and the shared helpers every handler uses. */
export interface AgentApiContext extends Omit<AgentServiceConfig, 'instanceRoles'> {
  readonly clock: Clock;
  readonly log: Logger;
  readonly attestTimeoutMs: number;
  readonly syncDebounceMs: number;
  readonly maxBatchSize: number;
  readonly authenticator: AgentAuthenticator;
  readonly watcher: AgentWatcher;
  /** The role each process instance was first issued, for life (supervisor rule 1, server side). */
  readonly instanceRoles: InstanceRoles;
  /** Appends audit events in one transaction; throws when they cannot be recorded (the caller then returns nothing). */
  record(events: readonly Omit<AuditEventInput, 'atMs'>[]): Promise<void>;
}

export function agentApiContext(config: AgentServiceConfig): AgentApiContext {
  const clock = config.clock ?? systemClock;
  const log = (config.log ?? silentLogger()).child({ api: 'agent' });
  return {
    ...config,
    clock,
    log,
    attestTimeoutMs: config.attestTimeoutMs ?? DEFAULT_ATTEST_TIMEOUT_MS,
    syncDebounceMs: config.syncDebounceMs ?? DEFAULT_SYNC_DEBOUNCE_MS,
    maxBatchSize: config.maxBatchSize ?? DEFAULT_MAX_BATCH_SIZE,
    authenticator: new AgentAuthenticator({
      trustDomain: config.trustDomain,
      agents: config.agents,
      bundle: config.bundle,
      ...(config.serverIdentity ? { serverIdentity: config.serverIdentity } : {}),
      clock,
      cacheMs: config.callerCacheMs ?? DEFAULT_CALLER_CACHE_MS,
    }),
    instanceRoles: new InstanceRoles(config.instanceRoles),
    watcher: new AgentWatcher(config.agents, config.agentRecheckMs ?? DEFAULT_AGENT_RECHECK_MS, config.agentEvents, log),
    async record(events) {
      if (events.length === 0) return;
      const atMs = clock.now().getTime();
      await config.audit.appendMany(events.map((e) => ({ ...e, atMs })));
    },
  };
}
