export type { Datastore } from './datastore.js';
export type {
  CreateResult,
  Entry,
  EntryChange,
  EntryChangeListener,
  EntryFilter,
  SelectorMatch,
  EntryInput,
  EntryStore,
  Role,
  Selector,
} from './entries.js';
export type { AgentAttestation, AgentRecord, AgentStore } from './agents.js';
export type { JoinTokenConsumeResult, JoinTokenRecord, JoinTokenStore } from './join-tokens.js';
export type { KeyKind, KeyRecord, KeyState, KeyStateChange, KeyStore, NewKeyRecord } from './keys.js';
export type { BundleRecord, BundleStore } from './bundles.js';
export type { FederationStore } from './federation.js';
export type { InstanceRoleRecord, InstanceRoleStore } from './instance-roles.js';
export {
  AUDIT_DEFAULT_LIMIT,
  AUDIT_MAX_LIMIT,
  type AuditEvent,
  type AuditEventInput,
  type AuditQuery,
  type AuditStore,
} from './audit.js';
export { canonicalSelectors, entryIdentityHash, joinTokenHash } from './selectors.js';
export { openSqliteDatastore, type SqliteDatastoreOptions } from './sqlite/index.js';
