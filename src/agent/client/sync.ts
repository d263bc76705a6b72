import type * as grpc from '@grpc/grpc-js';
import type { TesseraError } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import { SpiffeBundle } from '../../spiffe/bundle/index.js';
import { TrustDomain } from '../../spiffe/id/index.js';
import { Backoff, type BackoffOptions } from '../../common/backoff.js';
import type { AgentEntry, SyncState } from '../state.js';
import type { ProtoEntry, SyncResponse } from './messages.js';
import type { ServerClient } from './server-client.js';
import { fromServiceError, isConnectivityFailure } from './status.js';

export interface SyncConsumerOptions {
  readonly client: ServerClient;
  readonly trustDomain: TrustDomain;
  readonly log: Logger;
  /** Every message, parsed. A message that does not parse is logged and skipped. */
  readonly onState: (state: SyncState) => void;
  /** The server refused the agent (PERMISSION_DENIED: evicted, banned, replaced SVID; UNAUTHENTICATED). */
  readonly onRefused: (err: TesseraError) => void;
  /** Reconnect backoff. Default 500 ms doubling to 30 s, ±20 % jitter. */
  readonly backoff?: BackoffOptions;
}

/**
 * Keeps one Sync stream open: reconnects with exponential backoff and jitter when it ends or fails (the backoff resets
 * on every message), reopens at once on the new channel when the client's credentials change (agent SVID renewed,
 * bundle changed), and hands every message to `onState` as a {@link SyncState}.
 */
export class SyncConsumer {
  readonly #o: SyncConsumerOptions;
  readonly #backoff: Backoff;
  #generation = 0;
  #current: { stream: grpc.ClientReadableStream<SyncResponse>; release: () => void } | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #unsubscribe: (() => void) | undefined;
  #stopped = true;

  constructor(options: SyncConsumerOptions) {
    this.#o = options;
    this.#backoff = new Backoff({ initialMs: 500, maxMs: 30_000, jitter: 0.2, ...options.backoff });
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#unsubscribe = this.#o.client.onCredentialsChange(() => this.#reopen());
    this.#open();
  }

  stop(): void {
    this.#stopped = true;
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    this.#closeCurrent();
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
  }

  #reopen(): void {
    if (this.#stopped) return;
    this.#closeCurrent();
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    this.#open();
  }

  #closeCurrent(): void {
    this.#generation++;
    const current = this.#current;
    this.#current = undefined;
    if (current) {
      current.stream.cancel();
      current.release();
    }
  }

  #open(): void {
    if (this.#stopped || this.#current) return;
    const opened = this.#o.client.openSync();
    if (!opened) return; // no credentials yet: onCredentialsChange reopens
    const generation = ++this.#generation;
    this.#current = opened;
    let ended = false;
    const end = (err: unknown) => {
      if (ended) return;
      ended = true;
      opened.release();
      if (generation !== this.#generation) return; // replaced or stopped on purpose
      this.#current = undefined;
      this.#ended(err);
    };
    opened.stream.on('data', (msg: SyncResponse) => {
      if (generation !== this.#generation) return;
      this.#backoff.reset();
      this.#o.client.reportReachable(true);
      let state: SyncState;
      try {
        state = parseSyncResponse(this.#o.trustDomain, msg);
      } catch (err) {
        this.#o.log.error({ err, revision: msg.revision }, 'Sync message could not be parsed; ignored');
        return;
      }
      this.#o.onState(state);
    });
    opened.stream.on('error', (err) => end(err));
    opened.stream.on('status', (s: grpc.StatusObject) => {
      if (s.code === 0) end(null);
    });
  }

  #ended(err: unknown): void {
    if (this.#stopped) return;
    const delay = this.#backoff.next();
    if (err) {
      const e = fromServiceError(err, 'sync stream failed');
      if (e.code === 'PERMISSION_DENIED' || e.code === 'UNAUTHENTICATED') {
        this.#o.log.warn({ reason: e.message, retryInMs: delay }, 'Sync stream refused by the server');
        this.#o.onRefused(e);
      } else if (isConnectivityFailure(e)) {
        this.#o.client.reportReachable(false, e.message);
        this.#o.log.debug({ reason: e.message, retryInMs: delay }, 'Sync stream failed; reconnecting');
      } else {
        this.#o.log.warn({ reason: e.message, retryInMs: delay }, 'Sync stream failed; reconnecting');
      }
    } else {
      this.#o.log.debug({ retryInMs: delay }, 'Sync stream ended by the server; reconnecting');
    }
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      this.#open();
    }, delay);
    this.#retryTimer.unref();
  }
}

/** A SyncResponse as domain state. Throws when the bundle does not parse. */
export function parseSyncResponse(trustDomain: TrustDomain, msg: SyncResponse): SyncState {
  const bundle = SpiffeBundle.parse(trustDomain, msg.bundle);
  const federatedBundles = new Map<string, SpiffeBundle>();
  for (const [key, bytes] of Object.entries(msg.federated_bundles ?? {})) {
    const td = TrustDomain.parse(key);
    federatedBundles.set(td.name, SpiffeBundle.parse(td, bytes));
  }
  return { entries: msg.entries.map(toEntry), bundle, federatedBundles, revision: Number(msg.revision) };
}

function toEntry(p: ProtoEntry): AgentEntry {
  return {
    id: p.id,
    spiffeId: p.spiffe_id,
    parentId: p.parent_id,
    selectors: p.selectors.map((s) => ({ type: s.type, value: s.value })),
    role: p.role === 'ROLE_SUPERVISOR' ? 'supervisor' : 'worker',
    x509SvidTtlSeconds: p.x509_svid_ttl_seconds,
    jwtSvidTtlSeconds: p.jwt_svid_ttl_seconds,
    dnsNames: p.dns_names,
    federatesWith: p.federates_with,
    hint: p.hint,
    admin: p.admin,
    expiresAt: Number(p.expires_at),
    revision: Number(p.revision),
    createdAt: Number(p.created_at),
  };
}
