import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ForkTree } from '../../../src/agent/workloadattestor/fork-tree.js';
import { createKernelLineage } from '../../../src/agent/workloadattestor/lineage.js';
import { parseProcEvents, type ProcEvent } from '../../../src/agent/workloadattestor/proc-connector.js';
import { internal } from '../../../src/common/errors.js';

/** Start times of a fake host: pid → start time (absent = gone). */
function host(start: Record<number, bigint>) {
  return { start, startTime: (pid: number) => start[pid] };
}

describe('ForkTree (fork lineage that reparenting cannot erase)', () => {
  it('keeps a double-forked child below the supervisor after the middle process exits', () => {
    const h = host({ 1: 1n, 100: 10n });
    const tree = new ForkTree(h.startTime);
    tree.seed([
      { pid: 1, ppid: 0, startTime: 1n },
      { pid: 100, ppid: 1, startTime: 10n }, // the supervisor
    ]);
    h.start[200] = 20n;
    tree.fork(100, 200); // worker
    h.start[300] = 30n;
    tree.fork(200, 300); // the worker's child
    delete h.start[200];
    tree.exit(200); // the worker exits: in /proc, 300's parent is now pid 1
    expect(tree.lineage(300, 30n)).toEqual({ ancestors: [{ pid: 100, startTime: 10n }, { pid: 1, startTime: 1n }], known: true });
  });

  it('forgets exited processes once no descendant lives, and never takes a reused pid for an ancestor', () => {
    const h = host({ 1: 1n, 100: 10n });
    const tree = new ForkTree(h.startTime);
    tree.seed([
      { pid: 1, ppid: 0, startTime: 1n },
      { pid: 100, ppid: 1, startTime: 10n },
    ]);
    h.start[200] = 20n;
    tree.fork(100, 200);
    h.start[300] = 30n;
    tree.fork(200, 300);
    expect(tree.size).toBe(4);
    tree.exit(100); // the supervisor exits; its pid is reused by a later process
    h.start[100] = 40n;
    tree.fork(1, 100);
    tree.exit(200);
    expect(tree.lineage(300, 30n).ancestors).toEqual([{ pid: 1, startTime: 1n }]);
    tree.exit(300);
    expect(tree.size).toBe(2); // pid 1 and the new pid 100
  });

  it('reports unknown lineage for a process whose fork it missed or whose pid shows another start time', () => {
    const h = host({ 1: 1n, 500: 50n });
    const tree = new ForkTree(h.startTime);
    tree.seed([{ pid: 1, ppid: 0, startTime: 1n }]);
    expect(tree.lineage(500, 50n).known).toBe(false); // never seen
    tree.fork(777, 500); // parent never seen (events lost)
    expect(tree.lineage(500, 50n).known).toBe(false);
    h.start[600] = 60n;
    tree.fork(1, 600);
    expect(tree.lineage(600, 60n).known).toBe(true); // the first look pins the start time
    expect(tree.lineage(600, 61n).known).toBe(false); // another process on the same pid: its fork was missed
  });

  it('after lost events, distrusts every node whose start time was never pinned, and only those', () => {
    const h = host({ 1: 1n, 700: 70n, 800: 80n });
    const tree = new ForkTree(h.startTime);
    tree.seed([{ pid: 1, ppid: 0, startTime: 1n }]);
    tree.fork(1, 700);
    tree.fork(1, 800);
    expect(tree.lineage(800, 80n).known).toBe(true);
    tree.lost(); // 700 may have exited and its pid been reused unseen
    expect(tree.lineage(700, 70n).known).toBe(false);
    expect(tree.lineage(800, 80n).known).toBe(true);
    h.start[900] = 90n;
    tree.fork(800, 900); // forks seen after the loss are trusted again
    expect(tree.lineage(900, 90n)).toEqual({ ancestors: [{ pid: 800, startTime: 80n }, { pid: 1, startTime: 1n }], known: true });
  });
});

describe('parseProcEvents', () => {
  function message(what: number, data: number[]): Buffer {
    const b = Buffer.alloc(16 + 20 + 16 + 24);
    b.writeUInt32LE(b.length, 0);
    b.writeUInt32LE(1, 16); // CN_IDX_PROC
    b.writeUInt32LE(1, 20);
    b.writeUInt32LE(what, 36);
    data.forEach((v, i) => b.writeUInt32LE(v, 52 + 4 * i));
    return b;
  }

  it('reads process forks and exits, skips threads, other events and truncated messages', () => {
    const events: ProcEvent[] = [];
    const data = Buffer.concat([
      message(0x1, [10, 10, 20, 20]), // fork of a process
      message(0x1, [10, 10, 21, 10]), // a thread
      message(0x2, [20, 20]), // exec
      message(0x80000000, [21, 10]), // a thread exits
      message(0x80000000, [20, 20]),
      message(0x1, [1, 1, 2, 2]).subarray(0, 30),
    ]);
    parseProcEvents(data, (e) => events.push(e));
    expect(events).toEqual([
      { kind: 'fork', parentPid: 10, childPid: 20 },
      { kind: 'exit', pid: 20 },
    ]);
  });
});

describe('createKernelLineage', () => {
  it('without the connector (not root) reports every lineage unknown', () => {
    const source = createKernelLineage({
      open: () => {
        throw internal('cannot subscribe to process events (errno 1; CAP_NET_ADMIN needed)');
      },
    });
    expect(source.tracking).toBe(false);
    expect(source.lineage({ pid: process.pid, startTime: 1n }).known).toBe(false);
  });

  it('as root (CAP_NET_ADMIN, like the agent), follows a real double fork whose middle process exited', async () => {
    const source = createKernelLineage();
    try {
      expect(source.tracking).toBe(true);
      // sh forks a background child and exits at once: the child is re-parented away from sh (and from us).
      const sh = spawn('/bin/sh', ['-c', 'sleep 30 & echo $!'], { stdio: ['ignore', 'pipe', 'ignore'] });
      const grandchild = Number(await new Promise<string>((resolve) => sh.stdout!.once('data', (d: Buffer) => resolve(d.toString()))));
      await new Promise((resolve) => sh.once('exit', resolve));
      try {
        const stat = readFileSync(`/proc/${grandchild}/stat`, 'latin1');
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        expect(Number(fields[1])).not.toBe(process.pid); // /proc no longer shows us as an ancestor
        const lineage = source.lineage({ pid: grandchild, startTime: BigInt(fields[19]!) });
        expect(lineage.known).toBe(true);
        expect(lineage.ancestors[0]!.pid).toBe(process.pid); // the kernel's fork events still do
      } finally {
        process.kill(grandchild, 'SIGKILL');
      }
    } finally {
      source.close();
    }
  });
});
