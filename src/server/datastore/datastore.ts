import type { AgentStore } from './agents.js';
import type { AuditStore } from './audit.js';
import type { BundleStore } from './bundles.js';
import type { EntryStore } from './entries.js';
import type { FederationStore } from './federation.js';
import type { InstanceRoleStore } from './instance-roles.js';
import type { JoinTokenStore } from './join-tokens.js';
import type { KeyStore } from './keys.js';

/**
 * The server's record, one narrow store per concern. Components receive only the store they use (the entry service
 * an EntryStore, the attestor a JoinTokenStore and an AgentStore, ...), never the whole Datastore; only the server's
 * wiring holds this object. Every method is async so the SQLite and PostgreSQL implementations share one contract.
 */
export interface Datastore {
  readonly entries: EntryStore;
  readonly agents: AgentStore;
  readonly joinTokens: JoinTokenStore;
  readonly keys: KeyStore;
  readonly bundles: BundleStore;
  readonly audit: AuditStore;
  readonly federation: FederationStore;
  readonly instanceRoles: InstanceRoleStore;
  /** Resolves if the database answers a trivial query (readiness); UNAVAILABLE otherwise. */
  ping(): Promise<void>;
  /**
   * Resolves if a write transaction commits (readiness: a read-only, failing or locked-out store is not ready); the
   * coded error otherwise (RESOURCE_EXHAUSTED "datastore write failed: disk full", UNAVAILABLE for i/o errors).
   */
  checkWritable(): Promise<void>;
  /** Idempotent. Calls after close fail with UNAVAILABLE. */
  close(): Promise<void>;
}
