import { libc, POLLERR, POLLHUP, POLLIN, POLLNVAL, type Libc } from './libc.js';
import { readProcFile } from './proc.js';

/**
 * The pid a pidfd refers to, from /proc/self/fdinfo/<fd> (`Pid:` line): the pid number while the process exists
 * (a zombie included), -1 once it has been reaped (from then on its pid number may be reused), undefined when `fd` is
 * open but not a pidfd. Throws (ENOENT) when `fd` is not open at all.
 */
export function pidfdPid(fd: number, procRoot = '/proc'): number | undefined {
  const text = readProcFile(`${procRoot}/self/fdinfo/${fd}`);
  const match = /^Pid:\s*(-?\d+)\s*$/m.exec(text);
  return match === null ? undefined : Number(match[1]);
}

/**
 * A close-on-exec duplicate of `pidfd`, checked to refer to `pid`; undefined when it cannot be had (the fd was closed
 * already, its number now names another file, or the process is gone). Whoever watches a process beyond the life of
 * the connection that brought the pidfd needs its own copy: the connection closes its pidfd, and the fd number is
 * then reused by the next file this process opens.
 */
export function dupPidfd(pidfd: number, pid: number, c: Libc = libc()): number | undefined {
  const dup = c.dupCloexec(pidfd);
  if (dup < 0) return undefined;
  let ok = false;
  try {
    ok = pidfdPid(dup) === pid;
  } catch {
    ok = false;
  }
  if (!ok) {
    c.close(dup);
    return undefined;
  }
  return dup;
}

/**
 * Which of `pidfds` have exited: one poll(2) with timeout 0 for all of them (a pidfd turns readable when its process
 * exits). POLLNVAL (not an open fd) counts as exited: a watch that can no longer see its process ends, failing safe.
 */
export function pidfdsExited(pidfds: readonly number[], c: Libc = libc()): boolean[] {
  const n = pidfds.length;
  if (n === 0) return [];
  const buf = Buffer.alloc(8 * n);
  for (let i = 0; i < n; i++) {
    buf.writeInt32LE(pidfds[i] as number, 8 * i);
    buf.writeInt16LE(POLLIN, 8 * i + 4);
  }
  const r = c.poll(buf, n, 0);
  if (r < 0) throw new Error(`poll failed (errno ${c.errno()})`);
  const out: boolean[] = new Array<boolean>(n);
  for (let i = 0; i < n; i++) {
    out[i] = (buf.readInt16LE(8 * i + 6) & (POLLIN | POLLHUP | POLLERR | POLLNVAL)) !== 0;
  }
  return out;
}
