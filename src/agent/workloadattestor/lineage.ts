import { readdirSync } from 'node:fs';
import type { Logger } from '../../common/log.js';
import { parseStatAncestry } from './ancestry.js';
import { ForkTree, UNKNOWN_LINEAGE, type Lineage } from './fork-tree.js';
import { openProcConnector, type ProcConnector } from './proc-connector.js';
import { readProcFile } from './proc.js';

export { UNKNOWN_LINEAGE, type Lineage } from './fork-tree.js';

/** Where the agent learns a process's ancestors (supervisor rules 2-3). */
export interface LineageSource {
  /** Whether lineage is followed at all (false: every lineage is unknown, supervisor identities are refused). */
  readonly tracking: boolean;
  lineage(process: { readonly pid: number; readonly startTime: bigint }): Lineage;
  close(): void;
}

export interface KernelLineageOptions {
  readonly log?: Logger;
  /** How often queued events are read between lookups (keeps the socket buffer from overflowing). Default 100 ms. */
  readonly drainIntervalMs?: number;
  /** Seam (tests): opens the connector. */
  readonly open?: () => ProcConnector;
  readonly procRoot?: string;
}

/**
 * Fork lineage from the kernel (issue 10 item 3): the process-events connector's FORK/EXIT events kept in a
 * {@link ForkTree}, so a process double-forked away from a supervisor (re-parented to pid 1 once the middle process
 * exits) is still known to descend from it. Every lookup first drains the queued events: the FORK of any caller
 * happened before it connected, so it is in the tree when the caller is attested.
 *
 * Needs CAP_NET_ADMIN. Without it (or on a kernel without CONFIG_PROC_EVENTS) the agent cannot tell a process that
 * was re-parented from one started by pid 1, so it treats every lineage as unknown and refuses supervisor identities
 * (worker identities are unaffected, except those that need a supervisor ancestor). After an overflow (events dropped)
 * the processes whose fork was lost have unknown lineage; the others keep theirs.
 */
export function createKernelLineage(options: KernelLineageOptions = {}): LineageSource {
  const log = options.log;
  const procRoot = options.procRoot ?? '/proc';
  let connector: ProcConnector;
  try {
    connector = (options.open ?? openProcConnector)();
  } catch (err) {
    log?.warn(
      { reason: (err as Error).message },
      'Cannot follow process forks (process-events connector; needs root/CAP_NET_ADMIN): supervisor identities will be refused',
    );
    return { tracking: false, lineage: () => UNKNOWN_LINEAGE, close: () => {} };
  }
  const startTime = (pid: number): bigint | undefined => {
    try {
      return parseStatAncestry(readProcFile(`${procRoot}/${pid}/stat`))?.startTime;
    } catch {
      return undefined;
    }
  };
  const tree = new ForkTree(startTime);
  tree.seed(snapshot(procRoot));
  const drain = (): void => {
    connector.drain((event) => {
      if (event.kind === 'fork') tree.fork(event.parentPid, event.childPid);
      else if (event.kind === 'exit') tree.exit(event.pid);
      else {
        tree.lost();
        log?.warn({}, 'Process events were lost (socket buffer overflow): processes forked meanwhile have unknown lineage');
      }
    });
  };
  drain();
  const timer = setInterval(() => {
    try {
      drain();
    } catch (err) {
      log?.error({ err }, 'Cannot read process events');
    }
  }, options.drainIntervalMs ?? 100);
  timer.unref();
  log?.info({ processes: tree.size }, 'Following process forks (process-events connector)');
  return {
    tracking: true,
    lineage(process) {
      try {
        drain();
      } catch (err) {
        log?.error({ err }, 'Cannot read process events; lineage unknown');
        return UNKNOWN_LINEAGE;
      }
      return tree.lineage(process.pid, process.startTime);
    },
    close() {
      clearInterval(timer);
      connector.close();
    },
  };
}

/** Every process in /proc with its parent and start time (those that vanish while reading are skipped). */
function snapshot(procRoot: string): { pid: number; ppid: number; startTime: bigint }[] {
  const out: { pid: number; ppid: number; startTime: bigint }[] = [];
  for (const name of readdirSync(procRoot)) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const parsed = parseStatAncestry(readProcFile(`${procRoot}/${name}/stat`));
      if (parsed) out.push({ pid: Number(name), ...parsed });
    } catch {
      // gone
    }
  }
  return out;
}
