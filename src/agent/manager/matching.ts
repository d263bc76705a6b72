import type { WorkloadSelector } from '../types.js';
import type { AgentEntry } from '../state.js';

/** The placeholder an entry's SPIFFE ID may hold for the instance ID (architecture §5). */
export const INSTANCE_PLACEHOLDER = '{instance}';

/**
 * Selector type reserved for Tessera's own facts (issue 5). `tessera:supervisor:<spiffe id>` is checked against the
 * process's live supervisor ancestors ({@link matchInstance}); any other `tessera:` selector never matches.
 */
export const RESERVED_SELECTOR_TYPE = 'tessera';
export const SUPERVISOR_SELECTOR_PREFIX = 'supervisor:';

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

/**
 * A live ancestor of a process, as far as supervisor rules care (architecture §5 rules 2-3): an instance holding
 * supervisor entries, or a process with no instance whose selectors match supervisor entries (it could still call and
 * hold them, so a descendant is kept from them just the same; issue 10 item 3).
 */
export interface AncestorInstance {
  /** Undefined for an ancestor that has not called (it matches the entries, holds nothing, names no worker). */
  readonly instanceId: string | undefined;
  /** Supervisor-role entries the ancestor holds (or matches, when it has no instance). */
  readonly supervisorEntries: readonly AgentEntry[];
}

export interface MatchOptions {
  /** False when the process's fork lineage is not known (a hidden supervisor ancestor is possible). Default true. */
  readonly lineageKnown?: boolean;
  /** The role the instance was served first: it keeps that role for life (issue 10 item 4). */
  readonly role?: Role;
}

export type Role = AgentEntry['role'];

/** What applies to one instance. */
export interface InstanceMatch {
  /** Default-identity order. */
  readonly entries: AgentEntry[];
  /** Entry ID → the supervisor instance a `tessera:supervisor:` entry was matched through. */
  readonly supervisorOf: ReadonlyMap<string, string>;
  /** Set when supervisor and worker entries both match (rule 1): `entries` is then empty. */
  readonly conflict?: { readonly supervisorEntryIds: string[]; readonly workerEntryIds: string[] };
  /** Supervisor entries the process matches but is refused because its lineage is unknown. */
  readonly lineageRefused?: string[];
  /** Entries of the other role than the one the instance holds for life, refused. */
  readonly roleRefused?: { readonly role: Role; readonly entryIds: string[] };
}

/**
 * The entries that apply to one instance, with the supervisor rules of architecture §5:
 * - rule 2, never inherited: a supervisor entry that a live ancestor instance holds is excluded;
 * - rule 3: `tessera:supervisor:<spiffe id>` matches only when a live ancestor holds a supervisor entry with that
 *   SPIFFE ID (as issued to that ancestor, or the entry's ID template); the nearest such ancestor is recorded;
 * - rule 1: when supervisor-role and worker-role entries both match, nothing applies and `conflict` names them;
 * - unknown lineage (options.lineageKnown false): no supervisor entry applies (`lineageRefused` names them);
 * - one role for life (options.role): entries of the other role never apply (`roleRefused` names them).
 * `ancestors` nearest first.
 */
export function matchInstance(
  entries: readonly AgentEntry[],
  selectors: readonly WorkloadSelector[],
  ancestors: readonly AncestorInstance[],
  options: MatchOptions = {},
): InstanceMatch {
  const keys = new Set(selectors.map(selectorKey));
  const inherited = new Set<string>();
  for (const a of ancestors) for (const e of a.supervisorEntries) inherited.add(e.id);
  const supervisorOf = new Map<string, string>();
  const matched: AgentEntry[] = [];
  outer: for (const entry of entries) {
    if (entry.selectors.length === 0) continue;
    if (entry.role === 'supervisor' && inherited.has(entry.id)) continue;
    let supervisor: string | undefined;
    for (const s of entry.selectors) {
      if (s.type !== RESERVED_SELECTOR_TYPE) {
        if (!keys.has(selectorKey(s))) continue outer;
        continue;
      }
      if (!s.value.startsWith(SUPERVISOR_SELECTOR_PREFIX)) continue outer;
      const wanted = s.value.slice(SUPERVISOR_SELECTOR_PREFIX.length);
      const found = ancestors.find(
        (a) =>
          a.instanceId !== undefined &&
          a.supervisorEntries.some((e) => e.spiffeId === wanted || instanceSpiffeId(e, a.instanceId!) === wanted),
      );
      if (!found) continue outer;
      if (supervisor !== undefined && supervisor !== found.instanceId) continue outer;
      supervisor = found.instanceId;
    }
    matched.push(entry);
    if (supervisor !== undefined) supervisorOf.set(entry.id, supervisor);
  }
  matched.sort(compareEntries);
  const sup = matched.filter((e) => e.role === 'supervisor');
  const work = matched.filter((e) => e.role !== 'supervisor');
  if (sup.length > 0 && work.length > 0) {
    return {
      entries: [],
      supervisorOf: new Map(),
      conflict: { supervisorEntryIds: sup.map((e) => e.id), workerEntryIds: work.map((e) => e.id) },
    };
  }
  if (options.role !== undefined && matched.length > 0 && matched[0]!.role !== options.role) {
    return { entries: [], supervisorOf: new Map(), roleRefused: { role: options.role, entryIds: matched.map((e) => e.id) } };
  }
  if (options.lineageKnown === false && sup.length > 0) {
    return { entries: [], supervisorOf: new Map(), lineageRefused: sup.map((e) => e.id) };
  }
  return { entries: matched, supervisorOf };
}

/** The PERMISSION_DENIED message when nothing applies, naming why (unknown lineage, role for life), or undefined. */
export function refusalMessage(match: InstanceMatch): string | undefined {
  if (match.roleRefused) {
    return (
      `the caller was served ${match.roleRefused.role} identities and keeps that role for life; ` +
      `refused entries (${match.roleRefused.entryIds.join(', ')})`
    );
  }
  if (match.lineageRefused) {
    return (
      `the agent does not know the caller's fork lineage, so it cannot be served supervisor entries ` +
      `(${match.lineageRefused.join(', ')})`
    );
  }
  return undefined;
}

/** The PERMISSION_DENIED message of a rule-1 refusal. */
export function conflictMessage(conflict: NonNullable<InstanceMatch['conflict']>): string {
  return (
    `the caller matches both supervisor entries (${conflict.supervisorEntryIds.join(', ')}) and worker entries ` +
    `(${conflict.workerEntryIds.join(', ')}); a process is served one role only`
  );
}
