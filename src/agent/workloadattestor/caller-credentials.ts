import type { Socket } from 'node:net';
import { getSystemErrorName } from 'node:util';
import { internal, unavailable } from '../../common/errors.js';
import type { CallerCredentials, CallerCredentialsReader, FileIdentity } from '../types.js';
import { EINVAL, ENOPROTOOPT, ENOSYS, libc, SO_PEERCRED, SO_PEERPIDFD, SOL_SOCKET, type Libc } from './libc.js';
import { createProcReader } from './proc.js';

/** How the reader got the pidfd of the last connection it read (for logs and tests). */
export type PidfdSource = 'peer' | 'pidfd_open' | 'none';

export interface CallerCredentialsReaderOptions {
  /** Tests: a fake libc. */
  readonly libc?: Libc;
  /** dev/ino of the binary a pid runs (default: stat through /proc/<pid>/exe). */
  readonly exeFile?: (pid: number) => FileIdentity;
}

/**
 * Reads a Unix socket peer's credentials from the kernel.
 *
 * - pid/uid/gid: `getsockopt(SO_PEERCRED)`: the peer's pid and EFFECTIVE uid/gid as they were when it called
 *   `connect()` (the kernel records them then; a later setuid does not change them). The pid is the connecting
 *   process, even if it later passed the socket to another process (as for SPIRE).
 * - pidfd: `getsockopt(SO_PEERPIDFD)` (Linux ≥ 6.5): pins the very process that connected, whatever happens to its pid
 *   number afterwards. On an older kernel (ENOPROTOOPT/EINVAL) fall back to `pidfd_open(pid)`: it pins the process
 *   from this moment on, so a pid reused between connect and accept is not caught by it (the start-time check in the
 *   attestor narrows that window but cannot close it). Where pidfd_open does not exist either (ENOSYS, < 5.3) or
 *   fails, no pidfd: the attestor then relies on start times alone.
 *   If SO_PEERPIDFD exists but fails otherwise (ESRCH: the peer is already gone), the read fails: falling back to
 *   pidfd_open then could pin a different process that reused the pid.
 * - exe: dev/ino of the binary the peer runs now, right after accept (one stat through /proc/<pid>/exe, ~5 µs), so
 *   that an exec between connecting and the first call is seen (the attestor refuses it): a process can connect,
 *   fork a child that keeps the socket, then exec a binary that has an identity. An exec in the short window between
 *   connect() and this read is not seen: the kernel records no exe with the peer credentials. Undefined when it
 *   cannot be read (EACCES: a non-root agent; the attestor then has no path or sha256 selectors either).
 * - A pid of 0 (the peer is in a pid namespace not visible from ours) is returned as is, with no pidfd: the attestor
 *   refuses it with PERMISSION_DENIED, which reaches the caller as a gRPC status rather than a dropped connection.
 *
 * The pidfd is close-on-exec (the kernel always makes pidfds so) and owned by the caller of read(): close it with the
 * connection ({@link closePidfd}, or fs.closeSync).
 */
export function createCallerCredentialsReader(options: CallerCredentialsReaderOptions = {}): CallerCredentialsReader & {
  /** Where the last read's pidfd came from. */
  lastPidfdSource(): PidfdSource;
} {
  const c = options.libc ?? libc();
  const exeFile = options.exeFile ?? createProcReader().exeFile;
  const ucred = Buffer.alloc(12);
  const ucredLen: [number] = [12];
  const intBuf = Buffer.alloc(4);
  const intLen: [number] = [4];
  // Once SO_PEERPIDFD reports it is unknown, do not ask again on every connection.
  let peerPidfdSupported = true;
  let pidfdOpenSupported = true;
  let lastSource: PidfdSource = 'none';

  function peerPidfd(fd: number): number | undefined {
    if (!peerPidfdSupported) return undefined;
    intLen[0] = 4;
    if (c.getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, intBuf, intLen) === 0) return intBuf.readInt32LE(0);
    const errno = c.errno();
    if (errno === ENOPROTOOPT || errno === EINVAL) {
      peerPidfdSupported = false;
      return undefined;
    }
    throw unavailable(`getsockopt(SO_PEERPIDFD) failed on fd ${fd}`, { cause: errnoError(errno, 'getsockopt') });
  }

  function openPidfd(pid: number): number | undefined {
    if (!pidfdOpenSupported) return undefined;
    const pidfd = c.pidfdOpen(pid);
    if (pidfd >= 0) return pidfd;
    if (c.errno() === ENOSYS) pidfdOpenSupported = false;
    return undefined;
  }

  return {
    read(fd: number): CallerCredentials {
      if (!Number.isInteger(fd) || fd < 0) throw internal(`not a file descriptor: ${fd}`);
      ucredLen[0] = 12;
      if (c.getsockopt(fd, SOL_SOCKET, SO_PEERCRED, ucred, ucredLen) !== 0) {
        const errno = c.errno();
        throw unavailable(`getsockopt(SO_PEERCRED) failed on fd ${fd}`, { cause: errnoError(errno, 'getsockopt') });
      }
      if (ucredLen[0] !== 12) throw internal(`getsockopt(SO_PEERCRED) returned ${ucredLen[0]} bytes, expected 12`);
      const pid = ucred.readInt32LE(0);
      const uid = ucred.readUInt32LE(4);
      const gid = ucred.readUInt32LE(8);
      if (pid <= 0) {
        lastSource = 'none';
        return { pid, uid, gid };
      }
      let pidfd = peerPidfd(fd);
      lastSource = 'peer';
      if (pidfd === undefined) {
        pidfd = openPidfd(pid);
        lastSource = pidfd === undefined ? 'none' : 'pidfd_open';
      }
      let exe: FileIdentity | undefined;
      try {
        exe = exeFile(pid);
      } catch {
        exe = undefined;
      }
      return { pid, uid, gid, ...(pidfd !== undefined && { pidfd }), ...(exe !== undefined && { exe }) };
    },
    lastPidfdSource: () => lastSource,
  };
}

/**
 * The file descriptor of an accepted (or connected) net.Socket. Node has no public API for it: this reads libuv's
 * handle (`socket._handle.fd`), present on Linux for pipe and TCP handles. Throws INTERNAL when it is not there
 * (socket not connected yet, already closed, or a Node that changed its internals).
 */
export function socketFd(socket: Socket): number {
  const handle = (socket as unknown as { _handle?: { fd?: unknown } | null })._handle;
  if (handle === undefined || handle === null) {
    throw internal('socket has no handle (not connected yet, or already closed): cannot read its file descriptor');
  }
  const fd = handle.fd;
  if (typeof fd !== 'number' || !Number.isInteger(fd) || fd < 0) {
    throw internal(`socket handle has no usable file descriptor (fd=${JSON.stringify(fd)})`);
  }
  return fd;
}

/** Closes a pidfd from {@link CallerCredentials}. Throws INTERNAL if the kernel refuses (e.g. EBADF: closed twice). */
export function closePidfd(fd: number, options: { readonly libc?: Libc } = {}): void {
  const c = options.libc ?? libc();
  if (c.close(fd) !== 0) {
    const cause = errnoError(c.errno(), 'close');
    throw internal(`close(${fd}) failed: ${cause.code}`, { cause });
  }
}

/** An Error shaped like Node's system errors (code/errno/syscall) for an errno from FFI. */
export function errnoError(errno: number, syscall: string): NodeJS.ErrnoException {
  let code: string;
  try {
    code = getSystemErrorName(-errno);
  } catch {
    code = `ERRNO_${errno}`;
  }
  const err: NodeJS.ErrnoException = new Error(`${syscall} failed: ${code} (errno ${errno})`);
  err.code = code;
  err.errno = -errno;
  err.syscall = syscall;
  return err;
}
