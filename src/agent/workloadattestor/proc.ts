import { closeSync, openSync, readlinkSync, readSync, statSync } from 'node:fs';
import type { FileIdentity } from '../types.js';

/**
 * Kernel facts of a process from /proc. Synchronous on purpose: these are small in-memory pseudo-files (no disk I/O,
 * ~50k status reads/s); the async fs API would add a thread-pool round trip per file for nothing.
 *
 * Errors are Node's system errors, unchanged: ENOENT/ESRCH mean the process is gone ({@link isProcessGone}), EACCES
 * that /proc refuses us (another user's process when the agent is not root, hidepid=…). The attestor maps them.
 */
export interface ProcStatus {
  /** Real, effective, saved, filesystem uid (the `Uid:` line). */
  readonly uids: readonly [number, number, number, number];
  /** Real, effective, saved, filesystem gid (the `Gid:` line). */
  readonly gids: readonly [number, number, number, number];
  /** Supplementary group ids (the `Groups:` line), as the kernel lists them. */
  readonly groups: readonly number[];
  readonly ppid: number;
}

export interface ProcStat {
  /** Field 3: R, S, D, Z (zombie), X (dead), T, t, … */
  readonly state: string;
  /** Field 22: start time in clock ticks after boot. */
  readonly startTime: bigint;
}

export interface ProcExe {
  /** The binary's path, with the kernel's " (deleted)" suffix removed when the file was unlinked. */
  readonly path: string;
  /** The binary was unlinked (or replaced) after the process started. */
  readonly deleted: boolean;
}

/** The narrow seam the attestor reads through (tests inject a fake to force e.g. a start-time change). */
export interface ProcReader {
  stat(pid: number): ProcStat;
  status(pid: number): ProcStatus;
  exe(pid: number): ProcExe;
  /** The cgroup v2 path (`0::<path>` line), or undefined on a pure cgroup v1 host. */
  cgroup(pid: number): string | undefined;
  /** dev/ino of the binary the process runs: stat through /proc/<pid>/exe (reaches the inode in any namespace). */
  exeFile(pid: number): FileIdentity;
  /** Identity of the process's mount namespace (stat of /proc/<pid>/ns/mnt); `self` = the agent's. */
  mountNamespace(pid: number | 'self'): FileIdentity;
  /** dev/ino of `path` resolved in the AGENT's mount namespace, undefined when nothing is there. */
  fileAt(path: string): FileIdentity | undefined;
}

export function createProcReader(procRoot = '/proc'): ProcReader {
  return {
    stat: (pid) => parseStat(readProcFile(`${procRoot}/${pid}/stat`)),
    status: (pid) => parseStatus(readProcFile(`${procRoot}/${pid}/status`)),
    exe: (pid) => readExe(`${procRoot}/${pid}/exe`),
    cgroup: (pid) => parseCgroup(readProcFile(`${procRoot}/${pid}/cgroup`, 'utf8')),
    exeFile: (pid) => fileIdentity(`${procRoot}/${pid}/exe`),
    mountNamespace: (pid) => fileIdentity(`${procRoot}/${pid}/ns/mnt`),
    fileAt: (path) => {
      try {
        const st = statSync(path, { bigint: true, throwIfNoEntry: false });
        return st === undefined ? undefined : { dev: st.dev, ino: st.ino };
      } catch {
        // ENOTDIR, ELOOP, EACCES…: nothing we can vouch for is there.
        return undefined;
      }
    },
  };
}

function fileIdentity(path: string): FileIdentity {
  const st = statSync(path, { bigint: true });
  return { dev: st.dev, ino: st.ino };
}

export function sameFile(a: FileIdentity, b: FileIdentity): boolean {
  return a.dev === b.dev && a.ino === b.ino;
}

let scratch = Buffer.allocUnsafe(16 * 1024);

/**
 * Reads a /proc pseudo-file (size 0 in stat, generated on read) into a reused buffer: open, read until EOF, close.
 * About twice as fast as readFileSync, which stats first and then grows its buffer. Numeric files are read as
 * Latin-1 (cheapest, every byte one char); the cgroup file as UTF-8, since its path becomes a selector.
 */
export function readProcFile(path: string, encoding: 'latin1' | 'utf8' = 'latin1'): string {
  const fd = openSync(path, 'r');
  try {
    let length = 0;
    for (;;) {
      if (length === scratch.length) {
        const bigger = Buffer.allocUnsafe(scratch.length * 2);
        scratch.copy(bigger);
        scratch = bigger;
      }
      const n = readSync(fd, scratch, length, scratch.length - length, null);
      if (n === 0) break;
      length += n;
    }
    return scratch.toString(encoding, 0, length);
  } finally {
    closeSync(fd);
  }
}

/** Whether a /proc read failed because the process no longer exists. */
export function isProcessGone(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ESRCH';
}

/**
 * Parses /proc/<pid>/stat. Field 2 (comm) is in parentheses and may itself contain spaces and parentheses, so the
 * fields are taken after the LAST ')'.
 */
export function parseStat(text: string): ProcStat {
  const close = text.lastIndexOf(')');
  if (close < 0) throw new Error('malformed /proc/<pid>/stat: no ")"');
  const fields = text.slice(close + 2).trim().split(' ');
  // fields[0] is field 3 (state), so field N is fields[N - 3].
  const state = fields[0];
  const start = fields[22 - 3];
  if (state === undefined || start === undefined || !/^\d+$/.test(start)) {
    throw new Error('malformed /proc/<pid>/stat: no start time');
  }
  return { state, startTime: BigInt(start) };
}

export function parseStatus(text: string): ProcStatus {
  let uids: number[] | undefined;
  let gids: number[] | undefined;
  let groups: number[] = [];
  let ppid: number | undefined;
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const key = line.slice(0, colon);
    const value = line.slice(colon + 1).trim();
    if (key === 'Uid') uids = ids(value);
    else if (key === 'Gid') gids = ids(value);
    else if (key === 'Groups') groups = value === '' ? [] : ids(value);
    else if (key === 'PPid') ppid = Number(value);
  }
  if (uids?.length !== 4 || gids?.length !== 4 || ppid === undefined || !Number.isInteger(ppid)) {
    throw new Error('malformed /proc/<pid>/status: missing Uid, Gid or PPid');
  }
  return {
    uids: uids as unknown as ProcStatus['uids'],
    gids: gids as unknown as ProcStatus['gids'],
    groups,
    ppid,
  };
}

function ids(value: string): number[] {
  return value.split(/\s+/).map((v) => {
    if (!/^\d+$/.test(v)) throw new Error(`malformed id ${JSON.stringify(v)} in /proc/<pid>/status`);
    return Number(v);
  });
}

const DELETED = ' (deleted)';

/**
 * readlink(/proc/<pid>/exe). When the binary has been unlinked (an upgrade replaced it, say) the kernel appends
 * " (deleted)". A file may really be named "… (deleted)", so the suffix is only removed when the running inode has no
 * links left (stat through the magic link reaches the inode itself, wherever it lives).
 */
function readExe(link: string): ProcExe {
  const target = readlinkSync(link, 'utf8');
  if (target.endsWith(DELETED) && statSync(link).nlink === 0) {
    return { path: target.slice(0, -DELETED.length), deleted: true };
  }
  return { path: target, deleted: false };
}

/**
 * The cgroup v2 (unified hierarchy) path from /proc/<pid>/cgroup: the `0::<path>` line. On a hybrid host it is one
 * line among the v1 ones; on a pure v1 host there is none (undefined). The path is relative to the reader's cgroup
 * namespace root.
 */
export function parseCgroup(text: string): string | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('0::')) return line.slice(3);
  }
  return undefined;
}

/**
 * The systemd unit a cgroup path belongs to, as the SYSTEM manager sees it: the FIRST path segment ending in
 * `.service` or `.scope`, e.g. `/system.slice/nginx.service` → `nginx.service`,
 * `/user.slice/user-1000.slice/user@1000.service/app.slice/foo.service` → `user@1000.service`,
 * `/system.slice/docker-abc.scope` → `docker-abc.scope`, `/` or `/init.scope`… → as found, none → undefined.
 *
 * Why the first and not the last: everything below a unit's own cgroup may be delegated (the per-user manager
 * `user@UID.service`, any `Delegate=yes` service, container runtimes), i.e. named by the unit's unprivileged
 * processes themselves. Any user can create `…/user@1000.service/app.slice/nginx.service`; taking the last segment
 * would let them claim `systemd:unit:nginx.service`. Only the system manager (root) names the cgroups above the
 * first unit, so the first unit is a fact the workload cannot choose. (This is what asking systemd itself,
 * GetUnitByPID on the system bus, answers too.)
 */
export function systemdUnitFromCgroup(path: string): string | undefined {
  for (const segment of path.split('/')) {
    if (segment.endsWith('.service') || segment.endsWith('.scope')) return segment;
  }
  return undefined;
}
