import type { AgentEntry } from '../state.js';
import type { AttestedProcess, WorkloadSelector } from '../types.js';
import { RESERVED_SELECTOR_TYPE, selectorKey } from './matching.js';

/** Whether an entry selects on the binary's hash (`unix:sha256:<hex>`). */
export function usesSha256(entry: AgentEntry): boolean {
  return entry.selectors.some(isSha256);
}

function isSha256(s: { readonly type: string; readonly value: string }): boolean {
  return s.type === 'unix' && s.value.startsWith('sha256:');
}

/**
 * Whether a process with `selectors` (all but its sha256) needs its binary hashed: some entry of `sha256Entries`
 * could match it, i.e. every other selector of that entry is among the process's (`tessera:` selectors are decided
 * later, from the process's ancestors, so they are assumed to hold). A caller no sha256 entry could match costs no
 * hashing at all, whatever the size of its binary.
 */
export function sha256Wanted(sha256Entries: readonly AgentEntry[], selectors: readonly WorkloadSelector[]): boolean {
  if (sha256Entries.length === 0) return false;
  const keys = new Set(selectors.map(selectorKey));
  return sha256Entries.some((e) =>
    e.selectors.every((s) => isSha256(s) || s.type === RESERVED_SELECTOR_TYPE || keys.has(selectorKey(s))),
  );
}

/**
 * Whether two attestations are of the same process image: same process (pid, start time), same binary (dev, ino)
 * and same cgroup. Mutable facts (supplementary groups) may differ; an exec or a cgroup move may not.
 */
export function sameImage(a: AttestedProcess, b: AttestedProcess): boolean {
  if (a.pid !== b.pid || a.startTime !== b.startTime || a.cgroup !== b.cgroup) return false;
  if (a.exe === undefined || b.exe === undefined) return a.exe === b.exe;
  return a.exe.dev === b.exe.dev && a.exe.ino === b.exe.ino;
}
