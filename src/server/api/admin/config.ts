import { systemClock, type Clock } from '../../../common/clock.js';
import type { Readiness } from '../../../common/http/readiness-cache.js';
import { silentLogger, type Logger } from '../../../common/log.js';
import { SpiffeId, type TrustDomain } from '../../../spiffe/id/index.js';
import type { AuthorityAdmin, BundleSource, CaHealth, JwtSvidIssuer, X509SvidIssuer } from '../../ca/types.js';
import type {
  AgentStore,
  AuditEventInput,
  AuditStore,
  BundleStore,
  EntryStore,
  FederationStore,
  JoinTokenStore,
} from '../../datastore/index.js';
import type { EntryPolicy, EntryValidationContext } from '../../entries/validate.js';
import type { FederationControl } from '../../federation/types.js';

/** Join token lifetimes: `ttl_seconds` 0 means `defaultSeconds`; 1..`maxSeconds` otherwise. */
export interface JoinTokenTtlPolicy {
  readonly defaultSeconds: number;
  readonly maxSeconds: number;
}

export const DEFAULT_JOIN_TOKEN_TTL: JoinTokenTtlPolicy = { defaultSeconds: 600, maxSeconds: 86_400 };

/**
 * What the admin API consumes: each capability as narrow as the handlers use it, so tests and other datastores can
 * stand in. The server's wiring passes the Datastore's stores, the CA's BundleSource, CaHealth and AuthorityAdmin, and
 * its policy.
 */
export interface AdminServicesConfig {
  readonly trustDomain: TrustDomain;
  /** TTL ceilings per role (ServerConfig['policy'] fits). */
  readonly policy: EntryPolicy;
  readonly entries: Pick<EntryStore, 'create' | 'createMany' | 'update' | 'delete' | 'get' | 'list' | 'count'>;
  readonly agents: Pick<AgentStore, 'list' | 'get' | 'setBanned' | 'delete'>;
  readonly joinTokens: Pick<JoinTokenStore, 'create'>;
  readonly audit: Pick<AuditStore, 'append' | 'appendMany' | 'list'>;
  readonly bundle: Pick<BundleSource, 'currentBundle'>;
  /** Federated trust domains' bundles (BundleService's list, show, set and delete). */
  readonly bundleStore: Pick<BundleStore, 'list' | 'get' | 'put' | 'delete'>;
  readonly federation: Pick<FederationStore, 'create' | 'update' | 'get' | 'list' | 'delete' | 'bundle'>;
  /**
   * The server's federation refresher. While absent, FederationService reads (Get, List) still answer, without
   * refresh status, and every call that needs the refresher (writes, Refresh) is UNAVAILABLE.
   */
  readonly federationControl?: FederationControl;
  readonly ca: CaHealth;
  /** Signs the SVIDs SvidService mints for the operator (the CA). */
  readonly x509Issuer: X509SvidIssuer;
  readonly jwtIssuer: JwtSvidIssuer;
  /** This server's signing keys and their forced rotation (AuthorityService): the CA. */
  readonly authority: AuthorityAdmin;
  /** Resolves when the datastore answers (Datastore.ping). */
  readonly ping: () => Promise<void>;
  /**
   * The server's readiness (the check behind /readyz, src/server/readiness.ts). When given, HealthService.Check
   * answers with it and its reason; otherwise it checks ping and the CA's test signature.
   */
  readonly ready?: () => Promise<Readiness>;
  /** Reported by HealthService.Check. */
  readonly version?: string;
  readonly joinTokenTtl?: JoinTokenTtlPolicy;
  readonly clock?: Clock;
  readonly log?: Logger;
}

/** The config with defaults applied, shared by the admin handlers. */
export interface AdminContext extends AdminServicesConfig {
  readonly clock: Clock;
  readonly log: Logger;
  readonly joinTokenTtl: JoinTokenTtlPolicy;
  readonly validation: EntryValidationContext;
  /** Appends audit events; a failure is logged, never thrown (the change it records is already committed). */
  record(events: readonly Omit<AuditEventInput, 'atMs'>[]): Promise<void>;
}

export function adminContext(config: AdminServicesConfig): AdminContext {
  const clock = config.clock ?? systemClock;
  const log = (config.log ?? silentLogger()).child({ api: 'admin' });
  const serverId = SpiffeId.fromSegments(config.trustDomain, 'tessera', 'server');
  return {
    ...config,
    clock,
    log,
    joinTokenTtl: config.joinTokenTtl ?? DEFAULT_JOIN_TOKEN_TTL,
    validation: { trustDomain: config.trustDomain, policy: config.policy, serverId },
    async record(events) {
      if (events.length === 0) return;
      const atMs = clock.now().getTime();
      try {
        await config.audit.appendMany(events.map((e) => ({ ...e, atMs })));
      } catch (err) {
        log.error({ err, kinds: events.map((e) => e.kind) }, 'Audit events could not be recorded');
      }
    },
  };
}
