import { randomBytes } from 'node:crypto';
import { systemClock, type Clock } from '../../common/clock.js';
import { isTesseraError, unavailable } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import type { JwtBundle, SpiffeBundle } from '../../spiffe/bundle/index.js';
import type { TrustDomain } from '../../spiffe/id/index.js';
import type { BackoffOptions } from '../../common/backoff.js';
import type { SignedSvid, SignRequest } from '../client/batch-signer.js';
import type { AgentEntry, SyncState } from '../state.js';
import type {
  AttestedProcess,
  CallerCredentials,
  WorkloadAttestor,
  WorkloadIdentityProvider,
  WorkloadSession,
} from '../types.js';
import { KeyPool } from './instance-key.js';
import { readAncestry, type ProcessRef } from '../workloadattestor/ancestry.js';
import { compareEntries, matchInstance, selectorSetKey, type AncestorInstance, type InstanceMatch } from './matching.js';
import { JwtSvidCache } from './jwt-cache.js';
import { InstanceSession, type InstanceIdentity, type JwtMinter, type SessionContext } from './session.js';

export interface WorkloadManagerOptions {
  readonly trustDomain: TrustDomain;
  readonly attestor: WorkloadAttestor;
  readonly signer: { sign(request: SignRequest): Promise<SignedSvid> };
  readonly minter: JwtMinter;
  readonly log: Logger;
  readonly clock?: Clock;
  /** Renew workload X509-SVIDs at this fraction of their life. Default 0.5. */
  readonly rotationFraction?: number;
  /** ± jitter around the renewal time, as a fraction of it. Default 0.1. */
  readonly rotationJitter?: number;
  /** Retry backoff of failed signing. Default 1 s doubling to 30 s, ±20 % jitter. */
  readonly retry?: BackoffOptions;
  /** Cache JWT-SVIDs per (instance, entry, audience) for half their life, in one cache bounded in bytes (jwt-cache.ts). Default true. */
  readonly jwtCache?: boolean;
  /** Key pairs generated ahead for new instances and rotations. Default 128. */
  readonly keyPoolSize?: number;
  /** Sessions handled per event-loop turn when a sync change fans out. Default 200. */
  readonly fanoutChunk?: number;
  readonly onSigned?: (signed: number, failed: number, rotation: boolean) => void;
  readonly onInstances?: (live: number) => void;
  /** The ancestors of a process, nearest first (default: the ppid chain in /proc, see readAncestry). */
  readonly ancestry?: (process: AttestedProcess) => readonly ProcessRef[];
  /**
   * Told when a process is refused for matching supervisor and worker entries (rule 1), once per process instance and
   * entry set: the agent reports it to the server's audit trail.
   */
  readonly onRoleConflict?: (event: RoleConflictEvent) => void;
}

export interface RoleConflictEvent {
  readonly instanceId: string;
  readonly pid: number;
  readonly entryIds: readonly string[];
  readonly message: string;
}

/** A live instance, for listings (`tessera instance list`, metrics). */
export interface InstanceInfo {
  readonly instanceId: string;
  readonly pid: number;
  readonly startTime: bigint;
  readonly svids: {
    entryId: string;
    spiffeId: string;
    serial: string;
    notAfter: Date;
    role: 'worker' | 'supervisor';
    supervisorInstanceId?: string;
  }[];
}

/**
 * The agent's WorkloadIdentityProvider (src/agent/types.ts). It holds the entries and bundles of the last sync, and
 * one {@link InstanceSession} per attested process instance (pid, start time): created the first time the instance
 * calls (random 128-bit instance ID, own P-256 key, SVIDs for every matching entry through the coalescing batch
 * signer), shared by all its connections, closed when the process exits (WorkloadAttestor.watchExit) or when the
 * same (pid, start time) shows different selectors (an exec: a different program gets a fresh instance).
 *
 * Supervisor rules (architecture §5, matching.ts matchInstance): each process's ancestors (pid, start time) are read
 * from /proc when it is attested; a supervisor entry a live ancestor instance holds is never matched (not inherited);
 * `tessera:supervisor:<id>` matches only below a live ancestor instance holding that supervisor ID (its instance ID
 * goes with the signing requests); supervisor and worker entries both matching → PERMISSION_DENIED naming them. When
 * an instance's supervisor entries change or it exits, its descendants re-match.
 * Errors: not synced yet → UNAVAILABLE; no matching entry → PERMISSION_DENIED; attestation errors pass through.
 */
export class WorkloadManager implements WorkloadIdentityProvider {
  readonly #o: WorkloadManagerOptions;
  readonly #clock: Clock;
  readonly #ctx: SessionContext;
  readonly #sessions = new Map<string, InstanceSession>();
  readonly #pending = new Map<string, Promise<InstanceSession>>();
  readonly #watches = new Map<InstanceSession, AbortController>();
  /** Ancestors (pid:startTime keys, nearest first) of each instance, read when it was attested. */
  readonly #ancestry = new Map<string, readonly string[]>();
  /** Role conflicts already reported (process instance + entries), so a retrying workload is reported once. */
  readonly #conflictsReported = new Set<string>();
  readonly #keys: KeyPool;
  #entries: AgentEntry[] = [];
  #entriesKey = '';
  #entriesVersion = 0;
  #bundle: SpiffeBundle | undefined;
  #federated: ReadonlyMap<string, SpiffeBundle> = new Map();
  #closed = false;

  constructor(options: WorkloadManagerOptions) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
    const manager = this;
    this.#keys = new KeyPool({ target: options.keyPoolSize ?? 128 });
    this.#ctx = {
      trustDomain: options.trustDomain,
      clock: this.#clock,
      log: options.log,
      signer: options.signer,
      minter: options.minter,
      newKey: () => manager.#keys.take(),
      rotation: { fraction: options.rotationFraction ?? 0.5, jitter: options.rotationJitter ?? 0.1 },
      retry: options.retry ?? {},
      jwtCache: (options.jwtCache ?? true) ? new JwtSvidCache() : undefined,
      entries: () => manager.#entries,
      match: (instance) => manager.#match(instance),
      onSupervisorChange: (instance) => manager.#supervisorChanged(instance),
      onRoleConflict: (instance, conflict, message) => {
        const entryIds = [...conflict.supervisorEntryIds, ...conflict.workerEntryIds];
        const key = `${instance.pid}:${instance.startTime}:${entryIds.join(',')}`;
        if (manager.#conflictsReported.has(key)) return;
        if (manager.#conflictsReported.size >= 10_000) manager.#conflictsReported.clear();
        manager.#conflictsReported.add(key);
        options.log.warn({ instanceId: instance.instanceId, pid: instance.pid, entryIds }, 'Workload refused: role conflict');
        options.onRoleConflict?.({ instanceId: instance.instanceId, pid: instance.pid, entryIds, message });
      },
      bundle: () => manager.#bundle!,
      federatedBundles: () => manager.#federated,
      ...(options.onSigned && { onSigned: options.onSigned }),
    };
  }

  /** True once a sync message has been applied. */
  get synced(): boolean {
    return this.#bundle !== undefined;
  }

  /** Live instances. */
  get instanceCount(): number {
    return this.#sessions.size;
  }

  get entries(): readonly AgentEntry[] {
    return this.#entries;
  }

  /**
   * Applies a sync message: when the entries changed (ID or revision), every session re-matches (new SVIDs signed,
   * dropped ones removed); when a bundle changed, every session is told. Fans out in chunks across event-loop turns.
   */
  applySync(state: SyncState): void {
    if (this.#closed) return;
    const entries = [...state.entries].sort(compareEntries);
    const entriesKey = entries.map((e) => `${e.id}:${e.revision}`).join(',');
    const entriesChanged = entriesKey !== this.#entriesKey;
    const bundleChanged =
      !this.#bundle || !this.#bundle.equals(state.bundle) || !sameBundles(this.#federated, state.federatedBundles);
    const first = this.#bundle === undefined;
    this.#entries = entries;
    this.#entriesKey = entriesKey;
    this.#bundle = state.bundle;
    this.#federated = state.federatedBundles;
    if (entriesChanged) this.#entriesVersion++;
    if (first) {
      this.#o.log.info({ entries: entries.length, revision: state.revision }, 'First sync received');
      return;
    }
    if (!entriesChanged && !bundleChanged) return;
    this.#o.log.debug({ entries: entries.length, revision: state.revision, entriesChanged, bundleChanged }, 'Sync applied');
    this.#fanOut([...this.#sessions.values()], (s) => {
      if (entriesChanged) s.refresh();
      else s.bundleChanged();
    });
  }

  async session(caller: CallerCredentials): Promise<WorkloadSession> {
    if (this.#closed) throw unavailable('the agent is shutting down');
    if (!this.#bundle) throw unavailable('the agent has not synchronised with the server yet');
    const process = await this.#o.attestor.attest(caller);
    const key = `${process.pid}:${process.startTime}`;
    const selectorsKey = selectorSetKey(process.selectors);
    const existing = this.#sessions.get(key);
    if (existing) {
      if (existing.selectorsKey === selectorsKey) return existing;
      this.#o.log.info({ instanceId: existing.instanceId, pid: process.pid }, 'Workload selectors changed (exec?); new instance');
      this.#drop(existing, 'selectors changed');
    }
    let pending = this.#pending.get(key);
    if (pending) {
      const session = await pending;
      if (session.selectorsKey === selectorsKey) return session;
      return this.session(caller);
    }
    pending = this.#create(caller, process, selectorsKey);
    this.#pending.set(key, pending);
    try {
      return await pending;
    } finally {
      if (this.#pending.get(key) === pending) this.#pending.delete(key);
    }
  }

  jwtBundles(): { readonly own: JwtBundle; readonly federated: ReadonlyMap<string, JwtBundle> } {
    if (!this.#bundle) throw unavailable('the agent has not synchronised with the server yet');
    const federated = new Map<string, JwtBundle>();
    for (const [td, b] of this.#federated) federated.set(td, b.jwtBundle);
    return { own: this.#bundle.jwtBundle, federated };
  }

  instances(): InstanceInfo[] {
    return [...this.#sessions.values()].map((s) => ({
      instanceId: s.instanceId,
      pid: s.pid,
      startTime: s.startTime,
      svids: s.held(),
    }));
  }

  /** Closes every session (their streams end) and stops watching processes. */
  close(): void {
    this.#closed = true;
    this.#keys.close();
    for (const s of [...this.#sessions.values()]) this.#drop(s, 'agent stopping');
  }

  #match(instance: InstanceIdentity): InstanceMatch {
    const ancestors: AncestorInstance[] = [];
    for (const key of this.#ancestry.get(`${instance.pid}:${instance.startTime}`) ?? []) {
      const a = this.#sessions.get(key);
      if (!a || a.closed) continue;
      const supervisorEntries = a.entries.filter((e) => e.role === 'supervisor');
      if (supervisorEntries.length > 0) ancestors.push({ instanceId: a.instanceId, supervisorEntries });
    }
    return matchInstance(this.#entries, instance.selectors, ancestors);
  }

  /** An instance gained or lost supervisor entries (or exited): its live descendants re-match. */
  #supervisorChanged(instance: InstanceIdentity): void {
    if (this.#closed) return;
    const key = `${instance.pid}:${instance.startTime}`;
    const descendants = [...this.#sessions.entries()]
      .filter(([k, s]) => s !== instance && this.#ancestry.get(k)?.includes(key))
      .map(([, s]) => s);
    if (descendants.length > 0) this.#fanOut(descendants, (s) => s.refresh());
  }

  async #create(caller: CallerCredentials, process: AttestedProcess, selectorsKey: string): Promise<InstanceSession> {
    const version = this.#entriesVersion;
    const processKey = `${process.pid}:${process.startTime}`;
    const ancestry = this.#o.ancestry ?? ((p: AttestedProcess) => readAncestry(p.ppid, p.startTime));
    this.#ancestry.set(processKey, ancestry(process).map((a) => `${a.pid}:${a.startTime}`));
    const session = new InstanceSession(
      {
        instanceId: randomBytes(16).toString('hex'),
        pid: process.pid,
        startTime: process.startTime,
        selectors: process.selectors,
        selectorsKey,
      },
      this.#ctx,
    );
    try {
      await session.establish();
    } catch (err) {
      session.close();
      if (!this.#sessions.has(processKey)) this.#ancestry.delete(processKey);
      if (isTesseraError(err) && err.code === 'PERMISSION_DENIED') {
        this.#o.log.info({ pid: process.pid, reason: err.message }, 'Workload refused');
      }
      throw err;
    }
    if (this.#closed) {
      session.close();
      throw unavailable('the agent is shutting down');
    }
    this.#sessions.set(`${process.pid}:${process.startTime}`, session);
    this.#o.onInstances?.(this.#sessions.size);
    this.#watchExit(caller, process, session);
    if (version !== this.#entriesVersion) session.refresh();
    this.#o.log.info(
      { instanceId: session.instanceId, pid: process.pid, identities: session.current().x509Svids.map((s) => s.spiffeId) },
      'Workload instance attested',
    );
    return session;
  }

  #watchExit(caller: CallerCredentials, process: AttestedProcess, session: InstanceSession): void {
    const controller = new AbortController();
    this.#watches.set(session, controller);
    // The instance outlives the connection whose pidfd this is: the attestor's exit watcher keeps its own duplicate
    // (checked to still refer to the pid), or falls back to polling /proc/<pid>/stat against the start time.
    this.#o.attestor.watchExit(caller, process, controller.signal).then(
      () => {
        if (!controller.signal.aborted) this.#drop(session, 'process exited');
      },
      (err: unknown) => {
        if (controller.signal.aborted) return;
        this.#o.log.warn({ err, instanceId: session.instanceId, pid: process.pid }, 'Cannot watch the workload process; dropping its instance');
        this.#drop(session, 'exit watch failed');
      },
    );
  }

  #drop(session: InstanceSession, reason: string): void {
    const key = `${session.pid}:${session.startTime}`;
    if (this.#sessions.get(key) === session) {
      this.#sessions.delete(key);
      this.#ancestry.delete(key);
    }
    const wasSupervisor = session.entries.some((e) => e.role === 'supervisor');
    const watch = this.#watches.get(session);
    this.#watches.delete(session);
    watch?.abort();
    if (session.closed) return;
    session.close();
    this.#o.onInstances?.(this.#sessions.size);
    this.#o.log.info({ instanceId: session.instanceId, pid: session.pid, reason }, 'Workload instance closed');
    if (wasSupervisor) this.#supervisorChanged(session);
  }

  #fanOut(sessions: InstanceSession[], fn: (s: InstanceSession) => void): void {
    const chunk = this.#o.fanoutChunk ?? 200;
    const run = (from: number) => {
      const end = Math.min(sessions.length, from + chunk);
      for (let i = from; i < end; i++) if (!sessions[i]!.closed) fn(sessions[i]!);
      if (end < sessions.length) setImmediate(() => run(end));
    };
    run(0);
  }
}

function sameBundles(a: ReadonlyMap<string, SpiffeBundle>, b: ReadonlyMap<string, SpiffeBundle>): boolean {
  if (a.size !== b.size) return false;
  for (const [td, x] of a) {
    const y = b.get(td);
    if (!y || !x.equals(y)) return false;
  }
  return true;
}
