import { randomBytes } from 'node:crypto';
import { systemClock, type Clock } from '../../common/clock.js';
import { isTesseraError, notFound, permissionDenied, unavailable } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import type { JwtBundle, SpiffeBundle } from '../../spiffe/bundle/index.js';
import type { TrustDomain } from '../../spiffe/id/index.js';
import type { BackoffOptions } from '../../common/backoff.js';
import type { SignedSvid, SignRequest } from '../client/batch-signer.js';
import type { AgentEntry, SyncState } from '../state.js';
import type {
  AttestedProcess,
  CallerCredentials,
  ConnectionBinding,
  WorkloadAttestor,
  WorkloadSelector,
  WorkloadIdentityProvider,
  WorkloadSession,
} from '../types.js';
import { KeyPool } from './instance-key.js';
import { readAncestry, type ProcessRef } from '../workloadattestor/ancestry.js';
import { sameImage, sha256Wanted, usesSha256 } from './binding.js';
import type { Lineage } from '../workloadattestor/fork-tree.js';
import { isProcessGone, parseStatus, readProcFile } from '../workloadattestor/proc.js';
import { explainMatch, type Explanation } from './explain.js';
import {
  compareEntries,
  entryMatches,
  matchInstance,
  selectorKey,
  selectorSetKey,
  type AncestorInstance,
  type InstanceMatch,
} from './matching.js';
import { JwtSvidCache } from './jwt-cache.js';
import { RefusalLog } from './refusal-log.js';
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
  /**
   * The lineage of a process: its live ancestors, nearest first, and whether that is all of them. The agent passes
   * the kernel's fork lineage (workloadattestor/lineage.ts createKernelLineage), which survives reparenting. Default
   * (unit tests only): the /proc ppid chain (readAncestry), taken as known.
   */
  readonly lineage?: (process: AttestedProcess) => Lineage;
  /**
   * The selectors of a live ancestor that has no instance, to tell whether it matches supervisor entries (treated
   * like holding them, issue 10 item 3). Default: the attestor run on it (uid/gid from /proc status), undefined when
   * it is gone or changed.
   */
  readonly ancestorSelectors?: (ancestor: ProcessRef) => Promise<readonly WorkloadSelector[] | undefined>;
  /**
   * Told when a process is refused for matching supervisor and worker entries (rule 1), once per process instance and
   * entry set: the agent reports it to the server's audit trail.
   */
  readonly onRoleConflict?: (event: RoleConflictEvent) => void;
  /** A refused workload's selectors are logged at most once per (uid, binary) per this interval. Default 60 s. */
  readonly refusalLogIntervalMs?: number;
}

export interface RoleConflictEvent {
  readonly instanceId: string;
  readonly pid: number;
  readonly entryIds: readonly string[];
  readonly message: string;
}

/** What `tessera entry explain --pid` shows (WorkloadManager.explain). */
export interface ProcessExplanation extends Explanation {
  readonly pid: number;
  readonly selectors: readonly WorkloadSelector[];
  /** The live instance of this process image, when it has called. */
  readonly instanceId?: string;
  readonly lineageKnown: boolean;
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
 * Supervisor rules (architecture §5, matching.ts matchInstance): each process's lineage (live ancestors by pid and
 * start time, from the kernel's fork events so that reparenting cannot hide them: workloadattestor/lineage.ts) is read
 * when it is attested, with the selectors of each ancestor; a supervisor entry a live ancestor instance holds, or that
 * an ancestor without an instance matches, is never matched (not inherited); unknown lineage → no supervisor entry;
 * an instance keeps the role (worker or supervisor) it was first served for its whole life;
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
  /** Lineage of each instance, read when it was attested: ancestors (pid:startTime keys) and their selectors. */
  readonly #ancestry = new Map<string, AncestryRecord>();
  /** Selectors of ancestors attested for lineage (pid:startTime → selectors), bounded. */
  readonly #ancestorSelectors = new Map<string, readonly WorkloadSelector[] | undefined>();
  /** Role conflicts already reported (process instance + entries), so a retrying workload is reported once. */
  readonly #conflictsReported = new Set<string>();
  readonly #keys: KeyPool;
  readonly #refusals: RefusalLog;
  #entries: AgentEntry[] = [];
  /** The entries with a unix:sha256 selector: only callers one of them could match get their binary hashed. */
  #sha256Entries: AgentEntry[] = [];
  readonly #wantSha256 = (selectors: readonly WorkloadSelector[]): boolean => sha256Wanted(this.#sha256Entries, selectors);
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
    this.#refusals = new RefusalLog(options.log, this.#clock, options.refusalLogIntervalMs);
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
    this.#sha256Entries = entries.filter(usesSha256);
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

  /**
   * With `connection` (the Workload API passes each call's): the first call binds the connection to the process it
   * attests (types.ts ConnectionBinding); every later call first re-checks cheaply that the process is still that
   * one (WorkloadAttestor.recheck: alive, same binary, same cgroup; PERMISSION_DENIED otherwise) and is served its
   * live session without reading /proc again. A full attestation runs again only when that session is gone or was
   * replaced (its selectors changed), or an entry now wants the binary's sha256; it too must find the bound process.
   */
  async session(caller: CallerCredentials, connection?: ConnectionBinding): Promise<WorkloadSession> {
    if (this.#closed) throw unavailable('the agent is shutting down');
    if (!this.#bundle) throw unavailable('the agent has not synchronised with the server yet');
    const bound = connection?.bound;
    if (bound !== undefined) {
      this.#o.attestor.recheck(caller, bound);
      const existing = this.#sessions.get(`${bound.pid}:${bound.startTime}`);
      const hashWanted = !bound.sha256Tried && this.#sha256Entries.length > 0 && this.#wantSha256(bound.selectors);
      if (existing && !existing.closed && !hashWanted && existing.selectorsKey === selectorSetKey(bound.selectors)) {
        return existing;
      }
    }
    const process = await this.#o.attestor.attest(caller, { wantSha256: this.#wantSha256 });
    if (connection !== undefined) {
      // Also when two first calls race: the connection is bound once, to one process image.
      const first = connection.bound;
      if (first !== undefined && !sameImage(first, process)) {
        throw permissionDenied('the process on this connection is not the one it was first attested as (exec?); open a new connection');
      }
      connection.bound = process;
    }
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
      return this.session(caller, connection);
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

  /**
   * Rules 2-3 over the instance's lineage: an ancestor instance counts with the supervisor entries it holds; an
   * ancestor without a live instance counts with the supervisor entries its selectors match (it could call and hold
   * them: a supervisor that forks before its first call, a worker's child whose parent exited). Unknown lineage and the
   * instance's lifelong role are passed on (matching.ts matchInstance).
   */
  #match(instance: InstanceIdentity): InstanceMatch {
    const record = this.#ancestry.get(`${instance.pid}:${instance.startTime}`);
    return matchInstance(this.#entries, instance.selectors, this.#ancestorsOf(record), {
      lineageKnown: record?.known ?? false,
      ...(instance.role !== undefined && { role: instance.role }),
    });
  }

  #ancestorsOf(record: AncestryRecord | undefined): AncestorInstance[] {
    const ancestors: AncestorInstance[] = [];
    const supervisorEntries = this.#entries.filter((e) => e.role === 'supervisor');
    for (const key of record?.refs ?? []) {
      const a = this.#sessions.get(key);
      if (a && !a.closed) {
        const held = a.entries.filter((e) => e.role === 'supervisor');
        if (held.length > 0) ancestors.push({ instanceId: a.instanceId, supervisorEntries: held });
        if (held.length > 0 || a.role === 'worker') continue;
      }
      const selectors = record?.selectors.get(key);
      if (!selectors || supervisorEntries.length === 0) continue;
      const keys = new Set(selectors.map(selectorKey));
      const matched = supervisorEntries.filter((e) => entryMatches(e, keys));
      if (matched.length > 0) ancestors.push({ instanceId: undefined, supervisorEntries: matched });
    }
    return ancestors;
  }

  /**
   * `tessera entry explain --pid` (agent admin API): attests the process as it is now (ids from /proc, as for an
   * ancestor), reads its lineage, and says for each entry held why it does or does not apply (explain.ts), with the
   * rules a call would meet. Creates no instance and signs nothing. NOT_FOUND when the pid is not visible to the agent.
   */
  async explain(pid: number): Promise<ProcessExplanation> {
    if (!this.#bundle) throw unavailable('the agent has not synchronised with the server yet');
    let status;
    try {
      status = parseStatus(readProcFile(`/proc/${pid}/status`));
    } catch (err) {
      if (isProcessGone(err)) throw notFound(`no process ${pid} is visible to the agent`);
      throw err;
    }
    let process: AttestedProcess;
    try {
      process = await this.#o.attestor.attest(
        { pid, uid: status.uids[1], gid: status.gids[1] },
        { wantSha256: this.#wantSha256 },
      );
    } catch (err) {
      if (isTesseraError(err) && err.code === 'PERMISSION_DENIED') {
        throw notFound(`process ${pid} cannot be attested: ${err.message}`);
      }
      throw err;
    }
    const key = `${process.pid}:${process.startTime}`;
    const live = this.#sessions.get(key);
    const session = live && !live.closed && live.selectorsKey === selectorSetKey(process.selectors) ? live : undefined;
    const record = this.#ancestry.get(key) ?? (await this.#readLineage(process));
    const explanation = explainMatch(this.#entries, process.selectors, this.#ancestorsOf(record), {
      lineageKnown: record.known,
      ...(session?.role !== undefined && { role: session.role }),
    });
    return {
      pid: process.pid,
      selectors: process.selectors,
      ...(session !== undefined && { instanceId: session.instanceId }),
      lineageKnown: record.known,
      ...explanation,
    };
  }

  /** The lineage of a process being attested, with its ancestors' selectors (attested once each, cached). */
  async #readLineage(process: AttestedProcess): Promise<AncestryRecord> {
    const lineage = this.#o.lineage
      ? this.#o.lineage(process)
      : { ancestors: readAncestry(process.ppid, process.startTime), known: true };
    const refs = lineage.ancestors.map((a) => `${a.pid}:${a.startTime}`);
    const selectors = new Map<string, readonly WorkloadSelector[]>();
    await Promise.all(
      lineage.ancestors.map(async (a, i) => {
        const key = refs[i]!;
        const session = this.#sessions.get(key);
        let found = session ? session.selectors : this.#ancestorSelectors.get(key);
        if (found === undefined && !this.#ancestorSelectors.has(key)) {
          found = await this.#attestAncestor(a);
          if (this.#ancestorSelectors.size >= ANCESTOR_CACHE_LIMIT) this.#ancestorSelectors.clear();
          this.#ancestorSelectors.set(key, found);
        }
        if (found) selectors.set(key, found);
      }),
    );
    return { refs, known: lineage.known, selectors };
  }

  async #attestAncestor(ancestor: ProcessRef): Promise<readonly WorkloadSelector[] | undefined> {
    try {
      if (this.#o.ancestorSelectors) return await this.#o.ancestorSelectors(ancestor);
      const status = parseStatus(readProcFile(`/proc/${ancestor.pid}/status`));
      const attested = await this.#o.attestor.attest({ pid: ancestor.pid, uid: status.uids[1], gid: status.gids[1] });
      return attested.startTime === ancestor.startTime ? attested.selectors : undefined;
    } catch (err) {
      this.#o.log.debug({ err, pid: ancestor.pid }, 'Cannot attest an ancestor of a workload (gone?)');
      return undefined;
    }
  }

  /** An instance gained or lost supervisor entries (or exited): its live descendants re-match. */
  #supervisorChanged(instance: InstanceIdentity): void {
    if (this.#closed) return;
    const key = `${instance.pid}:${instance.startTime}`;
    const descendants = [...this.#sessions.entries()]
      .filter(([k, s]) => s !== instance && this.#ancestry.get(k)?.refs.includes(key))
      .map(([, s]) => s);
    if (descendants.length > 0) this.#fanOut(descendants, (s) => s.refresh());
  }

  async #create(caller: CallerCredentials, process: AttestedProcess, selectorsKey: string): Promise<InstanceSession> {
    const version = this.#entriesVersion;
    const processKey = `${process.pid}:${process.startTime}`;
    this.#ancestry.set(processKey, await this.#readLineage(process));
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
        this.#refusals.refused(process.pid, process.selectors, err.message);
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

interface AncestryRecord {
  /** Live ancestors when attested (pid:startTime), nearest first. */
  readonly refs: readonly string[];
  /** False when the lineage may hide an ancestor (see LineageSource). */
  readonly known: boolean;
  /** Selectors of those ancestors, as attested then (absent: gone or unreadable). */
  readonly selectors: ReadonlyMap<string, readonly WorkloadSelector[]>;
}

/** Ancestors' selectors kept (shells, init and service managers are the ancestors of many workloads). */
const ANCESTOR_CACHE_LIMIT = 4096;

function sameBundles(a: ReadonlyMap<string, SpiffeBundle>, b: ReadonlyMap<string, SpiffeBundle>): boolean {
  if (a.size !== b.size) return false;
  for (const [td, x] of a) {
    const y = b.get(td);
    if (!y || !x.equals(y)) return false;
  }
  return true;
}
