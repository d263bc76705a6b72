import { closeSync, openSync, readFileSync } from 'node:fs';
import * as net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  closePidfd,
  createCallerCredentialsReader,
  socketFd,
} from '../../../src/agent/workloadattestor/caller-credentials.js';
import {
  EINVAL,
  ENOPROTOOPT,
  ENOSYS,
  ESRCH,
  libc,
  SO_PEERCRED,
  SO_PEERPIDFD,
  SOL_SOCKET,
  type Libc,
} from '../../../src/agent/workloadattestor/libc.js';
import { pidfdPid } from '../../../src/agent/workloadattestor/pidfd.js';
import { killAndReap, spawnConnectedChild, startPeerServer, type PeerServer } from './helpers.js';

const isRoot = process.getuid?.() === 0;
/** Fake pids (4242…) may name some real process on this machine: never stat its binary. */
const noExe = (): never => {
  throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
};

describe('caller credentials (SO_PEERCRED / SO_PEERPIDFD through koffi)', () => {
  let server: PeerServer;
  beforeAll(async () => {
    server = await startPeerServer();
  });
  afterAll(async () => {
    await server.close();
  });

  it('reads pid, uid, gid and a pidfd of a connection from this process', async () => {
    const client = net.connect(server.path);
    await new Promise<void>((resolve) => client.once('connect', resolve));
    const { caller } = await server.accepted(process.pid);
    expect(caller.pid).toBe(process.pid);
    expect(caller.uid).toBe(process.geteuid!());
    expect(caller.gid).toBe(process.getegid!());
    expect(caller.pidfd).toBeGreaterThanOrEqual(0);
    expect(pidfdPid(caller.pidfd!)).toBe(process.pid);
    // pidfds are close-on-exec (O_CLOEXEC = 02000000 in fdinfo flags).
    const flags = /^flags:\s*(\d+)/m.exec(readFileSync(`/proc/self/fdinfo/${caller.pidfd}`, 'utf8'))![1]!;
    expect(parseInt(flags, 8) & 0o2000000).not.toBe(0);
    client.destroy();
  });

  it('reads the credentials of a child process that connected', async () => {
    const child = await spawnConnectedChild(server.path);
    try {
      const { caller } = await server.accepted(child.pid);
      expect(caller.pid).toBe(child.pid);
      expect(caller.uid).toBe(process.geteuid!());
      expect(caller.gid).toBe(process.getegid!());
      expect(pidfdPid(caller.pidfd!)).toBe(child.pid);
    } finally {
      await killAndReap(child);
    }
  });

  const asWho = isRoot ? 'root: child runs as 65534' : 'not root: child runs as us';
  it(`reads another uid's credentials (${asWho})`, async () => {
    const ids = isRoot ? { uid: 65534, gid: 65534 } : undefined;
    const child = await spawnConnectedChild(server.path, ids);
    try {
      const { caller } = await server.accepted(child.pid);
      expect(caller.pid).toBe(child.pid);
      expect(caller.uid).toBe(isRoot ? 65534 : process.geteuid!());
      expect(caller.gid).toBe(isRoot ? 65534 : process.getegid!());
      expect(pidfdPid(caller.pidfd!)).toBe(child.pid);
    } finally {
      await killAndReap(child);
    }
  });

  it('the pidfd reports -1 once the peer has exited and been reaped', async () => {
    const child = await spawnConnectedChild(server.path);
    const { caller } = await server.accepted(child.pid);
    // Our own copy: the connection closes its pidfd when the child's exit closes the socket.
    const dup = libc().dupCloexec(caller.pidfd!);
    expect(pidfdPid(dup)).toBe(child.pid);
    await killAndReap(child);
    expect(pidfdPid(dup)).toBe(-1);
    closePidfd(dup);
  });

  it('fails clearly on a file descriptor that is not a socket', () => {
    const reader = createCallerCredentialsReader();
    const fd = openSync('/dev/null', 'r');
    try {
      expect(() => reader.read(fd)).toThrow(/SO_PEERCRED/);
    } finally {
      closeSync(fd);
    }
    expect(() => reader.read(-1)).toThrow(/not a file descriptor/);
  });

  it('socketFd throws when the socket has no handle; closePidfd closes once', async () => {
    expect(() => socketFd(new net.Socket())).toThrow(/no handle/);
    const client = net.connect(server.path);
    await new Promise<void>((resolve) => client.once('connect', resolve));
    expect(socketFd(client)).toBeGreaterThanOrEqual(0);
    expect(socketFd((await server.accepted(process.pid)).socket)).toBeGreaterThanOrEqual(0);
    const pidfd = libc().pidfdOpen(process.pid);
    expect(pidfd).toBeGreaterThanOrEqual(0);
    closePidfd(pidfd);
    expect(() => closePidfd(pidfd)).toThrow(/EBADF/);
    client.destroy();
  });

  it('measures getsockopt calls/s (logged, no timing assertion)', async () => {
    const client = net.connect(server.path);
    await new Promise<void>((resolve) => client.once('connect', resolve));
    const { socket } = await server.accepted(process.pid);
    const fd = socketFd(socket);
    const c = libc();
    const buf = Buffer.alloc(12);
    const len: [number] = [12];
    const rate = (fn: () => void): number => {
      const until = performance.now() + 300;
      let n = 0;
      while (performance.now() < until) {
        for (let i = 0; i < 100; i++) fn();
        n += 100;
      }
      return Math.round(n / 0.3);
    };
    const peercred = rate(() => {
      len[0] = 12;
      c.getsockopt(fd, SOL_SOCKET, SO_PEERCRED, buf, len);
    });
    const peerpidfd = rate(() => {
      len[0] = 4;
      c.getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, buf, len);
      c.close(buf.readInt32LE(0));
    });
    const reader = createCallerCredentialsReader();
    const read = rate(() => closePidfd(reader.read(fd).pidfd!));
    console.log(
      `[caller-credentials] SO_PEERCRED ${peercred} calls/s; SO_PEERPIDFD+close ${peerpidfd} calls/s; ` +
        `reader.read (both)+close ${read} calls/s`,
    );
    expect(read).toBeGreaterThan(0);
    client.destroy();
  });
});

/** Fallback paths this kernel (≥ 6.5) never takes: a fake libc whose SO_PEERPIDFD fails as told. */
describe('caller credentials fallbacks (fake libc)', () => {
  function fakeLibc(peerPidfdErrno: number | undefined, pidfdOpen: number | 'ENOSYS'): Libc & { opens: number } {
    let errno = 0;
    const fake = {
      opens: 0,
      getsockopt(_fd: number, _level: number, optname: number, optval: Buffer, optlen: [number]) {
        if (optname === SO_PEERCRED) {
          optval.writeInt32LE(4242, 0);
          optval.writeUInt32LE(1000, 4);
          optval.writeUInt32LE(1001, 8);
          optlen[0] = 12;
          return 0;
        }
        if (peerPidfdErrno !== undefined) {
          errno = peerPidfdErrno;
          return -1;
        }
        optval.writeInt32LE(77, 0);
        return 0;
      },
      pidfdOpen() {
        fake.opens++;
        if (pidfdOpen === 'ENOSYS') {
          errno = ENOSYS;
          return -1;
        }
        return pidfdOpen;
      },
      dupCloexec: () => -1,
      poll: () => 0,
      close: () => 0,
      errno: () => errno,
    };
    return fake;
  }

  it('uses SO_PEERPIDFD when the kernel has it', () => {
    const reader = createCallerCredentialsReader({ libc: fakeLibc(undefined, 99), exeFile: noExe });
    expect(reader.read(5)).toEqual({ pid: 4242, uid: 1000, gid: 1001, pidfd: 77 });
    expect(reader.lastPidfdSource()).toBe('peer');
  });

  it.each([ENOPROTOOPT, EINVAL])('falls back to pidfd_open when SO_PEERPIDFD is unknown (errno %i)', (errno) => {
    const c = fakeLibc(errno, 99);
    const reader = createCallerCredentialsReader({ libc: c, exeFile: noExe });
    expect(reader.read(5)).toEqual({ pid: 4242, uid: 1000, gid: 1001, pidfd: 99 });
    expect(reader.lastPidfdSource()).toBe('pidfd_open');
    reader.read(5);
    expect(c.opens).toBe(2);
  });

  it('has no pidfd when pidfd_open does not exist either, and stops asking', () => {
    const c = fakeLibc(ENOPROTOOPT, 'ENOSYS');
    const reader = createCallerCredentialsReader({ libc: c, exeFile: noExe });
    expect(reader.read(5)).toEqual({ pid: 4242, uid: 1000, gid: 1001 });
    expect(reader.lastPidfdSource()).toBe('none');
    reader.read(5);
    expect(c.opens).toBe(1);
  });

  it('refuses (no pidfd_open fallback) when SO_PEERPIDFD says the peer is gone', () => {
    const c = fakeLibc(ESRCH, 99);
    const reader = createCallerCredentialsReader({ libc: c, exeFile: noExe });
    expect(() => reader.read(5)).toThrow(/SO_PEERPIDFD/);
    expect(c.opens).toBe(0);
  });
});
