import type { FileIdentity } from '../types.js';
import { sameFile, type ProcExe, type ProcReader } from './proc.js';

/**
 * Whether `unix:path:<exe.path>` may be offered for process `pid`, whose binary is `running`.
 *
 * readlink(/proc/<pid>/exe) gives the path in the PROCESS's mount namespace, which an unprivileged user can make up:
 * `unshare -Urm`, bind-mount any program over /usr/bin/sleep, exec /usr/bin/sleep, and the link reads
 * /usr/bin/sleep. So the path is offered only when it names that binary for the agent too:
 * - the path, resolved in the agent's mount namespace, is the very inode the process runs (same dev and ino); or
 * - the process shares the agent's mount namespace (then the path means the same to both; this keeps the path of a
 *   binary deleted or replaced since the process started, as before).
 * Anything else (another mount namespace whose path names another file here, or a namespace we may not inspect)
 * omits the selector: selectors match as a subset, so fewer selectors only ever entitle a process to less.
 */
export function exePathHolds(proc: ProcReader, pid: number, exe: ProcExe, running: FileIdentity): boolean {
  const here = proc.fileAt(exe.path);
  if (here !== undefined && sameFile(here, running)) return true;
  try {
    return sameFile(proc.mountNamespace(pid), proc.mountNamespace('self'));
  } catch {
    // EACCES/EPERM (no ptrace read access), ENOENT (gone: the start-time check reports it): cannot vouch for the path.
    return false;
  }
}
