import type { AgentEntry } from '../state.js';
import type { WorkloadSelector } from '../types.js';
import {
  RESERVED_SELECTOR_TYPE,
  SUPERVISOR_SELECTOR_PREFIX,
  conflictMessage,
  instanceSpiffeId,
  matchInstance,
  refusalMessage,
  selectorKey,
  type AncestorInstance,
  type MatchOptions,
} from './matching.js';

export type Verdict = 'applies' | 'refused' | 'no_match';

export interface EntryExplanation {
  readonly entryId: string;
  readonly spiffeId: string;
  readonly role: AgentEntry['role'];
  readonly verdict: Verdict;
  /** The entry's selectors the process does not show (`type:value`). */
  readonly missing: readonly string[];
  /** For `refused`, and for `no_match` decided by a `tessera:` selector or the entry itself. */
  readonly reason?: string;
}

export interface Explanation {
  /** SPIFFE IDs of the entries that apply. */
  readonly applies: readonly string[];
  /** Why nothing applies, when nothing does. */
  readonly refusal?: string;
  /** Applying first, then refused, then no_match by fewest missing selectors (then entry order). */
  readonly entries: readonly EntryExplanation[];
}

export const NO_MATCH_REFUSAL = 'no registration entry matches the process';

/**
 * Why each entry does or does not apply to a process (`tessera entry explain`, issue 15), with the same rules as
 * {@link matchInstance} — which decides; this only says why. Per entry: the selectors the process lacks; a
 * `tessera:supervisor:<id>` no live ancestor instance holds; a supervisor entry a live ancestor holds (never
 * inherited); or, for entries whose selectors all match but that do not apply, the rule that refused them (role
 * conflict, role for life, unknown lineage).
 */
export function explainMatch(
  entries: readonly AgentEntry[],
  selectors: readonly WorkloadSelector[],
  ancestors: readonly AncestorInstance[],
  options: MatchOptions = {},
): Explanation {
  const match = matchInstance(entries, selectors, ancestors, options);
  const applying = new Set(match.entries.map((e) => e.id));
  const keys = new Set(selectors.map(selectorKey));
  const inherited = new Set<string>();
  for (const a of ancestors) for (const e of a.supervisorEntries) inherited.add(e.id);
  const ruleRefusal = match.conflict ? conflictMessage(match.conflict) : refusalMessage(match);

  const out = entries.map((entry): EntryExplanation => {
    const base = { entryId: entry.id, spiffeId: entry.spiffeId, role: entry.role };
    const missing = entry.selectors
      .filter((s) => s.type !== RESERVED_SELECTOR_TYPE && !keys.has(selectorKey(s)))
      .map(selectorKey);
    if (applying.has(entry.id)) return { ...base, verdict: 'applies', missing: [] };
    const reasons: string[] = [];
    if (entry.selectors.length === 0) reasons.push('the entry has no selectors');
    for (const s of entry.selectors) {
      if (s.type !== RESERVED_SELECTOR_TYPE) continue;
      if (!s.value.startsWith(SUPERVISOR_SELECTOR_PREFIX)) {
        reasons.push(`${JSON.stringify(selectorKey(s))} never matches (the only tessera selector is "tessera:supervisor:<spiffe id>")`);
        continue;
      }
      const wanted = s.value.slice(SUPERVISOR_SELECTOR_PREFIX.length);
      const held = ancestors.some(
        (a) =>
          a.instanceId !== undefined &&
          a.supervisorEntries.some((e) => e.spiffeId === wanted || instanceSpiffeId(e, a.instanceId!) === wanted),
      );
      if (!held) reasons.push(`no live ancestor instance holds the supervisor ID ${JSON.stringify(wanted)}`);
    }
    if (entry.role === 'supervisor' && inherited.has(entry.id)) {
      reasons.push('a live ancestor holds or matches this supervisor entry; supervisor identities are not inherited');
    }
    if (missing.length > 0 || reasons.length > 0) {
      return { ...base, verdict: 'no_match', missing, ...(reasons.length > 0 && { reason: reasons.join('; ') }) };
    }
    return { ...base, verdict: 'refused', missing: [], reason: ruleRefusal ?? 'refused by a supervisor/worker rule' };
  });

  const rank = { applies: 0, refused: 1, no_match: 2 } as const;
  const order = new Map(entries.map((e, i) => [e.id, i]));
  out.sort(
    (a, b) =>
      rank[a.verdict] - rank[b.verdict] ||
      a.missing.length - b.missing.length ||
      order.get(a.entryId)! - order.get(b.entryId)!,
  );
  return {
    applies: match.entries.map((e) => e.spiffeId),
    ...(match.entries.length === 0 && { refusal: ruleRefusal ?? NO_MATCH_REFUSAL }),
    entries: out,
  };
}
