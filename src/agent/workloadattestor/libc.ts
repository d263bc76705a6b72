import { createRequire } from 'node:module';
import { internal } from '../../common/errors.js';

/**
 * The few libc calls workload attestation needs, through koffi (FFI; its prebuilt native binary ships in the npm
 * package, so installing needs no toolchain and its install script is not run: package.json `allowScripts`).
 *
 * Bound lazily on first use, from the process's own symbol table (`dlopen(NULL)`: node links libc dynamically, so this
 * works for glibc and musl alike), so importing this module never loads native code and a non-Linux platform gets a
 * clear error only when a caller actually needs the kernel.
 */
export interface Libc {
  /** `getsockopt(2)`: fills `optval`, updates `optlen[0]`. Returns 0 or -1 (see {@link Libc.errno}). */
  getsockopt(fd: number, level: number, optname: number, optval: Buffer, optlen: [number]): number;
  /** `pidfd_open(2)` through `syscall(2)`. Returns the fd or -1. */
  pidfdOpen(pid: number): number;
  /** `fcntl(fd, F_DUPFD_CLOEXEC, 0)`: a close-on-exec duplicate of `fd`, or -1. */
  dupCloexec(fd: number): number;
  /** `poll(2)` on an array of `struct pollfd` (8 bytes each: int fd, short events, short revents). */
  poll(fds: Buffer, nfds: number, timeoutMs: number): number;
  /** `close(2)`. Returns 0 or -1. */
  close(fd: number): number;
  /** errno of the last failed call on this thread. */
  errno(): number;
}

export const SOL_SOCKET = 1;
export const SO_PEERCRED = 17;
export const SO_PEERPIDFD = 77;
/** pidfd_open(2): 434 on every architecture (syscalls added since 5.1 share one number; alpha aside). */
export const SYS_PIDFD_OPEN = 434;
export const F_DUPFD_CLOEXEC = 1030;
export const POLLIN = 0x001;
export const POLLERR = 0x008;
export const POLLHUP = 0x010;
export const POLLNVAL = 0x020;

export const ENOPROTOOPT = 92;
export const EINVAL = 22;
export const ENOSYS = 38;
export const ESRCH = 3;
export const EINTR = 4;

let bound: Libc | undefined;

/** The libc binding (created on first call). Throws INTERNAL where it cannot exist (not Linux, koffi missing). */
export function libc(): Libc {
  bound ??= bind();
  return bound;
}

function bind(): Libc {
  if (process.platform !== 'linux') {
    const platform = JSON.stringify(process.platform);
    throw internal(`workload attestation needs linux (SO_PEERCRED, /proc); this is ${platform}`);
  }
  let koffi: typeof import('koffi');
  try {
    // createRequire: load the CommonJS build synchronously, only when first needed.
    koffi = createRequire(import.meta.url)('koffi') as typeof import('koffi');
  } catch (err) {
    throw internal('cannot load koffi (ffi for SO_PEERCRED)', { cause: err });
  }
  const lib = koffi.load(null);
  const getsockopt = lib.func(
    'int getsockopt(int fd, int level, int optname, _Out_ uint8_t *optval, _Inout_ uint32_t *optlen)',
  );
  const syscall = lib.func('long syscall(long number, ...)');
  const fcntl = lib.func('int fcntl(int fd, int cmd, ...)');
  const poll = lib.func('int poll(_Inout_ uint8_t *fds, unsigned long nfds, int timeout)');
  const close = lib.func('int close(int fd)');
  return {
    getsockopt: (fd, level, optname, optval, optlen) => getsockopt(fd, level, optname, optval, optlen) as number,
    pidfdOpen: (pid) => Number(syscall(SYS_PIDFD_OPEN, 'int', pid, 'unsigned int', 0)),
    dupCloexec: (fd) => fcntl(fd, F_DUPFD_CLOEXEC, 'int', 0) as number,
    poll: (fds, nfds, timeoutMs) => poll(fds, nfds, timeoutMs) as number,
    close: (fd) => close(fd) as number,
    errno: () => koffi.errno(),
  };
}
