import { libc, type Libc } from './libc.js';
import { dupPidfd, pidfdsExited } from './pidfd.js';
import type { ProcReader } from './proc.js';

/**
 * Notices process exits for many watched processes with ONE shared timer (started with the first watch, stopped
 * after the last, unref'd so it never keeps the agent alive).
 *
 * Each tick (default every 250 ms, so an exit is seen within ~250 ms):
 * - processes with a pidfd: one poll(2), timeout 0, over all their pidfds (~1.4M single-fd polls/s measured: the cost
 *   is one FFI call per tick whatever the count). The watch holds its OWN duplicate of the pidfd, because the
 *   connection that brought it closes its copy when it closes.
 * - processes without one (kernel without pidfds, or the pidfd was already closed): read /proc/<pid>/stat; gone, a
 *   zombie, or a different start time (the pid was reused) = exited. ~20 µs each per tick.
 *
 * Why not koffi's undocumented libuv poll handles (`koffi.node.poll`): event-driven, but its API is marked unstable;
 * a 250 ms tick costs next to nothing and meets the ~0.5 s target.
 */
export interface ExitWatcher {
  /** Resolves when the process exits or `signal` aborts (whichever first). Never rejects. */
  watch(target: WatchTarget, signal: AbortSignal): Promise<void>;
  /** Processes being watched now. */
  size(): number;
}

export interface WatchTarget {
  readonly pid: number;
  readonly startTime: bigint;
  readonly pidfd?: number;
}

export interface ExitWatcherOptions {
  readonly proc: ProcReader;
  readonly intervalMs?: number;
  readonly libc?: Libc;
}

interface Watch {
  readonly pid: number;
  readonly startTime: bigint;
  /** Our own duplicate, closed when the watch ends. */
  readonly pidfd: number | undefined;
  readonly done: () => void;
}

export function createExitWatcher(options: ExitWatcherOptions): ExitWatcher {
  const intervalMs = options.intervalMs ?? 250;
  const proc = options.proc;
  const watches = new Set<Watch>();
  let timer: NodeJS.Timeout | undefined;
  let c: Libc | undefined = options.libc;
  const lib = (): Libc => (c ??= libc());

  function tick(): void {
    const withPidfd: Watch[] = [];
    for (const w of watches) {
      if (w.pidfd !== undefined) withPidfd.push(w);
      else if (exitedByStat(w)) w.done();
    }
    if (withPidfd.length > 0) {
      let exited: boolean[];
      try {
        exited = pidfdsExited(withPidfd.map((w) => w.pidfd as number), lib());
      } catch {
        // poll itself failed (EINTR, ENOMEM): try again next tick.
        return;
      }
      withPidfd.forEach((w, i) => {
        if (exited[i]) w.done();
      });
    }
  }

  function exitedByStat(w: Watch): boolean {
    try {
      const st = proc.stat(w.pid);
      return st.startTime !== w.startTime || st.state === 'Z' || st.state === 'X';
    } catch {
      // Gone (ENOENT/ESRCH), or /proc refuses us now: either way we can no longer vouch for the process.
      return true;
    }
  }

  function exitedByPidfd(pidfd: number): boolean {
    try {
      return pidfdsExited([pidfd], lib())[0] === true;
    } catch {
      return false; // the next tick tries again
    }
  }

  function start(): void {
    if (timer !== undefined) return;
    timer = setInterval(tick, intervalMs);
    timer.unref();
  }

  function stopIfIdle(): void {
    if (watches.size === 0 && timer !== undefined) {
      clearInterval(timer);
      timer = undefined;
    }
  }

  return {
    watch(target, signal) {
      if (signal.aborted) return Promise.resolve();
      return new Promise<void>((resolve) => {
        const pidfd = target.pidfd === undefined ? undefined : dupPidfd(target.pidfd, target.pid, lib());
        const onAbort = (): void => watch.done();
        let ended = false;
        const watch: Watch = {
          pid: target.pid,
          startTime: target.startTime,
          pidfd,
          done: () => {
            if (ended) return;
            ended = true;
            watches.delete(watch);
            signal.removeEventListener('abort', onAbort);
            if (pidfd !== undefined) lib().close(pidfd);
            stopIfIdle();
            resolve();
          },
        };
        watches.add(watch);
        signal.addEventListener('abort', onAbort, { once: true });
        start();
        // Catch a process that is already gone without waiting a whole tick.
        if (pidfd === undefined ? exitedByStat(watch) : exitedByPidfd(pidfd)) watch.done();
      });
    },
    size: () => watches.size,
  };
}
