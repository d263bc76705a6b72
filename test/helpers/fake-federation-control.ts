/** A FederationControl that records what the admin API asks of it and answers from a table the test fills. */
import type { FederationControl, FederationStatus } from '../../src/server/federation/types.js';

export interface FakeFederationControl extends FederationControl {
  /** Trust domains passed to reload, in call order. */
  readonly reloads: string[];
  readonly refreshes: string[];
  /** What status() answers per trust domain. */
  readonly statuses: Map<string, FederationStatus>;
  /** When set, refresh() rejects with it (after recording the call). */
  refreshError: Error | undefined;
  /** When set, reload() rejects with it. */
  reloadError: Error | undefined;
}

export function fakeFederationControl(): FakeFederationControl {
  const fake: FakeFederationControl = {
    reloads: [],
    refreshes: [],
    statuses: new Map(),
    refreshError: undefined,
    reloadError: undefined,
    async reload(trustDomain) {
      fake.reloads.push(trustDomain);
      if (fake.reloadError) throw fake.reloadError;
    },
    async refresh(trustDomain) {
      fake.refreshes.push(trustDomain);
      if (fake.refreshError) throw fake.refreshError;
      const status = { ...fake.statuses.get(trustDomain), lastSuccessAtMs: Date.now(), lastAttemptAtMs: Date.now() };
      fake.statuses.set(trustDomain, status);
      return status;
    },
    status: (trustDomain) => fake.statuses.get(trustDomain),
  };
  return fake;
}
