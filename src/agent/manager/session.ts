import type { Clock } from '../../common/clock.js';
import { isTesseraError, permissionDenied, unavailable } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import type { JwtBundle, SpiffeBundle, X509Bundle } from '../../spiffe/bundle/index.js';
import type { TrustDomain } from '../../spiffe/id/index.js';
import { Backoff, jittered, type BackoffOptions } from '../../common/backoff.js';
import type { SignedSvid, SignRequest } from '../client/batch-signer.js';
import type { AgentEntry } from '../state.js';
import type { WorkloadJwtSvid, WorkloadSelector, WorkloadSession, WorkloadState, WorkloadX509Svid } from '../types.js';
import type { InstanceKey } from './instance-key.js';
import type { JwtSvidCache } from './jwt-cache.js';
import { conflictMessage, instanceSpiffeId, refusalMessage, type InstanceMatch, type Role } from './matching.js';

/** Mints one JWT-SVID through the server (MintJwtSvid). */
export interface JwtMinter {
  mint(request: { entryId: string; audience: readonly string[]; instanceId: string; supervisorInstanceId?: string }): Promise<{
    token: string;
    spiffeId: string;
    expiresAt: Date;
  }>;
}

/** What a session needs from the manager: the synced state and the server's signing capabilities. */
export interface SessionContext {
  readonly trustDomain: TrustDomain;
  readonly clock: Clock;
  readonly log: Logger;
  readonly signer: { sign(request: SignRequest): Promise<SignedSvid> };
  readonly minter: JwtMinter;
  /** A key pair no one else has held (KeyPool.take). */
  newKey(): InstanceKey;
  /** Renew at this fraction of an SVID's life, ± jitter (a fraction of that). */
  readonly rotation: { readonly fraction: number; readonly jitter: number };
  readonly retry: BackoffOptions;
  /** Keeps minted JWT-SVIDs for half their life, per (instance, entry, audience); undefined = no caching. */
  readonly jwtCache: JwtSvidCache | undefined;
  entries(): readonly AgentEntry[];
  /** The entries that apply to an instance now (selectors, supervisor ancestry: matching.ts matchInstance). */
  match(instance: InstanceIdentity): InstanceMatch;
  /** Told when the supervisor-role entries an instance matches changed (its descendants must re-match). */
  onSupervisorChange?(instance: InstanceIdentity): void;
  /** Told when an instance is refused for matching supervisor and worker entries (rule 1). */
  onRoleConflict?(instance: InstanceIdentity, conflict: NonNullable<InstanceMatch['conflict']>, message: string): void;
  bundle(): SpiffeBundle;
  federatedBundles(): ReadonlyMap<string, SpiffeBundle>;
  /** Told after each signing round: how many SVIDs were signed and how many failed. */
  onSigned?(signed: number, failed: number, rotation: boolean): void;
}

/** The process an instance is. */
export interface InstanceIdentity {
  readonly instanceId: string;
  readonly pid: number;
  readonly startTime: bigint;
  readonly selectors: readonly WorkloadSelector[];
  readonly selectorsKey: string;
  /** The role the instance was first served; it keeps it for life (issue 10 item 4). Undefined before. */
  readonly role?: Role | undefined;
}

interface Held {
  readonly entry: AgentEntry;
  readonly svid: WorkloadX509Svid;
  readonly serial: string;
  readonly supervisorInstanceId: string | undefined;
  renewAtMs: number;
}

/** An SVID is tried one last time this long before it expires when retries would otherwise miss it. */
const LAST_TRY_BEFORE_EXPIRY_MS = 1_000;

/**
 * The identities of one attested process instance (architecture §5): its own key pair (in memory only) and one
 * X509-SVID per matching entry, signed for its instance ID. Every change (rotation, entries, bundle, expiry) makes a
 * new full snapshot and tells the listeners; `close()` (process exit) drops keys and SVIDs and tells them `closed`.
 *
 * Rotation: at about half of an SVID's life (± 10 % jitter) the session takes a NEW key and has every SVID re-signed
 * for it; the old pairs stay in service until the new ones arrive. Failures (server unreachable) are retried with
 * backoff and jitter, at least once shortly before expiry; an SVID that expires is dropped. All state changes run one
 * at a time (a promise chain), so a rotation and an entry change never interleave.
 */
export class InstanceSession implements WorkloadSession, InstanceIdentity {
  readonly instanceId: string;
  readonly pid: number;
  readonly startTime: bigint;
  readonly selectors: readonly WorkloadSelector[];
  readonly selectorsKey: string;
  readonly #ctx: SessionContext;
  readonly #backoff: Backoff;
  readonly #held = new Map<string, Held>();
  readonly #listeners = new Set<(event: { readonly closed: boolean }) => void>();
  readonly #jwtPending = new Map<string, Promise<WorkloadJwtSvid>>();
  #key: InstanceKey;
  #matched: AgentEntry[] = [];
  #role: Role | undefined;
  #supervisorOf: ReadonlyMap<string, string> = new Map();
  #snapshot: WorkloadState | undefined;
  #closed = false;
  #timer: NodeJS.Timeout | undefined;
  #retryAtMs = Infinity;
  #work: Promise<void> = Promise.resolve();

  constructor(identity: InstanceIdentity, ctx: SessionContext) {
    this.instanceId = identity.instanceId;
    this.pid = identity.pid;
    this.startTime = identity.startTime;
    this.selectors = identity.selectors;
    this.selectorsKey = identity.selectorsKey;
    this.#ctx = ctx;
    this.#backoff = new Backoff({ initialMs: 1_000, maxMs: 30_000, jitter: 0.2, ...ctx.retry });
    this.#key = ctx.newKey();
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** The role this instance was first served (worker or supervisor), for its whole life; undefined before. */
  get role(): Role | undefined {
    return this.#role;
  }

  /** The entries this instance matches now (default identity first). */
  get entries(): readonly AgentEntry[] {
    return this.#matched;
  }

  /** Serials and expiry of the SVIDs held (instance listings, tests). */
  held(): { entryId: string; spiffeId: string; serial: string; notAfter: Date; role: 'worker' | 'supervisor'; supervisorInstanceId?: string }[] {
    return [...this.#held.values()].map((h) => ({
      entryId: h.entry.id,
      spiffeId: h.svid.spiffeId,
      serial: h.serial,
      notAfter: h.svid.notAfter,
      role: h.entry.role,
      ...(h.supervisorInstanceId !== undefined && { supervisorInstanceId: h.supervisorInstanceId }),
    }));
  }

  /**
   * First signing: PERMISSION_DENIED when no entry matches; when entries match but no SVID could be signed, the
   * first failure (UNAVAILABLE when the server is unreachable). Entries that fail while others succeed are retried.
   */
  async establish(): Promise<void> {
    const match = this.#ctx.match(this);
    if (match.conflict) {
      const message = conflictMessage(match.conflict);
      this.#ctx.onRoleConflict?.(this, match.conflict, message);
      throw permissionDenied(message);
    }
    this.#setMatch(match);
    if (this.#matched.length === 0) throw permissionDenied(refusalMessage(match) ?? 'no registration entry matches the caller');
    const failures = await this.#sign(this.#matched, this.#key, false);
    if (this.#held.size === 0) {
      const first = failures[0];
      throw isTesseraError(first) ? first : unavailable('no X509-SVID could be obtained for the caller', { cause: first });
    }
    if (failures.length > 0) this.#retryAtMs = this.#retryTime();
    this.#schedule();
  }

  current(): WorkloadState {
    if (this.#snapshot) return this.#snapshot;
    const bundle = this.#ctx.bundle();
    const x509Svids: WorkloadX509Svid[] = [];
    const federatedX509Bundles = new Map<string, X509Bundle>();
    const federatedJwtBundles = new Map<string, JwtBundle>();
    if (!this.#closed) {
      const federated = this.#ctx.federatedBundles();
      for (const entry of this.#matched) {
        const held = this.#held.get(entry.id);
        if (!held) continue;
        x509Svids.push(held.svid);
        for (const td of entry.federatesWith) {
          const b = federated.get(td);
          if (!b) continue;
          federatedX509Bundles.set(td, b.x509Bundle);
          federatedJwtBundles.set(td, b.jwtBundle);
        }
      }
    }
    this.#snapshot = {
      x509Svids,
      trustDomain: this.#ctx.trustDomain,
      x509Bundle: bundle.x509Bundle,
      jwtBundle: bundle.jwtBundle,
      federatedX509Bundles,
      federatedJwtBundles,
    };
    return this.#snapshot;
  }

  onChange(listener: (event: { readonly closed: boolean }) => void): () => void {
    if (this.#closed) {
      queueMicrotask(() => listener({ closed: true }));
      return () => {};
    }
    const wrapped = (event: { readonly closed: boolean }) => listener(event);
    this.#listeners.add(wrapped);
    return () => void this.#listeners.delete(wrapped);
  }

  async fetchJwtSvids(audience: readonly string[], spiffeId?: string): Promise<WorkloadJwtSvid[]> {
    if (this.#closed) throw permissionDenied('the workload process has exited');
    let targets: readonly AgentEntry[] = this.#matched;
    if (spiffeId !== undefined) targets = targets.filter((e) => instanceSpiffeId(e, this.instanceId) === spiffeId);
    if (targets.length === 0) {
      throw permissionDenied(
        spiffeId === undefined ? 'no registration entry matches the caller' : `the caller is not entitled to ${JSON.stringify(spiffeId)}`,
      );
    }
    return Promise.all(targets.map((e) => this.#jwtFor(e, audience)));
  }

  /** Entries changed (sync): re-match, sign what is new or changed, drop what no longer applies. */
  refresh(): void {
    this.#enqueue(() => this.#reconcile(false));
  }

  /** The bundle changed (sync): every listener gets the new full state. */
  bundleChanged(): void {
    if (this.#closed) return;
    this.#changed();
  }

  #setMatch(match: InstanceMatch): void {
    const before = supervisorKey(this.#matched);
    this.#matched = match.entries;
    this.#role ??= match.entries[0]?.role;
    this.#supervisorOf = match.supervisorOf;
    if (before !== supervisorKey(this.#matched)) this.#ctx.onSupervisorChange?.(this);
  }

  /** Ends the session: keys, SVIDs and cached tokens dropped; listeners told `closed` once. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#held.clear();
    this.#ctx.jwtCache?.deletePrefix(`${this.instanceId}\n`);
    this.#matched = [];
    this.#snapshot = undefined;
    const listeners = [...this.#listeners];
    this.#listeners.clear();
    for (const l of listeners) this.#call(l, true);
  }

  #enqueue(step: () => Promise<void>): void {
    this.#work = this.#work.then(step).catch((err: unknown) => {
      this.#ctx.log.error({ err, instanceId: this.instanceId }, 'Workload session update failed');
      if (!this.#closed) {
        this.#retryAtMs = this.#retryTime();
        this.#schedule();
      }
    });
  }

  async #reconcile(forceRotation: boolean): Promise<void> {
    if (this.#closed) return;
    const now = this.#ctx.clock.now().getTime();
    const match = this.#ctx.match(this);
    if (match.conflict) {
      const message = conflictMessage(match.conflict);
      this.#ctx.log.warn({ instanceId: this.instanceId, pid: this.pid, reason: message }, 'Workload role conflict; identities dropped');
      this.#ctx.onRoleConflict?.(this, match.conflict, message);
    }
    if (match.roleRefused) {
      // Issue 10 item 4: e.g. an orphaned worker whose entries now say supervisor. Never the other role.
      const message = refusalMessage(match)!;
      const refused = match.roleRefused.entryIds;
      this.#ctx.log.warn({ instanceId: this.instanceId, pid: this.pid, reason: message }, 'Workload role change refused');
      this.#ctx.onRoleConflict?.(
        this,
        match.roleRefused.role === 'worker'
          ? { supervisorEntryIds: refused, workerEntryIds: [] }
          : { supervisorEntryIds: [], workerEntryIds: refused },
        message,
      );
    }
    this.#setMatch(match);
    const wanted = new Set(this.#matched.map((e) => e.id));
    let changed = false;
    for (const [id, held] of this.#held) {
      if (!wanted.has(id)) {
        this.#held.delete(id);
        changed = true;
      } else if (held.svid.notAfter.getTime() <= now) {
        this.#held.delete(id);
        changed = true;
        this.#ctx.log.warn(
          { instanceId: this.instanceId, spiffeId: held.svid.spiffeId, serial: held.serial },
          'Workload X509-SVID expired before it could be renewed; dropped',
        );
      }
    }
    const rotation = forceRotation || [...this.#held.values()].some((h) => h.renewAtMs <= now);
    const key = rotation ? this.#ctx.newKey() : this.#key;
    const toSign = rotation
      ? this.#matched
      : this.#matched.filter((e) => {
          const held = this.#held.get(e.id);
          return held?.entry.revision !== e.revision || held.supervisorInstanceId !== this.#supervisorOf.get(e.id);
        });
    this.#retryAtMs = Infinity;
    if (toSign.length > 0) {
      const before = new Map(this.#held);
      const failures = await this.#sign(toSign, key, rotation);
      if (this.#closed) return;
      const anySigned = [...this.#held.values()].some((h) => before.get(h.entry.id) !== h);
      if (anySigned) {
        changed = true;
        if (rotation) this.#key = key;
      }
      if (failures.length > 0) {
        this.#retryAtMs = this.#retryTime();
        for (const h of this.#held.values()) if (h.renewAtMs <= now) h.renewAtMs = this.#retryAtMs;
      } else {
        this.#backoff.reset();
      }
    }
    if (changed) this.#changed();
    this.#schedule();
  }

  /** Signs `entries` for `key`; successes replace what is held; returns the failures. */
  async #sign(entries: readonly AgentEntry[], key: InstanceKey, rotation: boolean): Promise<unknown[]> {
    const results = await Promise.allSettled(
      entries.map((entry) => {
        const supervisorInstanceId = this.#supervisorOf.get(entry.id);
        return this.#ctx.signer.sign({
          entryId: entry.id,
          publicKey: key.spki,
          instanceId: this.instanceId,
          ...(supervisorInstanceId !== undefined && { supervisorInstanceId }),
        });
      }),
    );
    if (this.#closed) return [];
    const failures: unknown[] = [];
    const receivedMs = this.#ctx.clock.now().getTime();
    results.forEach((r, i) => {
      const entry = entries[i]!;
      if (r.status === 'rejected') {
        failures.push(r.reason);
        this.#ctx.log.warn(
          { instanceId: this.instanceId, entryId: entry.id, reason: (r.reason as Error)?.message },
          rotation ? 'Workload X509-SVID rotation failed; will retry' : 'Workload X509-SVID could not be signed; will retry',
        );
        return;
      }
      const signed = r.value;
      const lifeMs = Math.max(0, signed.notAfter.getTime() - receivedMs);
      this.#held.set(entry.id, {
        entry,
        serial: signed.serial,
        supervisorInstanceId: this.#supervisorOf.get(entry.id),
        renewAtMs: receivedMs + jittered(lifeMs, this.#ctx.rotation.fraction, this.#ctx.rotation.jitter),
        svid: {
          spiffeId: signed.spiffeId,
          chain: signed.chain,
          privateKeyPkcs8: key.pkcs8,
          hint: entry.hint,
          notAfter: signed.notAfter,
        },
      });
    });
    this.#ctx.onSigned?.(entries.length - failures.length, failures.length, rotation);
    return failures;
  }

  /** When to retry after a failure: after the backoff, but once more shortly before the earliest expiry if that comes first. */
  #retryTime(): number {
    const now = this.#ctx.clock.now().getTime();
    const after = now + this.#backoff.next();
    let lastTry = Infinity;
    for (const h of this.#held.values()) lastTry = Math.min(lastTry, h.svid.notAfter.getTime() - LAST_TRY_BEFORE_EXPIRY_MS);
    return lastTry > now && lastTry < after ? lastTry : after;
  }

  #schedule(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#closed) return;
    let next = this.#retryAtMs;
    for (const h of this.#held.values()) next = Math.min(next, h.renewAtMs, h.svid.notAfter.getTime());
    if (next === Infinity) return;
    const delay = Math.max(0, Math.min(next - this.#ctx.clock.now().getTime(), 2 ** 31 - 1));
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#enqueue(() => this.#reconcile(false));
    }, delay);
    this.#timer.unref();
  }

  #changed(): void {
    this.#snapshot = undefined;
    for (const l of [...this.#listeners]) this.#call(l, false);
  }

  #call(listener: (event: { readonly closed: boolean }) => void, closed: boolean): void {
    try {
      listener({ closed });
    } catch (err) {
      this.#ctx.log.error({ err, instanceId: this.instanceId }, 'Workload session listener failed');
    }
  }

  async #jwtFor(entry: AgentEntry, audience: readonly string[]): Promise<WorkloadJwtSvid> {
    const supervisorInstanceId = this.#supervisorOf.get(entry.id);
    const cacheKey = `${this.instanceId}\n${entry.id}\n${entry.revision}\n${supervisorInstanceId ?? ''}\n${[...new Set(audience)].sort().join('\n')}`;
    const now = this.#ctx.clock.now().getTime();
    const cached = this.#ctx.jwtCache?.get(cacheKey, now);
    if (cached) return cached;
    const pending = this.#jwtPending.get(cacheKey);
    if (pending) return pending;
    const minting = this.#ctx.minter
      .mint({ entryId: entry.id, audience, instanceId: this.instanceId, ...(supervisorInstanceId !== undefined && { supervisorInstanceId }) })
      .then((minted) => {
        const svid: WorkloadJwtSvid = { spiffeId: minted.spiffeId, token: minted.token, hint: entry.hint };
        if (this.#ctx.jwtCache && !this.#closed) {
          const issuedMs = this.#ctx.clock.now().getTime();
          this.#ctx.jwtCache.set(cacheKey, svid, issuedMs + (minted.expiresAt.getTime() - issuedMs) / 2);
        }
        return svid;
      })
      .finally(() => this.#jwtPending.delete(cacheKey));
    this.#jwtPending.set(cacheKey, minting);
    return minting;
  }
}

function supervisorKey(entries: readonly AgentEntry[]): string {
  return entries
    .filter((e) => e.role === 'supervisor')
    .map((e) => e.id)
    .join(',');
}
