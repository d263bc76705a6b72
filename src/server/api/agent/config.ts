import type { Clock } from '../../../common/clock.js';
import type { RateLimit } from '../../../common/rate-limit.js';
import type { Logger } from '../../../common/log.js';
import type { TrustDomain } from '../../../spiffe/id/index.js';
import type { BundleSource, JwtSvidIssuer, ServerIdentitySource, X509SvidIssuer } from '../../ca/types.js';
import type { AgentStore, AuditStore, Entry, InstanceRoleStore, Selector } from '../../datastore/index.js';
import type { AuthorizedEntries } from '../../entries/index.js';
import type { FederatedBundleSource } from '../../federation/index.js';
import type { ServerMetrics } from '../../metrics.js';
import type { NodeAttestor } from '../../nodeattestation/index.js';

/** TTL ceilings of one role. */
export interface RoleTtlCeiling {
  readonly maxX509TtlSeconds: number;
  readonly maxJwtTtlSeconds: number;
}

/** The part of the server policy the agent API applies (ServerConfig['policy'] fits). */
export interface AgentApiPolicy {
  readonly defaultX509TtlSeconds: number;
  readonly defaultJwtTtlSeconds: number;
  readonly agentSvidTtlSeconds: number;
  readonly worker: RoleTtlCeiling;
  readonly supervisor: RoleTtlCeiling;
}

/** The entries an agent may serve, kept current in memory (EntryIndex fits). */
export interface AuthorizedEntrySource {
  authorizedFor(agentId: string, nodeSelectors: readonly Selector[]): AuthorizedEntries;
  /** Called after entries change (or expire). Returns an unsubscribe function. */
  onChange(listener: () => void): () => void;
}

/**
 * Optional push of agent record changes (ban, evict, re-attestation) from wherever they are made (the admin API's
 * wiring). Without it, open sync streams notice within `agentRecheckMs`; every other call checks the record anyway.
 */
export interface AgentChangeEvents {
  onAgentChange(listener: (spiffeId: string) => void): () => void;
}

/**
 * What the agent API consumes, each capability as narrow as the handlers use it. The server's wiring passes the
 * Datastore's stores, the CA's issuers/BundleSource/ServerIdentitySource, the EntryIndex and the enabled attestors.
 */
export interface AgentServiceConfig {
  readonly trustDomain: TrustDomain;
  readonly policy: AgentApiPolicy;
  /** Enabled attestors by name (createNodeAttestors). Known but absent names are "disabled". */
  readonly nodeAttestors: ReadonlyMap<string, NodeAttestor>;
  readonly agents: Pick<AgentStore, 'get' | 'upsertAttested' | 'updateSvid' | 'touch'>;
  readonly audit: Pick<AuditStore, 'append' | 'appendMany'>;
  /** The role each process instance was first issued (kept for its life). */
  readonly instanceRoles: Pick<InstanceRoleStore, 'claim'>;
  readonly entries: AuthorizedEntrySource;
  readonly x509Issuer: X509SvidIssuer;
  readonly jwtIssuer: JwtSvidIssuer;
  readonly bundle: BundleSource;
  /** Bundles of federated trust domains, sent to an agent for the trust domains its entries federate with. */
  readonly federatedBundles?: FederatedBundleSource;
  /**
   * The server SVID's chain supplies the CA intermediates needed to verify an agent's client certificate (TLS gives
   * the server only the leaf). Intermediates of agent SVIDs issued by this process are used as well.
   */
  readonly serverIdentity?: Pick<ServerIdentitySource, 'currentServerSvid'>;
  readonly agentEvents?: AgentChangeEvents;
  readonly metrics?: Pick<ServerMetrics, 'svidsSigned'> & Partial<Pick<ServerMetrics, 'rateLimited'>>;
  readonly clock?: Clock;
  readonly log?: Logger;
  /** Whole Attest exchange deadline. Default 30 000. */
  readonly attestTimeoutMs?: number;
  /** Delay that gathers a burst of changes into one sync push. Default 50. */
  readonly syncDebounceMs?: number;
  /** How often open sync streams re-read their agent's record (ban, evict). Default 1000. */
  readonly agentRecheckMs?: number;
  /** How long a verified client certificate is trusted without re-verifying its chain. Default 5000. */
  readonly callerCacheMs?: number;
  /** Most items in one BatchSignX509Svid request. Default 1000. */
  readonly maxBatchSize?: number;
  /** Per-caller call rates (RESOURCE_EXHAUSTED past them). Defaults: DEFAULT_RATE_LIMITS. */
  readonly rateLimits?: Partial<AgentApiRateLimits>;
}

/**
 * Call rates of the agent API, per caller. Attest is unauthenticated and its x509pop path costs signature checks, so
 * it is limited per remote address; every other RPC is limited per agent ID (after the client certificate is
 * verified). Each table holds at most `maxKeys` callers (least recently seen forgotten first).
 */
export interface AgentApiRateLimits {
  readonly attestPerAddress: RateLimit;
  readonly perAgent: RateLimit;
  readonly maxKeys: number;
}

/**
 * Attest: a burst of 20 per address, then 1 per second (an agent attests once per start; a fleet behind one NAT that
 * restarts together retries with backoff). Other RPCs: a burst of 500 per agent, then 100 per second (a node's
 * BatchSignX509Svid is batched and JWT-SVIDs are cached, so a healthy agent stays far below).
 */
export const DEFAULT_RATE_LIMITS: AgentApiRateLimits = {
  attestPerAddress: { perSecond: 1, burst: 20 },
  perAgent: { perSecond: 100, burst: 500 },
  maxKeys: 10_000,
};

export const DEFAULT_ATTEST_TIMEOUT_MS = 30_000;
export const DEFAULT_SYNC_DEBOUNCE_MS = 50;
export const DEFAULT_AGENT_RECHECK_MS = 1_000;
export const DEFAULT_CALLER_CACHE_MS = 5_000;
export const DEFAULT_MAX_BATCH_SIZE = 1_000;

/** TTL of an X509-SVID for `entry`: the entry's, else the policy default, capped by the role's ceiling. */
export function x509TtlFor(policy: AgentApiPolicy, entry: Entry): number {
  const wanted = entry.x509SvidTtlSeconds > 0 ? entry.x509SvidTtlSeconds : policy.defaultX509TtlSeconds;
  return Math.min(wanted, policy[entry.role].maxX509TtlSeconds);
}

/** TTL of a JWT-SVID for `entry`: the entry's, else the policy default, capped by the role's ceiling. */
export function jwtTtlFor(policy: AgentApiPolicy, entry: Entry): number {
  const wanted = entry.jwtSvidTtlSeconds > 0 ? entry.jwtSvidTtlSeconds : policy.defaultJwtTtlSeconds;
  return Math.min(wanted, policy[entry.role].maxJwtTtlSeconds);
}
