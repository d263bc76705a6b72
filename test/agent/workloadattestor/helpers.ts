import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CallerCredentials } from '../../../src/agent/types.js';
import {
  closePidfd,
  createCallerCredentialsReader,
  socketFd,
} from '../../../src/agent/workloadattestor/caller-credentials.js';

/** A Unix socket server in a fresh temp dir that reads each accepted connection's peer credentials. */
export interface PeerServer {
  readonly path: string;
  readonly dir: string;
  /** Resolves with the next not yet taken accepted connection whose peer pid is `pid`. */
  accepted(pid: number): Promise<Accepted>;
  close(): Promise<void>;
}

export interface Accepted {
  readonly socket: net.Socket;
  readonly caller: CallerCredentials;
}

export async function startPeerServer(): Promise<PeerServer> {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-wla-'));
  // Reachable by a child running as another user (nobody).
  chmodSync(dir, 0o755);
  const path = join(dir, 'peer.sock');
  const reader = createCallerCredentialsReader();
  const seen: Accepted[] = [];
  const waiters: Array<{ pid: number; resolve: (a: Accepted) => void }> = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    const caller = reader.read(socketFd(socket));
    // As the Workload API listener does: the connection owns the pidfd and closes it with itself.
    socket.once('close', () => {
      sockets.delete(socket);
      if (caller.pidfd !== undefined) closePidfd(caller.pidfd);
    });
    const a = { socket, caller };
    const w = waiters.findIndex((x) => x.pid === caller.pid);
    if (w >= 0) waiters.splice(w, 1)[0]!.resolve(a);
    else seen.push(a);
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  chmodSync(path, 0o777);
  return {
    path,
    dir,
    accepted(pid) {
      const i = seen.findIndex((a) => a.caller.pid === pid && !a.socket.destroyed);
      if (i >= 0) return Promise.resolve(seen.splice(i, 1)[0]!);
      return new Promise((resolve) => waiters.push({ pid, resolve }));
    },
    async close() {
      const closing = [...sockets].map((s) => new Promise<void>((resolve) => s.once('close', () => resolve())));
      for (const s of sockets) s.destroy();
      await Promise.all(closing);
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A `node -e` child that connects to `path` and stays alive until killed. Resolves once it has connected. */
export async function spawnConnectedChild(
  path: string,
  ids?: { uid: number; gid: number },
): Promise<ChildProcess & { pid: number }> {
  const script = `
    const s = require('node:net').connect(process.argv[1], () => process.stdout.write('connected\\n'));
    s.on('error', (e) => { console.error(e); process.exit(2); });
    setInterval(() => {}, 1 << 30);`;
  const child = spawn(process.execPath, ['-e', script, path], {
    stdio: ['ignore', 'pipe', 'inherit'],
    cwd: '/',
    ...(ids ?? {}),
  });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('connected')) resolve();
    });
    child.once('exit', (code, sig) => reject(new Error(`child exited early (${code ?? sig})`)));
    child.once('error', reject);
  });
  return child as ChildProcess & { pid: number };
}

/** Kills `child` and waits until Node has reaped it. */
export async function killAndReap(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGKILL');
  await exited;
}

/** Independent parses for expectations (deliberately not the code under test). */
export function cgroupV2Path(pid: number): string | undefined {
  const m = /^0::(.*)$/m.exec(readFileSync(`/proc/${pid}/cgroup`, 'utf8'));
  return m?.[1];
}

export function nameOfId(file: '/etc/passwd' | '/etc/group', id: number): string | undefined {
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const f = line.split(':');
    if (f.length >= 3 && f[2] === String(id) && !line.startsWith('#')) return f[0];
  }
  return undefined;
}

export function statusGroups(pid: number): number[] {
  const m = /^Groups:[ \t]*(.*)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  const v = (m?.[1] ?? '').trim();
  return v === '' ? [] : v.split(/\s+/).map(Number);
}

export async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    throw err;
  }
  return 'OK';
}
