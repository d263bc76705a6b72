import type { SpiffeBundle } from '../spiffe/bundle/index.js';

/** A selector of an entry, as "type" and "value" ("unix", "uid:1000"). */
export interface EntrySelector {
  readonly type: string;
  readonly value: string;
}

/** A registration entry as the agent receives it from sync (architecture §3). */
export interface AgentEntry {
  readonly id: string;
  /** May hold the `{instance}` placeholder. */
  readonly spiffeId: string;
  readonly parentId: string;
  readonly selectors: readonly EntrySelector[];
  readonly role: 'worker' | 'supervisor';
  /** 0 = the server policy's default (the server applies it). */
  readonly x509SvidTtlSeconds: number;
  readonly jwtSvidTtlSeconds: number;
  readonly dnsNames: readonly string[];
  /** Trust domain names. */
  readonly federatesWith: readonly string[];
  readonly hint: string;
  readonly admin: boolean;
  /** Unix seconds; 0 = never. */
  readonly expiresAt: number;
  readonly revision: number;
  /** Unix seconds. */
  readonly createdAt: number;
}

/** Everything one sync message says (full state, never a delta). */
export interface SyncState {
  readonly entries: readonly AgentEntry[];
  readonly bundle: SpiffeBundle;
  /** By trust domain name. */
  readonly federatedBundles: ReadonlyMap<string, SpiffeBundle>;
  readonly revision: number;
}
