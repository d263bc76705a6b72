import { createRequire } from 'node:module';
import { internal } from '../../common/errors.js';

/**
 * The kernel's process-events connector (netlink NETLINK_CONNECTOR, CN_IDX_PROC): a multicast of every fork, exec and
 * exit on the host, sent from inside the fork itself, so the FORK event of a process is queued on our socket before
 * that process runs a single instruction. Subscribing needs CAP_NET_ADMIN (a root agent).
 *
 * Bound through koffi like libc.ts, on its own (this module is only loaded by the lineage tracker). The socket is
 * read without blocking (MSG_DONTWAIT): {@link ProcConnector.drain} takes every queued event synchronously, so a
 * caller that drains right before it decides sees every fork that happened before the decision.
 */
export type ProcEvent =
  | { readonly kind: 'fork'; readonly parentPid: number; readonly childPid: number }
  | { readonly kind: 'exit'; readonly pid: number }
  /** The kernel dropped events here (the socket buffer overflowed, ENOBUFS). */
  | { readonly kind: 'lost' };

export interface ProcConnector {
  /** Hands every queued event to `onEvent`, in kernel order (a `lost` event where the kernel dropped some). */
  drain(onEvent: (event: ProcEvent) => void): void;
  close(): void;
}

const AF_NETLINK = 16;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
const NETLINK_CONNECTOR = 11;
const CN_IDX_PROC = 1;
const CN_VAL_PROC = 1;
const PROC_CN_MCAST_LISTEN = 1;
const NLMSG_DONE = 3;
const SOL_SOCKET = 1;
const SO_RCVBUFFORCE = 33;
const MSG_DONTWAIT = 0x40;
const EAGAIN = 11;
const EINTR = 4;
const ENOBUFS = 105;

const PROC_EVENT_FORK = 0x1;
const PROC_EVENT_EXIT = 0x80000000;

const NLMSG_HDRLEN = 16;
const CN_MSG_LEN = 20;
/** proc_event header: what (u32), cpu (u32), timestamp_ns (u64). */
const PROC_EVENT_HDR = 16;
/** Receive buffer asked for (root may exceed rmem_max with SO_RCVBUFFORCE): ~50k queued events. */
const RCVBUF_BYTES = 8 * 1024 * 1024;

interface Binding {
  socket(domain: number, type: number, protocol: number): number;
  bind(fd: number, addr: Buffer, len: number): number;
  send(fd: number, buf: Buffer, len: number, flags: number): number;
  recv(fd: number, buf: Buffer, len: number, flags: number): number;
  setsockopt(fd: number, level: number, name: number, value: Buffer, len: number): number;
  close(fd: number): number;
  errno(): number;
}

let bound: Binding | undefined;

function binding(): Binding {
  if (bound) return bound;
  if (process.platform !== 'linux') throw internal(`the process-events connector needs linux; this is ${JSON.stringify(process.platform)}`);
  let koffi: typeof import('koffi');
  try {
    koffi = createRequire(import.meta.url)('koffi') as typeof import('koffi');
  } catch (err) {
    throw internal('cannot load koffi (ffi for the process-events connector)', { cause: err });
  }
  const lib = koffi.load(null);
  const socket = lib.func('int socket(int domain, int type, int protocol)');
  const bindFn = lib.func('int bind(int fd, _In_ uint8_t *addr, uint32_t len)');
  const send = lib.func('long send(int fd, _In_ uint8_t *buf, unsigned long len, int flags)');
  const recv = lib.func('long recv(int fd, _Out_ uint8_t *buf, unsigned long len, int flags)');
  const setsockopt = lib.func('int setsockopt(int fd, int level, int name, _In_ uint8_t *value, uint32_t len)');
  const close = lib.func('int close(int fd)');
  bound = {
    socket: (d, t, p) => socket(d, t, p) as number,
    bind: (fd, addr, len) => bindFn(fd, addr, len) as number,
    send: (fd, buf, len, flags) => Number(send(fd, buf, len, flags)),
    recv: (fd, buf, len, flags) => Number(recv(fd, buf, len, flags)),
    setsockopt: (fd, level, name, value, len) => setsockopt(fd, level, name, value, len) as number,
    close: (fd) => close(fd) as number,
    errno: () => koffi.errno(),
  };
  return bound;
}

/**
 * Opens and subscribes a process-events socket. Throws INTERNAL naming the errno when the kernel refuses (EPERM
 * without CAP_NET_ADMIN, EPROTONOSUPPORT without CONFIG_PROC_EVENTS).
 */
export function openProcConnector(): ProcConnector {
  const b = binding();
  const fd = b.socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_CONNECTOR);
  if (fd < 0) throw internal(`cannot open the process-events connector socket (errno ${b.errno()})`);
  try {
    const size = Buffer.alloc(4);
    size.writeInt32LE(RCVBUF_BYTES);
    b.setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, size, 4); // best effort: the default buffer works, only smaller
    const addr = Buffer.alloc(12);
    addr.writeUInt16LE(AF_NETLINK, 0);
    addr.writeUInt32LE(0, 4); // nl_pid 0: the kernel assigns our port
    addr.writeUInt32LE(CN_IDX_PROC, 8); // nl_groups
    if (b.bind(fd, addr, addr.length) !== 0) throw internal(`cannot bind the process-events connector (errno ${b.errno()})`);
    const msg = subscribeMessage();
    if (b.send(fd, msg, msg.length, 0) !== msg.length) {
      throw internal(`cannot subscribe to process events (errno ${b.errno()}; CAP_NET_ADMIN needed)`);
    }
  } catch (err) {
    b.close(fd);
    throw err;
  }
  const buf = Buffer.alloc(64 * 1024);
  let open = true;
  return {
    drain(onEvent) {
      while (open) {
        const n = b.recv(fd, buf, buf.length, MSG_DONTWAIT);
        if (n < 0) {
          const errno = b.errno();
          if (errno === EINTR) continue;
          if (errno === ENOBUFS) {
            onEvent({ kind: 'lost' });
            continue;
          }
          if (errno === EAGAIN) break;
          throw internal(`cannot read process events (errno ${errno})`);
        }
        parseProcEvents(buf.subarray(0, n), onEvent);
      }
    },
    close() {
      if (!open) return;
      open = false;
      b.close(fd);
    },
  };
}

/** nlmsghdr + cn_msg{CN_IDX_PROC, CN_VAL_PROC} + PROC_CN_MCAST_LISTEN. */
function subscribeMessage(): Buffer {
  const msg = Buffer.alloc(NLMSG_HDRLEN + CN_MSG_LEN + 4);
  msg.writeUInt32LE(msg.length, 0);
  msg.writeUInt16LE(NLMSG_DONE, 4);
  msg.writeUInt32LE(CN_IDX_PROC, NLMSG_HDRLEN);
  msg.writeUInt32LE(CN_VAL_PROC, NLMSG_HDRLEN + 4);
  msg.writeUInt16LE(4, NLMSG_HDRLEN + 16);
  msg.writeUInt32LE(PROC_CN_MCAST_LISTEN, NLMSG_HDRLEN + CN_MSG_LEN);
  return msg;
}

/**
 * The process (not thread) forks and exits in one datagram of netlink messages. A fork whose child is a thread
 * (child pid ≠ child tgid) and the exit of a thread other than the leader are skipped; a fork's parent is the
 * parent's process (tgid). Malformed or truncated messages are skipped.
 */
export function parseProcEvents(data: Buffer, onEvent: (event: ProcEvent) => void): void {
  let off = 0;
  while (off + NLMSG_HDRLEN <= data.length) {
    const len = data.readUInt32LE(off);
    if (len < NLMSG_HDRLEN || off + len > data.length) return;
    const ev = off + NLMSG_HDRLEN + CN_MSG_LEN;
    if (len >= NLMSG_HDRLEN + CN_MSG_LEN + PROC_EVENT_HDR + 16 && data.readUInt32LE(off + NLMSG_HDRLEN) === CN_IDX_PROC) {
      const what = data.readUInt32LE(ev);
      const d = ev + PROC_EVENT_HDR;
      if (what === PROC_EVENT_FORK) {
        const parentTgid = data.readUInt32LE(d + 4);
        const childPid = data.readUInt32LE(d + 8);
        const childTgid = data.readUInt32LE(d + 12);
        if (childPid === childTgid) onEvent({ kind: 'fork', parentPid: parentTgid, childPid });
      } else if (what === PROC_EVENT_EXIT) {
        const pid = data.readUInt32LE(d);
        const tgid = data.readUInt32LE(d + 4);
        if (pid === tgid) onEvent({ kind: 'exit', pid });
      }
    }
    off += (len + 3) & ~3;
  }
}
