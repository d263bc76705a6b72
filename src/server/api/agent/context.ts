import { systemClock, type Clock } from '../../../common/clock.js';
import type * as grpc from '@grpc/grpc-js';
import { resourceExhausted } from '../../../common/errors.js';
import { silentLogger, type Logger } from '../../../common/log.js';
import { KeyedRateLimiter } from '../../../common/rate-limit.js';
import type { AuditEventInput } from '../../datastore/index.js';
import { AgentWatcher } from './agent-watch.js';
import { AgentAuthenticator, type AgentCaller } from './caller.js';
import {
  DEFAULT_AGENT_RECHECK_MS,
  DEFAULT_ATTEST_TIMEOUT_MS,
  DEFAULT_CALLER_CACHE_MS,
  DEFAULT_MAX_BATCH_SIZE,
  DEFAULT_RATE_LIMITS,
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
  /** Verifies the caller's client certificate, then takes one call from its agent's rate limit. */
  authenticate(call: CallWithPeer): Promise<AgentCaller>;
  /** Takes one Attest from the remote address's rate limit; RESOURCE_EXHAUSTED when it is used up. */
  admitAttest(call: CallWithPeer): void;
  /** Appends audit events in one transaction; throws when they cannot be recorded (the caller then returns nothing). */
  record(events: readonly Omit<AuditEventInput, 'atMs'>[]): Promise<void>;
}

type CallWithPeer = Parameters<AgentAuthenticator['authenticate']>[0] & Pick<grpc.ServerUnaryCall<unknown, unknown>, 'getPeer' | 'getPath'>;

export function agentApiContext(config: AgentServiceConfig): AgentApiContext {
  const clock = config.clock ?? systemClock;
  const log = (config.log ?? silentLogger()).child({ api: 'agent' });
  const limits = { ...DEFAULT_RATE_LIMITS, ...config.rateLimits };
  const attestLimiter = new KeyedRateLimiter({ ...limits.attestPerAddress, maxKeys: limits.maxKeys, clock });
  const agentLimiter = new KeyedRateLimiter({ ...limits.perAgent, maxKeys: limits.maxKeys, clock });
  const refuse = (call: CallWithPeer, what: string, limit: { perSecond: number; burst: number }) => {
    const rpc = call.getPath().slice(call.getPath().lastIndexOf('/') + 1);
    config.metrics?.rateLimited?.inc({ rpc });
    return resourceExhausted(
      `too many calls from this ${what}: at most ${limit.burst} at once and ${limit.perSecond} per second; retry later`,
    );
  };
  const authenticator = new AgentAuthenticator({
    trustDomain: config.trustDomain,
    agents: config.agents,
    bundle: config.bundle,
    ...(config.serverIdentity ? { serverIdentity: config.serverIdentity } : {}),
    clock,
    cacheMs: config.callerCacheMs ?? DEFAULT_CALLER_CACHE_MS,
  });
  return {
    ...config,
    clock,
    log,
    attestTimeoutMs: config.attestTimeoutMs ?? DEFAULT_ATTEST_TIMEOUT_MS,
    syncDebounceMs: config.syncDebounceMs ?? DEFAULT_SYNC_DEBOUNCE_MS,
    maxBatchSize: config.maxBatchSize ?? DEFAULT_MAX_BATCH_SIZE,
    authenticator,
    async authenticate(call) {
      const caller = await authenticator.authenticate(call);
      if (!agentLimiter.take(caller.agentId)) throw refuse(call, 'agent', limits.perAgent);
      return caller;
    },
    admitAttest(call) {
      if (!attestLimiter.take(remoteHost(call.getPeer()))) throw refuse(call, 'address', limits.attestPerAddress);
    },
    instanceRoles: new InstanceRoles(config.instanceRoles),
    watcher: new AgentWatcher(config.agents, config.agentRecheckMs ?? DEFAULT_AGENT_RECHECK_MS, config.agentEvents, log),
    async record(events) {
      if (events.length === 0) return;
      const atMs = clock.now().getTime();
      await config.audit.appendMany(events.map((e) => ({ ...e, atMs })));
    },
  };
}

/** The host of a grpc-js peer string (`1.2.3.4:5678`, `[::1]:5678`, `ipv4:…`), without the port. */
export function remoteHost(peer: string): string {
  const bare = peer.replace(/^(ipv4|ipv6|unix):/, '');
  const bracketed = /^\[([^\]]*)\](?::\d+)?$/.exec(bare);
  if (bracketed) return bracketed[1]!;
  const v4 = /^([^:]+):\d+$/.exec(bare);
  return v4 ? v4[1]! : bare;
}
