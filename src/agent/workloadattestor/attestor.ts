import { internal, isTesseraError, permissionDenied, unavailable } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import type { AttestedProcess, CallerCredentials, WorkloadAttestor, WorkloadSelector } from '../types.js';
import { createAccountsReader, type AccountsReader } from './accounts.js';
import { createBinaryHasher, type BinaryHasher } from './binary-hash.js';
import { createExitWatcher, type ExitWatcher } from './exit-watcher.js';
import type { Libc } from './libc.js';
import { pidfdPid } from './pidfd.js';
import { createProcReader, isProcessGone, systemdUnitFromCgroup, type ProcExe, type ProcReader } from './proc.js';

export interface WorkloadAttestorOptions {
  /** Seams (tests). Defaults read the real /proc, /etc/passwd, /etc/group. */
  readonly proc?: ProcReader;
  readonly accounts?: AccountsReader;
  readonly hasher?: BinaryHasher;
  readonly exitWatcher?: ExitWatcher;
  /** Reads the pid a pidfd refers to (default: /proc/self/fdinfo). */
  readonly pidfdPid?: (pidfd: number) => number | undefined;
  readonly libc?: Libc;
  /** Exit polling period for watchExit. Default 250 ms. */
  readonly exitPollIntervalMs?: number;
  readonly log?: Logger;
}

/**
 * Workload attestation from kernel facts (architecture §4). Selectors, in this order:
 *
 * | selector                        | source |
 * | ---                             | --- |
 * | `unix:uid:<n>`, `unix:gid:<n>`  | SO_PEERCRED (the caller's effective ids when it connected) |
 * | `unix:user:<name>`, `unix:group:<name>` | those ids in /etc/passwd, /etc/group (omitted when not listed) |
 * | `unix:supplementary_gid:<n>`, `unix:supplementary_group:<name>` | /proc/<pid>/status `Groups:` now, each, sorted |
 * | `unix:path:<path>`              | readlink /proc/<pid>/exe (" (deleted)" removed: the binary it was started from) |
 * | `unix:sha256:<hex>`             | sha256 of that binary's inode, through /proc/<pid>/exe |
 * | `cgroup:path:<path>`            | /proc/<pid>/cgroup `0::` line (cgroup v2; omitted on pure v1) |
 * | `systemd:unit:<unit>`           | first `.service`/`.scope` segment of that path (see systemdUnitFromCgroup) |
 *
 * Decisions:
 * - uid/gid come from SO_PEERCRED, as SPIRE does: they are what the kernel recorded at connect time and the process
 *   cannot change them afterwards. /proc's effective ids are read too; when they differ (a setuid/setgid after
 *   connect, e.g. a daemon dropping root) the peer-cred values are used and the difference is logged (debug). The
 *   supplementary groups can only be read from /proc, i.e. as they are now.
 * - Pid reuse: with a pidfd, after everything is read the pidfd must still refer to the caller's pid (fdinfo `Pid:`;
 *   -1 = reaped) — while it does, the pid number cannot have been reused, so every /proc read was of the caller.
 *   In every case the start time (stat field 22) is read before and after the selectors; a change is
 *   PERMISSION_DENIED "process changed during attestation (pid reuse?)".
 * - A caller already gone (ENOENT/ESRCH from /proc, zombie, pidfd says reaped) is PERMISSION_DENIED, not
 *   UNAVAILABLE: retrying cannot succeed, the answer would reach no one, and it is indistinguishable from a pid-reuse
 *   attempt. A pid of 0 (peer not visible in our pid namespace) is PERMISSION_DENIED too.
 * - Any other failure to read the facts (EMFILE, malformed files, hashing error) is UNAVAILABLE.
 * - /proc/<pid>/exe unreadable with EACCES/EPERM (an agent not running as root attesting another user's process):
 *   unix:path and unix:sha256 are omitted, logged (debug). Selectors match as a subset, so fewer selectors can only
 *   entitle the caller to less.
 * - Facts the process controls itself (argv, environment) are not offered.
 */
export function createWorkloadAttestor(options: WorkloadAttestorOptions = {}): WorkloadAttestor {
  const proc = options.proc ?? createProcReader();
  const accounts = options.accounts ?? createAccountsReader();
  const hasher = options.hasher ?? createBinaryHasher();
  const readPidfdPid = options.pidfdPid ?? ((fd: number) => pidfdPid(fd));
  const log = options.log?.child({ component: 'workload-attestor' });
  let exitWatcher = options.exitWatcher;
  const watcher = (): ExitWatcher =>
    (exitWatcher ??= createExitWatcher({
      proc,
      ...(options.exitPollIntervalMs === undefined ? {} : { intervalMs: options.exitPollIntervalMs }),
      ...(options.libc === undefined ? {} : { libc: options.libc }),
    }));

  /**
   * After the reads: the pidfd must still refer to the caller's pid. Only a reaped process loses its pid (-1), and
   * only then can the number be reused, so while it holds every /proc/<pid> read above was of the caller. (No check
   * before the reads is needed: the start-time read catches a process gone already.)
   */
  function checkPidfdAfter(caller: CallerCredentials): void {
    if (caller.pidfd === undefined) return;
    let pid: number | undefined;
    try {
      pid = readPidfdPid(caller.pidfd);
    } catch (err) {
      throw internal(`pidfd ${caller.pidfd} of pid ${caller.pid} is not open`, { cause: err });
    }
    if (pid === -1) throw permissionDenied('process exited during attestation (pid reuse?)');
    if (pid !== caller.pid) {
      throw internal(`pidfd ${caller.pidfd} refers to pid ${String(pid)}, not the caller's pid ${caller.pid}`);
    }
  }

  function startTime(pid: number, when: 'before' | 'after'): bigint {
    const st = proc.stat(pid);
    if (st.state === 'Z' || st.state === 'X') {
      throw permissionDenied(
        when === 'before' ? 'caller process exited before attestation' : 'process exited during attestation',
      );
    }
    return st.startTime;
  }

  function readExe(pid: number): ProcExe | undefined {
    try {
      return proc.exe(pid);
    } catch (err) {
      if (isNotPermitted(err)) {
        log?.debug({ pid, err }, 'Cannot read the binary of a caller: no unix:path or unix:sha256 selectors');
        return undefined;
      }
      throw err;
    }
  }

  async function sha256(pid: number): Promise<string | undefined> {
    try {
      return await hasher.sha256OfExe(pid);
    } catch (err) {
      if (isNotPermitted(err)) return undefined;
      throw err;
    }
  }

  async function attest(caller: CallerCredentials): Promise<AttestedProcess> {
    const { pid } = caller;
    if (!Number.isInteger(pid) || pid <= 0) {
      throw permissionDenied('caller process is not visible in the agent pid namespace');
    }
    const before = startTime(pid, 'before');

    const status = proc.status(pid);
    const exe = readExe(pid);
    const hash = exe === undefined ? undefined : await sha256(pid);
    const cgroup = proc.cgroup(pid);

    const after = startTime(pid, 'after');
    if (after !== before) throw permissionDenied('process changed during attestation (pid reuse?)');
    checkPidfdAfter(caller);

    const [, euid] = status.uids;
    const [, egid] = status.gids;
    if (euid !== caller.uid || egid !== caller.gid) {
      log?.debug(
        { pid, peerUid: caller.uid, peerGid: caller.gid, procEuid: euid, procEgid: egid },
        'Caller ids changed since it connected: using the ids it connected with',
      );
    }

    const selectors: WorkloadSelector[] = [];
    const add = (type: string, value: string): void => {
      selectors.push({ type, value });
    };
    add('unix', `uid:${caller.uid}`);
    const user = accounts.userName(caller.uid);
    if (user !== undefined) add('unix', `user:${user}`);
    add('unix', `gid:${caller.gid}`);
    const group = accounts.groupName(caller.gid);
    if (group !== undefined) add('unix', `group:${group}`);
    const groups = [...new Set(status.groups)].sort((a, b) => a - b);
    for (const g of groups) add('unix', `supplementary_gid:${g}`);
    for (const g of groups) {
      const name = accounts.groupName(g);
      if (name !== undefined) add('unix', `supplementary_group:${name}`);
    }
    if (exe !== undefined) add('unix', `path:${exe.path}`);
    if (hash !== undefined) add('unix', `sha256:${hash}`);
    if (cgroup !== undefined) {
      add('cgroup', `path:${cgroup}`);
      const unit = systemdUnitFromCgroup(cgroup);
      if (unit !== undefined) add('systemd', `unit:${unit}`);
    }
    return { pid, startTime: before, selectors, ppid: status.ppid };
  }

  return {
    async attest(caller) {
      try {
        return await attest(caller);
      } catch (err) {
        if (isTesseraError(err)) throw err;
        if (isProcessGone(err)) throw permissionDenied('caller process exited before attestation', { cause: err });
        throw unavailable(`cannot read the process facts of pid ${caller.pid}`, { cause: err });
      }
    },
    watchExit(caller, attested, signal) {
      if (caller.pid !== attested.pid) {
        return Promise.reject(internal(`watchExit: caller pid ${caller.pid} is not the attested pid ${attested.pid}`));
      }
      return watcher().watch(
        {
          pid: attested.pid,
          startTime: attested.startTime,
          ...(caller.pidfd === undefined ? {} : { pidfd: caller.pidfd }),
        },
        signal,
      );
    },
  };
}

function isNotPermitted(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'EACCES' || code === 'EPERM';
}
