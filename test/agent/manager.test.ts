import { performance } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { permissionDenied, TesseraError, unavailable } from '../../src/common/errors.js';
import { silentLogger } from '../../src/common/log.js';
import { SpiffeId } from '../../src/spiffe/id/index.js';
import { BatchSigner, type SignedSvid, type SignRequest } from '../../src/agent/client/batch-signer.js';
import { WorkloadManager, type RoleConflictEvent, type WorkloadManagerOptions } from '../../src/agent/manager/manager.js';
import type { AgentEntry } from '../../src/agent/state.js';
import type {
  AttestedProcess,
  AttestOptions,
  CallerCredentials,
  ConnectionBinding,
  WorkloadAttestor,
  WorkloadSelector,
} from '../../src/agent/types.js';
import { createTestAuthority, type TestAuthority } from '../helpers/test-authority.js';
import { fakeClock } from '../helpers/fake-clock.js';
import { captureLogger } from '../helpers/log-capture.js';

/** Processes by pid; exit(pid) ends their watch. */
class FakeAttestor implements WorkloadAttestor {
  readonly procs = new Map<number, { startTime: bigint; selectors: WorkloadSelector[] }>();
  readonly #exits = new Map<number, () => void>();
  attests = 0;
  rechecks = 0;
  /** The wantSha256 answers of each attestation's options. */
  readonly wantSha256: boolean[] = [];

  set(pid: number, selectors: string[], startTime = 1000n): void {
    this.procs.set(pid, {
      startTime,
      selectors: selectors.map((s) => {
        const i = s.indexOf(':');
        return { type: s.slice(0, i), value: s.slice(i + 1) };
      }),
    });
  }

  async attest(caller: CallerCredentials, options: AttestOptions = {}): Promise<AttestedProcess> {
    this.attests++;
    const p = this.procs.get(caller.pid);
    if (p && options.wantSha256) this.wantSha256.push(options.wantSha256(p.selectors));
    if (!p) throw permissionDenied('caller process exited before attestation');
    return { pid: caller.pid, startTime: p.startTime, selectors: p.selectors, ppid: 1, sha256Tried: true };
  }

  recheck(caller: CallerCredentials, bound: AttestedProcess): void {
    this.rechecks++;
    const p = this.procs.get(caller.pid);
    if (!p || p.startTime !== bound.startTime) throw permissionDenied('caller process exited');
  }

  watchExit(caller: CallerCredentials, _p: AttestedProcess, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      this.#exits.set(caller.pid, resolve);
      signal.addEventListener('abort', () => resolve(), { once: true });
    });
  }

  exit(pid: number): void {
    this.procs.delete(pid);
    this.#exits.get(pid)?.();
  }
}

let nextCreated = 1;
function entry(id: string, spiffeId: string, selectors: string[], extra: Partial<AgentEntry> = {}): AgentEntry {
  return {
    id,
    spiffeId,
    parentId: 'spiffe://example.org/tessera/agent/x',
    selectors: selectors.map((s) => {
      const i = s.indexOf(':');
      return { type: s.slice(0, i), value: s.slice(i + 1) };
    }),
    role: 'worker',
    x509SvidTtlSeconds: 0,
    jwtSvidTtlSeconds: 0,
    dnsNames: [],
    federatesWith: [],
    hint: '',
    admin: false,
    expiresAt: 0,
    revision: 1,
    createdAt: nextCreated++,
    ...extra,
  };
}

interface Setup {
  manager: WorkloadManager;
  attestor: FakeAttestor;
  authority: TestAuthority;
  signed: SignRequest[];
  batches: number[];
  sync(entries: AgentEntry[]): void;
  failSigning(err: Error | undefined): void;
}

async function setup(options: { batch?: boolean; manager?: Partial<WorkloadManagerOptions> } = {}): Promise<Setup> {
  const authority = await createTestAuthority();
  const attestor = new FakeAttestor();
  const signed: SignRequest[] = [];
  const batches: number[] = [];
  let failure: Error | undefined;
  let entries: AgentEntry[] = [];
  const signOne = (r: SignRequest): SignedSvid => {
    signed.push(r);
    const e = entries.find((x) => x.id === r.entryId)!;
    const id = e.spiffeId.replaceAll('{instance}', r.instanceId);
    const issued = authority.signX509Svid({ spiffeId: SpiffeId.parse(id), publicKey: r.publicKey, ttlSeconds: 3600 });
    return { entryId: r.entryId, spiffeId: id, chain: issued.chain, notAfter: issued.notAfter, serial: issued.serial.toString(16) };
  };
  const direct = {
    async sign(r: SignRequest) {
      if (failure) throw failure;
      return signOne(r);
    },
  };
  const batched = new BatchSigner({
    delayMs: 2,
    onBatch: (n) => batches.push(n),
    send: async (params) => {
      if (failure) throw failure;
      return {
        results: params.map((p) => {
          const s = signOne({ entryId: p.entry_id, publicKey: p.public_key, instanceId: p.instance_id });
          return {
            svid: { entry_id: s.entryId, spiffe_id: s.spiffeId, cert_chain: Buffer.concat(s.chain), expires_at: Math.floor(s.notAfter.getTime() / 1000), serial: s.serial },
            error_code: 0,
            error_message: '',
          };
        }),
      };
    },
  });
  const manager = new WorkloadManager({
    trustDomain: authority.trustDomain,
    attestor,
    signer: options.batch ? batched : direct,
    minter: { mint: () => Promise.reject(unavailable('no minting here')) },
    log: silentLogger(),
    ...options.manager,
  });
  return {
    manager,
    attestor,
    authority,
    signed,
    batches,
    sync(next) {
      entries = next;
      manager.applySync({ entries: next, bundle: authority.currentBundle(), federatedBundles: new Map(), revision: Date.now() });
    },
    failSigning(err) {
      failure = err;
    },
  };
}

const caller = (pid: number): CallerCredentials => ({ pid, uid: 1000, gid: 1000 });

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    if (err instanceof TesseraError) return err.code;
    throw err;
  }
  throw new Error('expected a failure');
}

describe('WorkloadManager', () => {
  it('answers UNAVAILABLE before the first sync and PERMISSION_DENIED when no entry matches', async () => {
    const s = await setup();
    s.attestor.set(10, ['unix:uid:1000']);
    expect(await codeOf(s.manager.session(caller(10)))).toBe('UNAVAILABLE');
    expect(() => s.manager.jwtBundles()).toThrow(TesseraError);
    s.sync([entry('e1', 'spiffe://example.org/w', ['unix:uid:2000'])]);
    expect(await codeOf(s.manager.session(caller(10)))).toBe('PERMISSION_DENIED');
    expect(s.manager.jwtBundles().own.isEmpty()).toBe(false);
  });

  it('never matches entries with reserved tessera: selectors, nor entries without selectors', async () => {
    const s = await setup();
    s.attestor.set(10, ['unix:uid:1000', 'tessera:supervisor:spiffe://example.org/boss']);
    s.sync([
      entry('sup', 'spiffe://example.org/worker', ['unix:uid:1000', 'tessera:supervisor:spiffe://example.org/boss']),
      entry('none', 'spiffe://example.org/anyone', []),
    ]);
    expect(await codeOf(s.manager.session(caller(10)))).toBe('PERMISSION_DENIED');
  });

  it('refuses supervisor entries to a process whose fork lineage is unknown, saying why', async () => {
    const s = await setup({ manager: { lineage: () => ({ ancestors: [], known: false }) } });
    s.attestor.set(10, ['unix:uid:1000']);
    s.sync([entry('sup', 'spiffe://example.org/sup', ['unix:uid:1000'], { role: 'supervisor' })]);
    const err = await s.manager.session(caller(10)).then(
      () => undefined,
      (e: unknown) => e as TesseraError,
    );
    expect(err?.code).toBe('PERMISSION_DENIED');
    expect(err?.message).toMatch(/does not know the caller's fork lineage/);
    expect(s.signed).toHaveLength(0);
  });

  it('keeps an instance to the role it was first served when its entries change to the other role (issue 10 item 4)', async () => {
    const conflicts: RoleConflictEvent[] = [];
    const s = await setup({ manager: { lineage: () => ({ ancestors: [], known: true }), onRoleConflict: (e) => conflicts.push(e) } });
    s.attestor.set(10, ['unix:uid:1000']);
    s.sync([entry('work', 'spiffe://example.org/work', ['unix:uid:1000'])]);
    const session = await s.manager.session(caller(10));
    expect(session.current().x509Svids.map((x) => x.spiffeId)).toEqual(['spiffe://example.org/work']);
    const changed = new Promise<void>((resolve) => session.onChange(() => resolve()));
    s.sync([entry('sup', 'spiffe://example.org/sup', ['unix:uid:1000'], { role: 'supervisor' })]);
    await changed;
    expect(session.current().x509Svids).toEqual([]);
    expect(s.signed.map((r) => r.entryId)).toEqual(['work']);
    expect(conflicts).toEqual([
      expect.objectContaining({ instanceId: session.instanceId, pid: 10, entryIds: ['sup'], message: expect.stringMatching(/keeps that role for life/) }),
    ]);
  });

  it('shares one session between concurrent first calls of the same instance', async () => {
    const s = await setup();
    s.attestor.set(10, ['unix:uid:1000']);
    s.sync([entry('e1', 'spiffe://example.org/w', ['unix:uid:1000'])]);
    const sessions = await Promise.all(Array.from({ length: 10 }, () => s.manager.session(caller(10))));
    expect(new Set(sessions).size).toBe(1);
    expect(s.signed).toHaveLength(1);
    expect(s.manager.instanceCount).toBe(1);
  });

  it('gives a process that exec()s (same pid and start time, new selectors) a new instance and closes the old', async () => {
    const s = await setup();
    s.attestor.set(10, ['unix:uid:1000', 'unix:path:/bin/a']);
    s.sync([
      entry('a', 'spiffe://example.org/a', ['unix:path:/bin/a']),
      entry('b', 'spiffe://example.org/b', ['unix:path:/bin/b']),
    ]);
    const first = await s.manager.session(caller(10));
    let closed = false;
    first.onChange((e) => (closed ||= e.closed));
    s.attestor.set(10, ['unix:uid:1000', 'unix:path:/bin/b']);
    const second = await s.manager.session(caller(10));
    expect(second).not.toBe(first);
    expect(second.instanceId).not.toBe(first.instanceId);
    expect(closed).toBe(true);
    expect(first.current().x509Svids).toHaveLength(0);
    expect(second.current().x509Svids.map((x) => x.spiffeId)).toEqual(['spiffe://example.org/b']);
  });

  it('keeps no session when no SVID could be signed (UNAVAILABLE), and serves the instance once signing works', async () => {
    const s = await setup();
    s.attestor.set(10, ['unix:uid:1000']);
    s.sync([entry('e1', 'spiffe://example.org/w', ['unix:uid:1000'])]);
    s.failSigning(unavailable('server unreachable'));
    expect(await codeOf(s.manager.session(caller(10)))).toBe('UNAVAILABLE');
    expect(s.manager.instanceCount).toBe(0);
    s.failSigning(undefined);
    expect((await s.manager.session(caller(10))).current().x509Svids).toHaveLength(1);
  });

  it('closes the session when the process exits and forgets the instance', async () => {
    const s = await setup();
    s.attestor.set(10, ['unix:uid:1000']);
    s.sync([entry('e1', 'spiffe://example.org/w', ['unix:uid:1000'])]);
    const session = await s.manager.session(caller(10));
    const events: boolean[] = [];
    session.onChange((e) => events.push(e.closed));
    s.attestor.exit(10);
    await new Promise((r) => setImmediate(r));
    expect(events).toEqual([true]);
    expect(s.manager.instanceCount).toBe(0);
    expect(await codeOf(s.manager.session(caller(10)))).toBe('PERMISSION_DENIED');
  });

  it('serves a burst of 200 new instances through a few coalesced batches', async () => {
    const s = await setup({ batch: true });
    s.sync([entry('e1', 'spiffe://example.org/burst/{instance}', ['unix:uid:1000'])]);
    for (let pid = 1000; pid < 1200; pid++) s.attestor.set(pid, ['unix:uid:1000']);
    const t0 = performance.now();
    const sessions = await Promise.all(Array.from({ length: 200 }, (_, i) => s.manager.session(caller(1000 + i))));
    const ms = performance.now() - t0;
    expect(new Set(sessions.map((x) => x.instanceId)).size).toBe(200);
    expect(new Set(sessions.map((x) => x.current().x509Svids[0]!.spiffeId)).size).toBe(200);
    expect(s.batches.reduce((a, b) => a + b, 0)).toBe(200);
    expect(s.batches.length).toBeLessThanOrEqual(10);
    console.log(JSON.stringify({ bench: 'agent-manager-burst', instances: 200, ms: Math.round(ms), batches: s.batches.length }));
  });

  it('binds a connection to its first attestation: later calls recheck cheaply, a changed process is refused', async () => {
    const s = await setup();
    s.attestor.set(10, ['unix:uid:1000', 'unix:path:/bin/a']);
    s.sync([entry('a', 'spiffe://example.org/a', ['unix:uid:1000', 'unix:path:/bin/a'])]);
    const conn: ConnectionBinding = {};
    const first = await s.manager.session(caller(10), conn);
    expect(conn.bound?.pid).toBe(10);
    const attests = s.attestor.attests;
    expect(await s.manager.session(caller(10), conn)).toBe(first);
    expect(s.attestor.attests).toBe(attests);
    expect(s.attestor.rechecks).toBe(1);
    // The process is gone and its pid now runs something else: the recheck refuses the old connection.
    s.attestor.set(10, ['unix:uid:1000', 'unix:path:/bin/b'], 2000n);
    expect(await codeOf(s.manager.session(caller(10), conn))).toBe('PERMISSION_DENIED');
    // Another image attested on a connection bound to the first is refused, even if the recheck were fooled.
    const racing: ConnectionBinding = { bound: { ...conn.bound!, startTime: 2000n, exe: { dev: 1n, ino: 1n } } };
    expect(await codeOf(s.manager.session(caller(10), racing))).toBe('PERMISSION_DENIED');
  });

  it('asks for the binary hash only when a unix:sha256 entry could match the caller', async () => {
    const s = await setup();
    s.attestor.set(10, ['unix:uid:1000', 'unix:path:/bin/a']);
    s.sync([entry('a', 'spiffe://example.org/a', ['unix:uid:1000', 'unix:path:/bin/a'])]);
    await s.manager.session(caller(10));
    s.sync([
      entry('a', 'spiffe://example.org/a', ['unix:uid:1000', 'unix:path:/bin/a']),
      entry('h', 'spiffe://example.org/h', ['unix:uid:2000', `unix:sha256:${'ab'.repeat(32)}`]),
    ]);
    await s.manager.session(caller(10));
    s.sync([
      entry('a', 'spiffe://example.org/a', ['unix:uid:1000', 'unix:path:/bin/a']),
      entry('h2', 'spiffe://example.org/h2', ['unix:uid:1000', `unix:sha256:${'ab'.repeat(32)}`]),
    ]);
    await s.manager.session(caller(10));
    expect(s.attestor.wantSha256).toEqual([false, false, true]);
  });
});

describe('WorkloadManager logs refused workloads with their selectors (issue 15)', () => {
  const REFUSED = /^Workload refused; see "tessera entry explain --pid"/;

  async function refusalSetup(manager: Partial<WorkloadManagerOptions> = {}) {
    const clock = fakeClock();
    const capture = captureLogger('info');
    const s = await setup({ manager: { log: capture.log, clock, refusalLogIntervalMs: 60_000, ...manager } });
    const refusals = () => capture.lines().filter((l) => REFUSED.test(String(l['msg'])));
    return { s, clock, refusals };
  }

  it('logs no-match refusals at info with uid, binary, selectors and reason, once per (uid, binary) per interval', async () => {
    const { s, clock, refusals } = await refusalSetup();
    s.sync([entry('e1', 'spiffe://example.org/w', ['unix:uid:2000', 'unix:path:/bin/a'])]);
    s.attestor.set(10, ['unix:uid:1000', 'unix:path:/bin/a', 'cgroup:path:/app.slice']);
    s.attestor.set(11, ['unix:uid:1000', 'unix:path:/bin/a', 'cgroup:path:/app.slice'], 2000n);
    s.attestor.set(12, ['unix:uid:1000', 'unix:path:/bin/b']);
    expect(await codeOf(s.manager.session(caller(10)))).toBe('PERMISSION_DENIED');
    expect(refusals()).toHaveLength(1);
    expect(refusals()[0]).toMatchObject({
      pid: 10,
      uid: 1000,
      exe: '/bin/a',
      selectors: ['unix:uid:1000', 'unix:path:/bin/a', 'cgroup:path:/app.slice'],
      reason: 'no registration entry matches the caller',
    });
    expect([30, 'info']).toContain(refusals()[0]!['level']);
    expect(refusals()[0]).not.toHaveProperty('err');

    // Same uid and binary within the interval: counted, not logged. Another binary: logged.
    expect(await codeOf(s.manager.session(caller(11)))).toBe('PERMISSION_DENIED');
    expect(await codeOf(s.manager.session(caller(10)))).toBe('PERMISSION_DENIED');
    expect(refusals()).toHaveLength(1);
    expect(await codeOf(s.manager.session(caller(12)))).toBe('PERMISSION_DENIED');
    expect(refusals()).toHaveLength(2);
    expect(refusals()[1]).toMatchObject({ pid: 12, exe: '/bin/b' });

    clock.advance(60_000);
    expect(await codeOf(s.manager.session(caller(11)))).toBe('PERMISSION_DENIED');
    expect(refusals()).toHaveLength(3);
    expect(refusals()[2]).toMatchObject({ pid: 11, exe: '/bin/a', suppressed: 2 });
  });

  it('logs a supervisor/worker rule refusal with the rule named', async () => {
    const { s, refusals } = await refusalSetup();
    s.attestor.set(10, ['unix:uid:1000']);
    s.sync([
      entry('sup', 'spiffe://example.org/sup', ['unix:uid:1000'], { role: 'supervisor' }),
      entry('work', 'spiffe://example.org/work', ['unix:uid:1000']),
    ]);
    expect(await codeOf(s.manager.session(caller(10)))).toBe('PERMISSION_DENIED');
    expect(refusals()).toHaveLength(1);
    expect(refusals()[0]!['reason']).toMatch(/matches both supervisor entries \(sup\) and worker entries \(work\)/);
    expect(refusals()[0]!['selectors']).toEqual(['unix:uid:1000']);
  });

  it('logs nothing for a workload that is served', async () => {
    const { s, refusals } = await refusalSetup();
    s.attestor.set(10, ['unix:uid:1000']);
    s.sync([entry('e1', 'spiffe://example.org/w', ['unix:uid:1000'])]);
    await s.manager.session(caller(10));
    expect(refusals()).toEqual([]);
    s.manager.close();
  });
});
