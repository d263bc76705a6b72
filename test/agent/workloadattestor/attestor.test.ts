import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, readlinkSync, realpathSync, rmSync, utimesSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AttestedProcess, CallerCredentials, WorkloadSelector } from '../../../src/agent/types.js';
import { createWorkloadAttestor } from '../../../src/agent/workloadattestor/attestor.js';
import { checkSelector } from '../../../src/common/selectors.js';
import { createBinaryHasher } from '../../../src/agent/workloadattestor/binary-hash.js';
import { closePidfd } from '../../../src/agent/workloadattestor/caller-credentials.js';
import { createExitWatcher } from '../../../src/agent/workloadattestor/exit-watcher.js';
import { createProcReader, type ProcReader } from '../../../src/agent/workloadattestor/proc.js';
import { eventually } from '../harness.js';
import {
  cgroupV2Path,
  codeOf,
  killAndReap,
  nameOfId,
  spawnConnectedChild,
  startPeerServer,
  statusGroups,
  type PeerServer,
} from './helpers.js';

const isRoot = process.getuid?.() === 0;
const nodePath = realpathSync(process.execPath);
const nodeSha256 = createHash('sha256').update(readFileSync(nodePath)).digest('hex');
const s = (sel: readonly WorkloadSelector[]): string[] => sel.map((x) => `${x.type}:${x.value}`);

function expectedSelectors(pid: number, uid: number, gid: number): string[] {
  const out = [`unix:uid:${uid}`];
  const user = nameOfId('/etc/passwd', uid);
  if (user) out.push(`unix:user:${user}`);
  out.push(`unix:gid:${gid}`);
  const group = nameOfId('/etc/group', gid);
  if (group) out.push(`unix:group:${group}`);
  const groups = [...new Set(statusGroups(pid))].sort((a, b) => a - b);
  for (const g of groups) out.push(`unix:supplementary_gid:${g}`);
  for (const g of groups) {
    const n = nameOfId('/etc/group', g);
    if (n) out.push(`unix:supplementary_group:${n}`);
  }
  out.push(`unix:path:${nodePath}`, `unix:sha256:${nodeSha256}`);
  const cg = cgroupV2Path(pid);
  if (cg !== undefined) {
    out.push(`cgroup:path:${cg}`);
    const unit = cg.split('/').find((seg) => seg.endsWith('.service') || seg.endsWith('.scope'));
    if (unit) out.push(`systemd:unit:${unit}`);
  }
  return out;
}

function startTimeOf(pid: number): bigint {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return BigInt(text.slice(text.lastIndexOf(')') + 2).split(' ')[19]!);
}

describe('workload attestor on real processes', () => {
  let server: PeerServer;
  const dir = mkdtempSync(join(tmpdir(), 'tessera-attest-'));
  beforeAll(async () => {
    server = await startPeerServer();
  });
  afterAll(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('attests this process from its own connection', async () => {
    const attestor = createWorkloadAttestor();
    const client = net.connect(server.path);
    await new Promise<void>((resolve) => client.once('connect', resolve));
    const { caller } = await server.accepted(process.pid);
    expect(caller.pidfd).toBeDefined();
    const attested = await attestor.attest(caller);
    expect(attested.pid).toBe(process.pid);
    expect(attested.ppid).toBe(process.ppid);
    expect(attested.startTime).toBe(startTimeOf(process.pid));
    expect(s(attested.selectors)).toEqual(expectedSelectors(process.pid, process.geteuid!(), process.getegid!()));
    client.destroy();
  });

  it('emits only selectors the registry (src/common/selectors.ts) accepts, so an entry can name each one', async () => {
    const attestor = createWorkloadAttestor();
    const client = net.connect(server.path);
    await new Promise<void>((resolve) => client.once('connect', resolve));
    const { caller } = await server.accepted(process.pid);
    const attested = await attestor.attest(caller);
    client.destroy();
    const refused = attested.selectors
      .map((x) => ({ text: `${x.type}:${x.value}`, check: checkSelector(x.type, x.value) }))
      .filter((r) => !r.check.ok || r.check.form.kind !== 'workload');
    expect(refused).toEqual([]);
    expect(attested.selectors.length).toBeGreaterThanOrEqual(4);
  });

  it('attests a child process that connected', async () => {
    const attestor = createWorkloadAttestor();
    const child = await spawnConnectedChild(server.path);
    try {
      const { caller } = await server.accepted(child.pid);
      expect(caller).toMatchObject({ pid: child.pid, uid: process.geteuid!(), gid: process.getegid!() });
      expect(caller.pidfd).toBeDefined();
      const attested = await attestor.attest(caller);
      expect(attested.pid).toBe(child.pid);
      expect(attested.ppid).toBe(process.pid);
      expect(attested.startTime).toBe(startTimeOf(child.pid));
      const selectors = s(attested.selectors);
      expect(selectors).toEqual(expectedSelectors(child.pid, caller.uid, caller.gid));
      expect(selectors).toContain(`unix:path:${nodePath}`);
      expect(selectors).toContain(`unix:sha256:${nodeSha256}`);
      expect(selectors).toContain(`cgroup:path:${cgroupV2Path(child.pid)}`);
    } finally {
      await killAndReap(child);
    }
  });

  it(`attests a child of another uid (${isRoot ? 'root: runs as 65534' : 'not root: runs as us'})`, async () => {
    const attestor = createWorkloadAttestor();
    const ids = isRoot ? { uid: 65534, gid: 65534 } : undefined;
    const child = await spawnConnectedChild(server.path, ids);
    try {
      const { caller } = await server.accepted(child.pid);
      const uid = isRoot ? 65534 : process.geteuid!();
      const gid = isRoot ? 65534 : process.getegid!();
      expect(caller).toMatchObject({ pid: child.pid, uid, gid });
      const selectors = s((await attestor.attest(caller)).selectors);
      expect(selectors).toEqual(expectedSelectors(child.pid, uid, gid));
      expect(selectors).toContain(`unix:uid:${uid}`);
      const user = nameOfId('/etc/passwd', uid);
      if (user !== undefined) expect(selectors).toContain(`unix:user:${user}`);
      if (isRoot) expect(selectors.filter((x) => x.startsWith('unix:supplementary_gid:'))).toEqual([]);
    } finally {
      await killAndReap(child);
    }
  });

  it('uses the peer credentials when /proc says the ids changed after connect', async () => {
    const real = createProcReader();
    const proc: ProcReader = {
      ...real,
      status: (pid) => ({ ...real.status(pid), uids: [4321, 4321, 4321, 4321], gids: [4321, 4321, 4321, 4321] }),
    };
    const attestor = createWorkloadAttestor({ proc });
    const attested = await attestor.attest({ pid: process.pid, uid: 0, gid: 0 });
    expect(s(attested.selectors)).toContain('unix:uid:0');
    expect(s(attested.selectors)).not.toContain('unix:uid:4321');
  });

  it('refuses a caller whose pid belongs to a process that has exited (no pidfd)', async () => {
    const attestor = createWorkloadAttestor();
    const child = spawn('sleep', ['60'], { stdio: 'ignore' });
    const caller: CallerCredentials = { pid: child.pid!, uid: process.geteuid!(), gid: process.getegid!() };
    await killAndReap(child);
    expect(await codeOf(attestor.attest(caller))).toBe('PERMISSION_DENIED');
  });

  it('refuses a caller whose pidfd says its process exited (even if the pid were reused)', async () => {
    const attestor = createWorkloadAttestor();
    const child = await spawnConnectedChild(server.path);
    const { caller } = await server.accepted(child.pid);
    // Keep our own pidfd (the connection's is closed with it when the child dies). The pid in the credentials is
    // replaced by ours to model "the pid now names a live process": only the pidfd can tell it is not the caller.
    const { libc } = await import('../../../src/agent/workloadattestor/libc.js');
    const pidfd = libc().dupCloexec(caller.pidfd!);
    await killAndReap(child);
    expect(await codeOf(attestor.attest({ ...caller, pidfd }))).toBe('PERMISSION_DENIED');
    // A pidfd that says -1 refuses even a pid that is alive.
    const reused = createWorkloadAttestor({ pidfdPid: (fd) => (fd === pidfd ? -1 : undefined) });
    expect(await codeOf(reused.attest({ pid: process.pid, uid: 0, gid: 0, pidfd }))).toBe('PERMISSION_DENIED');
    closePidfd(pidfd);
  });

  it('refuses when the pidfd says reaped once the selectors are read (checked after the reads)', async () => {
    let calls = 0;
    const attestor = createWorkloadAttestor({
      pidfdPid: () => {
        calls++;
        return -1;
      },
    });
    const err = await attestor.attest({ pid: process.pid, uid: 0, gid: 0, pidfd: 12345 }).catch((e: unknown) => e);
    expect((err as { code: string }).code).toBe('PERMISSION_DENIED');
    expect(calls).toBe(1);
  });

  it('refuses a process whose start time changes during attestation (injected /proc reader)', async () => {
    const real = createProcReader();
    let statCalls = 0;
    const proc: ProcReader = {
      ...real,
      stat: (pid) => {
        const st = real.stat(pid);
        return ++statCalls === 1 ? st : { ...st, startTime: st.startTime + 1n };
      },
    };
    const attestor = createWorkloadAttestor({ proc });
    const err = await attestor.attest({ pid: process.pid, uid: 0, gid: 0 }).catch((e: unknown) => e);
    expect((err as { code: string }).code).toBe('PERMISSION_DENIED');
    expect((err as Error).message).toMatch(/process changed during attestation \(pid reuse\?\)/);
    expect(statCalls).toBe(2);
  });

  it('refuses a zombie, and pid 0; unreadable facts are UNAVAILABLE', async () => {
    const real = createProcReader();
    const zombie = createWorkloadAttestor({ proc: { ...real, stat: (pid) => ({ ...real.stat(pid), state: 'Z' }) } });
    expect(await codeOf(zombie.attest({ pid: process.pid, uid: 0, gid: 0 }))).toBe('PERMISSION_DENIED');
    expect(await codeOf(createWorkloadAttestor().attest({ pid: 0, uid: 0, gid: 0 }))).toBe('PERMISSION_DENIED');
    const broken = createWorkloadAttestor({
      proc: {
        ...real,
        cgroup: () => {
          throw Object.assign(new Error('EMFILE'), { code: 'EMFILE' });
        },
      },
    });
    expect(await codeOf(broken.attest({ pid: process.pid, uid: 0, gid: 0 }))).toBe('UNAVAILABLE');
    // An agent that may not read another user's binary: no path/sha256 selectors, the rest still there.
    const denied = createWorkloadAttestor({
      proc: {
        ...real,
        exe: () => {
          throw Object.assign(new Error('EACCES'), { code: 'EACCES' });
        },
      },
    });
    const sel = s((await denied.attest({ pid: process.pid, uid: 0, gid: 0 })).selectors);
    expect(sel).toContain('unix:uid:0');
    expect(sel.some((x) => x.startsWith('unix:path:') || x.startsWith('unix:sha256:'))).toBe(false);
  });

  it('hashes a binary once: a second attestation of the same binary does not re-read it', async () => {
    const hasher = createBinaryHasher();
    const attestor = createWorkloadAttestor({ hasher });
    const a = await attestor.attest({ pid: process.pid, uid: 0, gid: 0 });
    expect(hasher.stats()).toMatchObject({ misses: 1, hits: 0 });
    const statSize = readFileSync(nodePath).length;
    expect(hasher.stats().bytesHashed).toBe(statSize);
    const child = await spawnConnectedChild(server.path);
    try {
      const b = await attestor.attest((await server.accepted(child.pid)).caller);
      expect(hasher.stats()).toMatchObject({ misses: 1, hits: 1, bytesHashed: statSize });
      expect(s(b.selectors)).toContain(`unix:sha256:${nodeSha256}`);
      expect(s(a.selectors)).toContain(`unix:sha256:${nodeSha256}`);
    } finally {
      await killAndReap(child);
    }
    // Concurrent attestations of a new binary share one read.
    const hasher2 = createBinaryHasher();
    const attestor2 = createWorkloadAttestor({ hasher: hasher2 });
    await Promise.all(Array.from({ length: 5 }, () => attestor2.attest({ pid: process.pid, uid: 0, gid: 0 })));
    expect(hasher2.stats()).toMatchObject({ misses: 1, hits: 4 });
  });

  it('re-hashes when the inode or its times change', async () => {
    const hasher = createBinaryHasher();
    const bin = join(dir, 'sleeper');
    copyFileSync(realpathSync('/bin/sleep'), bin);
    const want = createHash('sha256').update(readFileSync(bin)).digest('hex');
    const run = async (): Promise<string | undefined> => {
      const child = spawn(bin, ['60'], { stdio: 'ignore' });
      await once(child, 'spawn'); // emitted once exec succeeded: /proc/<pid>/exe is the binary
      try {
        return await hasher.sha256OfExe(child.pid!);
      } finally {
        await killAndReap(child);
      }
    };
    expect(await run()).toBe(want);
    expect(await run()).toBe(want);
    expect(hasher.stats()).toMatchObject({ misses: 1, hits: 1 });
    utimesSync(bin, new Date(), new Date(2000, 0, 1));
    expect(await run()).toBe(want);
    expect(hasher.stats()).toMatchObject({ misses: 2, hits: 1 });
    copyFileSync(bin, `${bin}.2`);
    rmSync(bin);
    copyFileSync(`${bin}.2`, bin);
    expect(await run()).toBe(want);
    expect(hasher.stats()).toMatchObject({ misses: 3 });
  });

  it('watchExit resolves soon after a pidfd-pinned child exits, also once its connection closed it', async () => {
    const attestor = createWorkloadAttestor();
    const child = await spawnConnectedChild(server.path);
    const { caller } = await server.accepted(child.pid);
    const attested = await attestor.attest(caller);
    let exitedAt = 0;
    const watching = attestor.watchExit(caller, attested, new AbortController().signal).then(() => {
      exitedAt = performance.now();
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(exitedAt).toBe(0);
    const killedAt = performance.now();
    await killAndReap(child); // its exit closes the connection, which closes caller.pidfd: the watch has its own
    await watching;
    const ms = exitedAt - killedAt;
    console.log(`[workload-attestor] exit noticed after ${ms.toFixed(0)} ms (pidfd)`);
  });

  it('watchExit without a pidfd notices the exit from /proc', async () => {
    const attestor = createWorkloadAttestor();
    const child = await spawnConnectedChild(server.path);
    const { caller } = await server.accepted(child.pid);
    const bare: CallerCredentials = { pid: caller.pid, uid: caller.uid, gid: caller.gid };
    const attested = await attestor.attest(bare);
    let done = false;
    const watching = attestor.watchExit(bare, attested, new AbortController().signal).then(() => {
      done = true;
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(done).toBe(false);
    const killedAt = performance.now();
    await killAndReap(child);
    await watching;
    const ms = performance.now() - killedAt;
    console.log(`[workload-attestor] exit noticed after ${ms.toFixed(0)} ms (/proc stat)`);
  });

  it('watchExit ends on abort, and one shared timer serves all watches', async () => {
    const watcher = createExitWatcher({ proc: createProcReader(), intervalMs: 50 });
    const attestor = createWorkloadAttestor({ exitWatcher: watcher });
    const client = net.connect(server.path);
    await new Promise<void>((resolve) => client.once('connect', resolve));
    const { caller } = await server.accepted(process.pid);
    const attested: AttestedProcess = await attestor.attest(caller);
    const controllers = Array.from({ length: 20 }, () => new AbortController());
    const all = controllers.map((c) => attestor.watchExit(caller, attested, c.signal));
    expect(watcher.size()).toBe(20);
    await new Promise((r) => setTimeout(r, 120));
    expect(watcher.size()).toBe(20);
    for (const c of controllers) c.abort();
    await Promise.all(all);
    expect(watcher.size()).toBe(0);
    const aborted = new AbortController();
    aborted.abort();
    await attestor.watchExit(caller, attested, aborted.signal);
    client.destroy();
  });

  it('measures attestations/s of an already hashed binary (logged, no timing assertion)', async () => {
    const attestor = createWorkloadAttestor();
    const child = await spawnConnectedChild(server.path);
    try {
      const { caller } = await server.accepted(child.pid);
      await attestor.attest(caller);
      const until = performance.now() + 500;
      let n = 0;
      while (performance.now() < until) {
        await attestor.attest(caller);
        n++;
      }
      console.log(`[workload-attestor] ${Math.round(n / 0.5)} attestations/s (sequential, sha256 cached)`);
      expect(n).toBeGreaterThan(0);
    } finally {
      await killAndReap(child);
    }
  });

  it('recheck passes for the same process and refuses it once it exec\'d another binary (exe dev/ino)', async () => {
    const attestor = createWorkloadAttestor();
    // A shell that connects nothing itself: the caller credentials are its pid; it execs sleep when told to.
    const child = spawn('sh', ['-c', 'read x; exec sleep 60'], { stdio: ['pipe', 'ignore', 'ignore'] });
    try {
      const caller: CallerCredentials = { pid: child.pid!, uid: process.geteuid!(), gid: process.getegid!() };
      const bound = await attestor.attest(caller);
      expect(bound.exe).toBeDefined();
      expect(() => attestor.recheck(caller, bound)).not.toThrow();
      const shell = readlinkSync(`/proc/${child.pid!}/exe`);
      child.stdin!.write('go\n');
      await eventually(() => readlinkSync(`/proc/${child.pid!}/exe`) !== shell, 5_000, 'exec');
      const err = (() => {
        try {
          attestor.recheck(caller, bound);
        } catch (e) {
          return e as { code: string; message: string };
        }
        return undefined;
      })();
      expect(err?.code).toBe('PERMISSION_DENIED');
      expect(err?.message).toMatch(/runs another binary than when it was attested \(exec\)/);
      // A first attestation of a connection whose peer exec'd since accept is refused too.
      expect(await codeOf(attestor.attest({ ...caller, exe: bound.exe! }))).toBe('PERMISSION_DENIED');
      // The same pid attested afresh (no accept-time binary to compare) is the new program, and says so.
      const now = await attestor.attest(caller);
      expect(s(now.selectors)).toContain(`unix:path:${realpathSync('/usr/bin/sleep')}`);
    } finally {
      await killAndReap(child);
    }
  });

  it('recheck refuses a process moved to another cgroup, and one that exited', async () => {
    const real = createProcReader();
    let cgroup: string | undefined = '/moved.slice/x.scope';
    const attestor = createWorkloadAttestor({ proc: { ...real, cgroup: (pid) => cgroup ?? real.cgroup(pid) } });
    const child = await spawnConnectedChild(server.path);
    const { caller } = await server.accepted(child.pid);
    const bound = await attestor.attest(caller);
    cgroup = undefined;
    expect(() => attestor.recheck(caller, bound)).toThrow(/moved from cgroup "\/moved.slice\/x.scope"/);
    const { libc } = await import('../../../src/agent/workloadattestor/libc.js');
    const pidfd = libc().dupCloexec(caller.pidfd!);
    await killAndReap(child);
    expect(() => attestor.recheck({ ...caller, pidfd }, { ...bound, cgroup: real.cgroup(process.pid)! })).toThrow(
      /caller process exited/,
    );
    closePidfd(pidfd);
  });

  it('offers unix:path for a process in another mount namespace only when the path is the same inode here', async () => {
    const attestor = createWorkloadAttestor();
    const spoofed = spawn(
      'unshare',
      ['-Urm', 'sh', '-c', 'mount --bind "$1" /usr/bin/sleep && exec /usr/bin/sleep -e "setTimeout(() => {}, 60000)"', 'sh', nodePath],
      { stdio: 'ignore' },
    );
    const honest = spawn('unshare', ['-Urm', nodePath, '-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
    try {
      await eventually(() => readlinkSync(`/proc/${spoofed.pid!}/exe`) === '/usr/bin/sleep', 5_000, 'spoofed exec');
      await eventually(() => readlinkSync(`/proc/${honest.pid!}/exe`) === nodePath, 5_000, 'honest exec');
      const bad = s((await attestor.attest({ pid: spoofed.pid!, uid: 0, gid: 0 })).selectors);
      expect(bad.filter((x) => x.startsWith('unix:path:'))).toEqual([]);
      // What it really runs still shows, by content.
      expect(bad).toContain(`unix:sha256:${nodeSha256}`);
      const good = s((await attestor.attest({ pid: honest.pid!, uid: 0, gid: 0 })).selectors);
      expect(good).toContain(`unix:path:${nodePath}`);
    } finally {
      await Promise.all([killAndReap(spoofed), killAndReap(honest)]);
    }
  });

  it('hashes only when asked (wantSha256) and never a binary over the size limit', async () => {
    const hasher = createBinaryHasher({ maxBytes: 1024 });
    const attestor = createWorkloadAttestor({ hasher });
    const seen: string[][] = [];
    const skipped = await attestor.attest({ pid: process.pid, uid: 0, gid: 0 }, {
      wantSha256: (sel) => {
        seen.push(s(sel));
        return false;
      },
    });
    expect(skipped.sha256Tried).toBe(false);
    expect(s(skipped.selectors).some((x) => x.startsWith('unix:sha256:'))).toBe(false);
    // The predicate saw every other selector.
    expect(seen[0]).toEqual(s(skipped.selectors));
    const tooBig = await attestor.attest({ pid: process.pid, uid: 0, gid: 0 }, { wantSha256: () => true });
    expect(tooBig.sha256Tried).toBe(true);
    expect(s(tooBig.selectors).some((x) => x.startsWith('unix:sha256:'))).toBe(false);
    expect(hasher.stats()).toMatchObject({ misses: 0, bytesHashed: 0, tooLarge: 1 });
  });

  it('measures a per-call recheck against a full attestation (logged, no timing assertion)', async () => {
    const attestor = createWorkloadAttestor();
    const child = await spawnConnectedChild(server.path);
    try {
      const { caller } = await server.accepted(child.pid);
      const bound = await attestor.attest(caller);
      const rate = async (fn: () => unknown): Promise<number> => {
        const until = performance.now() + 500;
        let n = 0;
        while (performance.now() < until) {
          await fn();
          n++;
        }
        return n / 0.5;
      };
      const full = await rate(() => attestor.attest(caller));
      const recheck = await rate(() => attestor.recheck(caller, bound));
      const us = (perSecond: number): string => (1e6 / perSecond).toFixed(1);
      console.log(
        `[workload-attestor] full attestation ${Math.round(full)}/s (${us(full)} µs), recheck ${Math.round(recheck)}/s (${us(recheck)} µs)`,
      );
      expect(recheck).toBeGreaterThan(0);
    } finally {
      await killAndReap(child);
    }
  });
});
