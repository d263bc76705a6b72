import { Backoff } from '../../common/backoff.js';
import type { Clock } from '../../common/clock.js';
import { failedPrecondition, isTesseraError, notFound } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import { SpiffeBundle, type X509Bundle } from '../../spiffe/bundle/index.js';
import { isSpiffeError } from '../../spiffe/errors.js';
import { SpiffeId, type TrustDomain } from '../../spiffe/id/index.js';
import { checkAuthoritiesTrustDomain } from '../../spiffe/x509svid/index.js';
import type { BundleSource } from '../ca/types.js';
import type { BundleRecord, BundleStore } from '../datastore/index.js';
import { DEFAULT_FETCH_OPTIONS, fetchBundleDocument, type EndpointAuth } from './fetch.js';
import type {
  FederatedBundleSource,
  FederationControl,
  FederationRelationship,
  FederationStatus,
} from './types.js';

/** Poll interval when the peer's bundle carries no refresh hint (SPIFFE Federation suggests ~5 minutes). */
export const DEFAULT_REFRESH_SECONDS = 300;
/** Longest interval between two fetches, whatever the hint says. */
export const MAX_REFRESH_SECONDS = 3600;

export interface FederationRefresherOptions {
  /** Our own trust domain (relationships naming it are ignored; its bundle authenticates endpoints inside it). */
  readonly trustDomain: TrustDomain;
  readonly relationships: {
    get(trustDomain: string): Promise<FederationRelationship | null>;
    list(): Promise<FederationRelationship[]>;
  };
  readonly bundles: Pick<BundleStore, 'get' | 'put' | 'list'>;
  readonly ownBundle: Pick<BundleSource, 'currentBundle'>;
  /** Shortest interval between two scheduled fetches of one peer, and the first retry delay after a failure. */
  readonly minRefreshSeconds: number;
  readonly clock: Clock;
  readonly log: Logger;
  /** Counts every fetch by trust domain and result (`success`, `failure`); prom-client's Counter fits. */
  readonly refreshes?: { inc(labels: { trust_domain: string; result: 'success' | 'failure' }): void };
  /** Overrides for tests. */
  readonly fetch?: typeof fetchBundleDocument;
  readonly fetchTimeoutMs?: number;
}

interface Peer {
  relationship: FederationRelationship;
  /** The last good bundle (stored). */
  bundle: SpiffeBundle | undefined;
  status: { -readonly [K in keyof FederationStatus]: FederationStatus[K] };
  readonly backoff: Backoff;
  timer: NodeJS.Timeout | undefined;
  /** Fetches of one peer run one at a time. */
  queue: Promise<unknown>;
  removed: boolean;
}

/**
 * Keeps every federated trust domain's bundle fresh: one timer per relationship fetches the peer's bundle endpoint
 * (fetch.ts), checks the document (SPIFFE bundle of exactly that trust domain, no authority naming another, no
 * spiffe_sequence rollback) and stores it when it changed. The next fetch is due after the peer's refresh hint
 * (floored at `minRefreshSeconds`, capped at an hour); a failed fetch keeps the last good bundle and is retried with
 * exponential backoff starting at the floor and never later than the normal interval. Trust domains are never mixed:
 * each bundle is parsed, stored and served under its own trust domain only.
 */
export class FederationRefresher implements FederationControl, FederatedBundleSource {
  readonly #o: FederationRefresherOptions;
  readonly #fetch: typeof fetchBundleDocument;
  readonly #peers = new Map<string, Peer>();
  /** Static federated bundles: stored (`tessera bundle set`) for a trust domain with no relationship, never fetched. */
  readonly #static = new Map<string, SpiffeBundle>();
  readonly #listeners = new Set<(trustDomain: string) => void>();
  readonly #abort = new AbortController();
  #stopped = false;

  constructor(options: FederationRefresherOptions) {
    this.#o = options;
    this.#fetch = options.fetch ?? fetchBundleDocument;
  }

  /** Loads the relationships and their stored bundles (served at once), then fetches each peer. */
  async start(): Promise<void> {
    for (const relationship of await this.#o.relationships.list()) {
      if (relationship.trustDomain === this.#o.trustDomain.name) continue;
      const peer = this.#track(relationship);
      await this.#adoptStored(peer);
      this.#schedule(peer, 0);
    }
    for (const record of await this.#o.bundles.list()) {
      const td = record.trustDomain;
      if (td === this.#o.trustDomain.name || this.#peers.has(td)) continue;
      const bundle = this.#parseStored(td, record);
      if (bundle) this.#static.set(td, bundle);
    }
  }

  /** Cancels timers and in-flight fetches. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#abort.abort(new Error('server is shutting down'));
    const pending: Promise<unknown>[] = [];
    for (const peer of this.#peers.values()) {
      if (peer.timer) clearTimeout(peer.timer);
      peer.timer = undefined;
      pending.push(peer.queue);
    }
    await Promise.allSettled(pending);
  }

  // --- FederatedBundleSource ---

  federatedBundle(trustDomain: string): SpiffeBundle | undefined {
    return this.#peers.get(trustDomain)?.bundle ?? this.#static.get(trustDomain);
  }

  onFederatedBundleChange(listener: (trustDomain: string) => void): () => void {
    const wrapped = (td: string) => listener(td);
    this.#listeners.add(wrapped);
    return () => void this.#listeners.delete(wrapped);
  }

  /** Unix ms of each tracked trust domain's last successful fetch (those never fetched are left out), for metrics. */
  lastSuccesses(): Map<string, number> {
    const out = new Map<string, number>();
    for (const [td, peer] of this.#peers) {
      if (peer.status.lastSuccessAtMs !== undefined) out.set(td, peer.status.lastSuccessAtMs);
    }
    return out;
  }

  // --- FederationControl ---

  async reload(trustDomain: string): Promise<void> {
    if (trustDomain === this.#o.trustDomain.name) return;
    const relationship = await this.#o.relationships.get(trustDomain);
    const peer = this.#peers.get(trustDomain);
    if (!relationship) {
      if (peer) {
        peer.removed = true;
        if (peer.timer) clearTimeout(peer.timer);
        this.#peers.delete(trustDomain);
        this.#o.log.info({ trustDomain }, 'Federation relationship removed');
      }
      await this.#reloadStatic(trustDomain, peer?.bundle);
      return;
    }
    this.#static.delete(trustDomain);
    const tracked = peer ?? this.#track(relationship);
    tracked.relationship = relationship;
    tracked.backoff.reset();
    await this.#adoptStored(tracked);
    this.#schedule(tracked, 0);
  }

  async refresh(trustDomain: string): Promise<FederationStatus> {
    const peer = this.#peers.get(trustDomain);
    if (!peer) throw notFound(`no federation relationship with ${JSON.stringify(trustDomain)}`);
    await this.#runFetch(peer, true);
    return this.status(trustDomain)!;
  }

  status(trustDomain: string): FederationStatus | undefined {
    const peer = this.#peers.get(trustDomain);
    if (!peer) return undefined;
    const sequence = peer.bundle?.sequenceNumber;
    return { ...peer.status, ...(sequence !== undefined ? { bundleSequence: sequence.toString() } : {}) };
  }

  // --- internals ---

  #track(relationship: FederationRelationship): Peer {
    const floorMs = this.#o.minRefreshSeconds * 1000;
    const peer: Peer = {
      relationship,
      bundle: undefined,
      status: {},
      backoff: new Backoff({ initialMs: floorMs, maxMs: Math.max(floorMs, MAX_REFRESH_SECONDS * 1000), jitter: 0.1 }),
      timer: undefined,
      queue: Promise.resolve(),
      removed: false,
    };
    this.#peers.set(relationship.trustDomain, peer);
    return peer;
  }

  /** Serves the stored bundle (the last good one, or the operator's) if it differs from what is held. */
  async #adoptStored(peer: Peer): Promise<void> {
    const td = peer.relationship.trustDomain;
    const stored = this.#parseStored(td, await this.#o.bundles.get(td));
    if (stored && (!peer.bundle || !peer.bundle.equals(stored))) {
      peer.bundle = stored;
      this.#notify(td);
    } else if (!stored && peer.bundle) {
      peer.bundle = undefined;
      this.#notify(td);
    }
  }

  /** Serves the stored bundle of a trust domain without relationship (or stops serving it); `had` was served before. */
  async #reloadStatic(td: string, had: SpiffeBundle | undefined): Promise<void> {
    const before = had ?? this.#static.get(td);
    const stored = this.#parseStored(td, await this.#o.bundles.get(td));
    if (stored) this.#static.set(td, stored);
    else this.#static.delete(td);
    const changed = stored ? !before || !before.equals(stored) : before !== undefined;
    if (changed) {
      this.#o.log.info({ trustDomain: td, static: stored !== undefined }, 'Static federated bundle reloaded');
      this.#notify(td);
    }
  }

  #parseStored(td: string, record: BundleRecord | null): SpiffeBundle | undefined {
    if (!record) return undefined;
    try {
      return SpiffeBundle.parse(td, record.document);
    } catch (err) {
      this.#o.log.warn({ trustDomain: td, err }, 'The stored federated bundle cannot be read; ignoring it');
      return undefined;
    }
  }

  #schedule(peer: Peer, delayMs: number): void {
    if (this.#stopped || peer.removed) return;
    if (peer.timer) clearTimeout(peer.timer);
    peer.status.nextRefreshAtMs = this.#o.clock.now().getTime() + delayMs;
    peer.timer = setTimeout(() => {
      peer.timer = undefined;
      this.#runFetch(peer, false).catch(() => undefined);
    }, delayMs);
    peer.timer.unref();
  }

  /** One fetch, queued behind any running one; reschedules the peer either way. Rejects with the failure. */
  #runFetch(peer: Peer, manual: boolean): Promise<void> {
    const run = peer.queue.then(async () => {
      if (this.#stopped || peer.removed) return;
      const td = peer.relationship.trustDomain;
      const startedMs = this.#o.clock.now().getTime();
      peer.status.lastAttemptAtMs = startedMs;
      try {
        await this.#fetchOnce(peer);
        peer.status.lastSuccessAtMs = this.#o.clock.now().getTime();
        this.#o.refreshes?.inc({ trust_domain: td, result: 'success' });
        delete peer.status.lastError;
        peer.backoff.reset();
        this.#schedule(peer, this.#intervalMs(peer.bundle));
      } catch (err) {
        const message = (err as Error).message;
        peer.status.lastError = message;
        this.#o.refreshes?.inc({ trust_domain: td, result: 'failure' });
        // Jitter never brings a retry before the floor, nor after the normal interval.
        const floorMs = this.#o.minRefreshSeconds * 1000;
        const delay = Math.min(Math.max(floorMs, peer.backoff.next()), this.#intervalMs(peer.bundle));
        this.#schedule(peer, delay);
        this.#o.log.warn(
          { trustDomain: td, url: peer.relationship.bundleEndpointUrl, error: message, retryInMs: delay, manual },
          'Federated bundle fetch failed; keeping the last good bundle',
        );
        throw err;
      }
    });
    peer.queue = run.catch(() => undefined);
    return run;
  }

  #intervalMs(bundle: SpiffeBundle | undefined): number {
    const hint = bundle?.refreshHintSeconds ?? DEFAULT_REFRESH_SECONDS;
    return Math.min(MAX_REFRESH_SECONDS, Math.max(this.#o.minRefreshSeconds, hint)) * 1000;
  }

  async #fetchOnce(peer: Peer): Promise<void> {
    const { relationship } = peer;
    const td = relationship.trustDomain;
    const url = new URL(relationship.bundleEndpointUrl);
    const document = await this.#fetch(url, await this.#auth(relationship), {
      ...DEFAULT_FETCH_OPTIONS,
      ...(this.#o.fetchTimeoutMs ? { timeoutMs: this.#o.fetchTimeoutMs } : {}),
      now: () => this.#o.clock.now(),
      signal: this.#abort.signal,
    });
    const fetched = this.#check(td, url, document);

    // Compare with what is stored now (an operator or another server may have written since).
    const record = await this.#o.bundles.get(td);
    const stored = this.#parseStored(td, record);
    if (stored?.equals(fetched)) {
      if (!peer.removed && !this.#stopped && !peer.bundle?.equals(stored)) {
        peer.bundle = stored;
        this.#notify(td);
      }
      return;
    }
    const had = stored?.sequenceNumber;
    if (had !== undefined && fetched.sequenceNumber !== undefined && fetched.sequenceNumber < had) {
      throw failedPrecondition(
        `${url.toString()} served spiffe_sequence ${fetched.sequenceNumber}, lower than the stored ${had}: refusing a rollback`,
      );
    }
    if (peer.removed || this.#stopped) return;
    // The row's sequence is our own change counter (peers need not publish one); rollback is judged on the documents.
    await this.#o.bundles.put(td, document, (record?.sequence ?? 0) + 1);
    peer.bundle = fetched;
    this.#o.log.info(
      {
        trustDomain: td,
        sequence: fetched.sequenceNumber?.toString(),
        x509Authorities: fetched.x509Bundle.x509Authorities.length,
        jwtAuthorities: fetched.jwtBundle.jwtAuthorities.size,
      },
      'Federated bundle updated',
    );
    this.#notify(td);
  }

  /** Parses and checks a fetched document; a refused one is FAILED_PRECONDITION naming the URL and the rule. */
  #check(td: string, url: URL, document: string): SpiffeBundle {
    try {
      const bundle = SpiffeBundle.parse(td, document);
      if (bundle.isEmpty()) throw failedPrecondition('the bundle holds no authorities');
      checkAuthoritiesTrustDomain(bundle.x509Bundle);
      return bundle;
    } catch (err) {
      if (isSpiffeError(err) || isTesseraError(err)) {
        throw failedPrecondition(`${url.toString()} served a bundle that was refused: ${err.message}`, { cause: err });
      }
      throw err;
    }
  }

  async #auth(relationship: FederationRelationship): Promise<EndpointAuth> {
    if (relationship.profile === 'https_web') return { profile: 'https_web' };
    const endpointId = SpiffeId.parse(relationship.endpointSpiffeId!);
    const bundle = await this.#x509BundleOf(endpointId.trustDomain.name);
    if (!bundle || bundle.isEmpty()) {
      throw failedPrecondition(
        `no bundle for trust domain ${JSON.stringify(endpointId.trustDomain.name)} to authenticate ${relationship.bundleEndpointUrl} with: set one with --trust-bundle`,
      );
    }
    return { profile: 'https_spiffe', endpointId, bundle };
  }

  /** The X.509 bundle of `td`: ours, or a federated one we hold (never a mix). */
  async #x509BundleOf(td: string): Promise<X509Bundle | undefined> {
    if (td === this.#o.trustDomain.name) return this.#o.ownBundle.currentBundle().x509Bundle;
    const held = this.#peers.get(td)?.bundle;
    if (held) return held.x509Bundle;
    return this.#parseStored(td, await this.#o.bundles.get(td))?.x509Bundle;
  }

  #notify(trustDomain: string): void {
    for (const listener of [...this.#listeners]) {
      try {
        listener(trustDomain);
      } catch (err) {
        this.#o.log.error({ err, trustDomain }, 'A federated bundle listener failed');
      }
    }
  }
}
