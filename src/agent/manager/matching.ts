import type { WorkloadSelector } from '../types.js';
import type { AgentEntry } from '../state.js';

/** The placeholder an entry's SPIFFE ID may hold for the instance ID (architecture §5). */
export const INSTANCE_PLACEHOLDER = '{instance}';

/**
 * Selector type reserved for Tessera's own facts (`tessera:supervisor:<id>`, issue 5). Until supervisor ancestry is
 * implemented in the agent, an entry with any such selector never matches: the condition cannot be checked, and
 * matching it anyway would hand a worker identity to a process that is not descended from its supervisor.
 */
export const RESERVED_SELECTOR_TYPE = 'tessera';

export function selectorKey(s: { readonly type: string; readonly value: string }): string {
  return `${s.type}:${s.value}`;
}

/**
 * Whether `entry` applies to a process with `selectors` (as selectorKey strings): every selector of the entry is
 * among the process's. Entries with no selectors, or with a reserved `tessera:` selector, never match.
 */
export function entryMatches(entry: AgentEntry, selectors: ReadonlySet<string>): boolean {
  if (entry.selectors.length === 0) return false;
  for (const s of entry.selectors) {
    if (s.type === RESERVED_SELECTOR_TYPE) return false;
    if (!selectors.has(selectorKey(s))) return false;
  }
  return true;
}

/** The entries that apply to a process, in the default-identity order (see {@link compareEntries}). */
export function matchEntries(entries: readonly AgentEntry[], selectors: readonly WorkloadSelector[]): AgentEntry[] {
  const keys = new Set(selectors.map(selectorKey));
  return entries.filter((e) => entryMatches(e, keys)).sort(compareEntries);
}

/** Default identity order: oldest entry first (creation time, then ID), so the default never changes under a workload. */
export function compareEntries(a: AgentEntry, b: AgentEntry): number {
  return a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/** The SPIFFE ID an entry gives one instance (`{instance}` replaced). */
export function instanceSpiffeId(entry: AgentEntry, instanceId: string): string {
  return entry.spiffeId.includes(INSTANCE_PLACEHOLDER) ? entry.spiffeId.replaceAll(INSTANCE_PLACEHOLDER, instanceId) : entry.spiffeId;
}

/** A key that changes whenever the selector set changes (order-independent). */
export function selectorSetKey(selectors: readonly WorkloadSelector[]): string {
  return [...new Set(selectors.map(selectorKey))].sort().join('\n');
}
