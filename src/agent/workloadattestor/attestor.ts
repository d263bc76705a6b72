import { internal, isTesseraError, permissionDenied, unavailable } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import type {
  AttestedProcess,
  AttestOptions,
  CallerCredentials,
  FileIdentity,
  WorkloadAttestor,
  WorkloadSelector,
} from '../types.js';
import { createAccountsReader, type AccountsReader } from './accounts.js';
import { createBinaryHasher, type BinaryHasher } from './binary-hash.js';
import { exePathHolds } from './exe-path.js';
import { createExitWatcher, type ExitWatcher } from './exit-watcher.js';
import { libc, type Libc } from './libc.js';
import { pidfdPid, pidfdsExited } from './pidfd.js';
import {
  createProcReader,
  isProcessGone,
  sameFile,
  systemdUnitFromCgroup,
  type ProcExe,
  type ProcReader,
} from './proc.js';

const EXEC_SINCE_CONNECT =
  'the process that connected runs another binary than when it connected (exec); connect from the program that calls';
const EXEC_SINCE_ATTEST =
  'the process on this connection runs another binary than when it was attested (exec); open a new connection';

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
 * | `unix:path:<path>`              | readlink /proc/<pid>/exe (" (deleted)" removed: the binary it was started from), only when that path names the running inode for the agent too (exe-path.ts) |
 * | `unix:sha256:<hex>`             | sha256 of that binary's inode, through /proc/<pid>/exe; only when wanted and under the size limit (below) |
 * | `cgroup:path:<path>`            | /proc/<pid>/cgroup `0::` line (cgroup v2; omitted on pure v1) |
 * | `systemd:unit:<unit>`           | first `.service`/`.scope` segment of that path (see systemdUnitFromCgroup) |
 *
 * These forms are registered in src/common/selectors.ts (the server refuses entries with any other form; `tessera
 * selectors` lists them): a selector added here is added there too (test/agent/workloadattestor/attestor.test.ts).
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
 * - `unix:path` is the weaker binary selector: it names a path, not content. It is offered only when the path,
 *   resolved by the agent, is the inode the process runs (or the process shares the agent's mount namespace), so a
 *   bind mount in a private mount namespace cannot borrow another program's path; but whoever may write that path
 *   (or replace the file) decides what runs under it. `unix:sha256` names the content; pair the two, or use sha256
 *   alone, for binaries whose path others could write. A process allowed to re-point its own exe link (prctl
 *   PR_SET_MM_MAP with exe_fd: a privileged process; a user namespace of an unprivileged user was refused EPERM on
 *   Linux 6.18 when we tried) could claim another executable's inode, and so its path and hash.
 * - `unix:sha256` is computed only when `wantSha256` says so (the manager: some entry with a sha256 selector could
 *   match the caller's other selectors), and never for a binary over the hasher's size limit
 *   (workloadAttestor.sha256MaxBytes): a caller chooses its binary, and hashing costs ~1 s of a core per GB.
 * - Exec: the binary's dev/ino is read before and after its path (equal, or PERMISSION_DENIED), and must be the one
 *   the connection's peer ran when it was accepted (CallerCredentials.exe): a process that connected, handed the
 *   socket to a child and exec'd is refused, not attested as its new program. {@link WorkloadAttestor.recheck} is
 *   the per-call check of a connection already attested (types.ts ConnectionBinding).
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

  let c: Libc | undefined = options.libc;
  const lib = (): Libc => (c ??= libc());

  async function sha256(pid: number, running: FileIdentity): Promise<string | undefined> {
    try {
      const hash = await hasher.sha256OfExe(pid, running);
      if (hash === undefined) log?.debug({ pid }, 'Binary of a caller is over the hashing size limit: no unix:sha256');
      return hash;
    } catch (err) {
      if (isNotPermitted(err)) return undefined;
      throw err;
    }
  }

  /** The running binary's identity, read before and after its path so both describe one binary (no exec between). */
  function binary(pid: number): { exe: ProcExe; file: FileIdentity } | undefined {
    let file: FileIdentity;
    try {
      file = proc.exeFile(pid);
    } catch (err) {
      if (isNotPermitted(err)) {
        log?.debug({ pid, err }, 'Cannot read the binary of a caller: no unix:path or unix:sha256 selectors');
        return undefined;
      }
      throw err;
    }
    const exe = readExe(pid);
    if (exe === undefined) return undefined;
    if (!sameFile(proc.exeFile(pid), file)) throw permissionDenied('process changed during attestation (exec?)');
    return { exe, file };
  }

  async function attest(caller: CallerCredentials, options: AttestOptions): Promise<AttestedProcess> {
    const { pid } = caller;
    if (!Number.isInteger(pid) || pid <= 0) {
      throw permissionDenied('caller process is not visible in the agent pid namespace');
    }
    const before = startTime(pid, 'before');

    const status = proc.status(pid);
    const bin = binary(pid);
    if (bin !== undefined && caller.exe !== undefined && !sameFile(bin.file, caller.exe)) {
      throw permissionDenied(EXEC_SINCE_CONNECT);
    }
    const cgroup = proc.cgroup(pid);

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
    if (bin !== undefined) {
      if (exePathHolds(proc, pid, bin.exe, bin.file)) add('unix', `path:${bin.exe.path}`);
      else log?.debug({ pid }, 'Binary path of a caller names another file in the agent mount namespace: no unix:path');
    }
    const tail: WorkloadSelector[] = [];
    if (cgroup !== undefined) {
      tail.push({ type: 'cgroup', value: `path:${cgroup}` });
      const unit = systemdUnitFromCgroup(cgroup);
      if (unit !== undefined) tail.push({ type: 'systemd', value: `unit:${unit}` });
    }
    const sha256Tried = options.wantSha256?.([...selectors, ...tail]) ?? true;
    const hash = sha256Tried && bin !== undefined ? await sha256(pid, bin.file) : undefined;
    if (hash !== undefined) add('unix', `sha256:${hash}`);
    selectors.push(...tail);

    const after = startTime(pid, 'after');
    if (after !== before) throw permissionDenied('process changed during attestation (pid reuse?)');
    checkPidfdAfter(caller);

    return {
      pid,
      startTime: before,
      selectors,
      ppid: status.ppid,
      ...(bin !== undefined && { exe: bin.file }),
      ...(cgroup !== undefined && { cgroup }),
      sha256Tried,
    };
  }

  /**
   * The per-call check of a bound connection (types.ts WorkloadAttestor.recheck): 2–3 small reads instead of the
   * whole attestation. With a pidfd the start time need not be read: while the pidfd has not exited, the pid cannot
   * name another process, so the reads were of the caller.
   */
  function recheck(caller: CallerCredentials, bound: AttestedProcess): void {
    const { pid } = caller;
    if (pid !== bound.pid) throw internal(`recheck: caller pid ${pid} is not the bound pid ${bound.pid}`);
    if (caller.pidfd === undefined && startTime(pid, 'before') !== bound.startTime) {
      throw permissionDenied('caller process exited (its pid now names another process)');
    }
    if (bound.exe !== undefined && !sameFile(proc.exeFile(pid), bound.exe)) throw permissionDenied(EXEC_SINCE_ATTEST);
    if (bound.cgroup !== undefined && proc.cgroup(pid) !== bound.cgroup) {
      throw permissionDenied(
        `the process on this connection moved from cgroup ${JSON.stringify(bound.cgroup)} since it was attested; open a new connection`,
      );
    }
    if (caller.pidfd !== undefined) {
      if (pidfdsExited([caller.pidfd], lib())[0] === true) throw permissionDenied('caller process exited');
    } else if (startTime(pid, 'after') !== bound.startTime) {
      throw permissionDenied('caller process exited (its pid now names another process)');
    }
  }

  function mapError(caller: CallerCredentials, err: unknown): unknown {
    if (isTesseraError(err)) return err;
    if (isProcessGone(err)) return permissionDenied('caller process exited before attestation', { cause: err });
    return unavailable(`cannot read the process facts of pid ${caller.pid}`, { cause: err });
  }

  return {
    async attest(caller, attestOptions = {}) {
      try {
        return await attest(caller, attestOptions);
      } catch (err) {
        throw mapError(caller, err);
      }
    },
    recheck(caller, bound) {
      try {
        recheck(caller, bound);
      } catch (err) {
        throw mapError(caller, err);
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
