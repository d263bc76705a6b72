import type { ProcessRef } from './ancestry.js';

/** What the agent knows of a process's ancestors (supervisor rules 2-3, architecture §5). */
export interface Lineage {
  /** The live ancestors, nearest first (pid and start time: the key of an instance). */
  readonly ancestors: readonly ProcessRef[];
  /**
   * False when some link is missing (a fork the agent did not see): an ancestor may then be hidden, so the process
   * must not be served a supervisor identity (the caller refuses them).
   */
  readonly known: boolean;
}

export const UNKNOWN_LINEAGE: Lineage = { ancestors: [], known: false };

interface Node {
  readonly pid: number;
  /** Start time (clock ticks since boot): from the seed, or pinned the first time the process is looked at. */
  startTime: bigint | undefined;
  readonly parent: Node | undefined;
  /** The parent's fork was never seen: nothing above this node is known. */
  readonly rootUnknown: boolean;
  /** Alive across an overflow with no start time pinned: the pid may hold another process now. */
  suspect: boolean;
  /** Children whose node is still kept (alive, or exited with kept children). */
  children: number;
  exited: boolean;
}

/** Most links walked (a guard; the tree has no cycles, a parent node always exists before its child's). */
const MAX_DEPTH = 4096;

/**
 * Fork lineage as the kernel reported it (proc-connector.ts), which reparenting cannot erase: a process whose parent
 * exits is adopted by pid 1 (or a subreaper) in /proc, but here it stays below the parent it was forked from, and
 * that one below its own. Nodes are kept while the process lives, and after it exits for as long as a descendant of it
 * lives (a reference count), so memory is bounded by the live processes and their exited ancestors.
 *
 * Seeded from a /proc snapshot taken after subscribing (processes older than the agent: their /proc parent is taken
 * as their lineage, pinned at that first sight). Events cost no /proc read: a node's start time is pinned the first
 * time it is looked at (a lookup compares it, so a node left behind by a lost EXIT is never taken for the process that
 * reuses its pid). After an overflow ({@link ForkTree.lost}) every node without a pinned start time is suspect, and a
 * fork whose parent is unknown makes a `rootUnknown` node: lineage through either is reported unknown.
 */
export class ForkTree {
  readonly #live = new Map<number, Node>();
  readonly #startTime: (pid: number) => bigint | undefined;

  /** `startTime` reads a live process's start time (undefined when it is gone); used for ancestors at lookup. */
  constructor(startTime: (pid: number) => bigint | undefined) {
    this.#startTime = startTime;
  }

  get size(): number {
    return this.#live.size;
  }

  /** Seeds from a /proc snapshot: every process with its /proc parent (ppid 0 = a root: pid 1, kthreadd). */
  seed(processes: readonly { pid: number; ppid: number; startTime: bigint }[]): void {
    const byPid = new Map(processes.map((p) => [p.pid, p]));
    const make = (pid: number, depth: number): Node | undefined => {
      const existing = this.#live.get(pid);
      if (existing) return existing;
      const p = byPid.get(pid);
      if (!p || depth > MAX_DEPTH) return undefined;
      const parent = p.ppid === 0 || p.ppid === pid ? undefined : make(p.ppid, depth + 1);
      const node: Node = {
        pid,
        startTime: p.startTime,
        parent,
        rootUnknown: p.ppid !== 0 && parent === undefined,
        suspect: false,
        children: 0,
        exited: false,
      };
      if (parent) parent.children++;
      this.#live.set(pid, node);
      return node;
    };
    for (const p of processes) make(p.pid, 0);
  }

  fork(parentPid: number, childPid: number): void {
    const parent = this.#live.get(parentPid);
    const stale = this.#live.get(childPid);
    if (stale) this.exit(childPid); // its exit was not seen (overflow): the pid is someone else's now
    const node: Node = {
      pid: childPid,
      startTime: undefined,
      parent,
      rootUnknown: parent === undefined,
      suspect: false,
      children: 0,
      exited: false,
    };
    if (parent) parent.children++;
    this.#live.set(childPid, node);
  }

  /** Events were dropped (socket overflow): nodes whose start time was never pinned may be stale. */
  lost(): void {
    for (const node of this.#live.values()) if (node.startTime === undefined) node.suspect = true;
  }

  exit(pid: number): void {
    const node = this.#live.get(pid);
    if (!node) return;
    this.#live.delete(pid);
    node.exited = true;
    let n: Node | undefined = node;
    while (n && n.exited && n.children === 0) {
      const parent: Node | undefined = n.parent;
      if (parent) parent.children--;
      n = parent;
    }
  }

  /**
   * The lineage of the live process (pid, startTime): its live ancestors through every exited link. Unknown when
   * the process itself is not in the tree (its fork was missed) or a link above it is.
   */
  lineage(pid: number, startTime: bigint): Lineage {
    const node = this.#live.get(pid);
    if (!node || node.suspect) return UNKNOWN_LINEAGE;
    node.startTime ??= startTime;
    if (node.startTime !== startTime) return UNKNOWN_LINEAGE;
    const ancestors: ProcessRef[] = [];
    let known = !node.rootUnknown;
    let after = startTime;
    let depth = 0;
    for (let p = node.parent; p && depth < MAX_DEPTH; p = p.parent, depth++) {
      if (p.rootUnknown || p.suspect) known = false;
      if (p.exited) continue;
      const now = this.#startTime(p.pid);
      // A live node whose pid shows another start time has exited (its exit not drained yet): skip it.
      if (now === undefined || (p.startTime !== undefined && p.startTime !== now) || now > after) continue;
      p.startTime = now;
      ancestors.push({ pid: p.pid, startTime: now });
      after = now;
    }
    if (depth >= MAX_DEPTH) known = false;
    return { ancestors, known };
  }
}
