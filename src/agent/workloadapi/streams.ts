/**
 * The Workload API's open server streams, grouped by workload session, and the push of every session change down
 * them.
 *
 * - One subscription per session (not per stream): a session with n open streams has one onChange listener, removed
 *   when its last stream ends.
 * - A change reads `session.current()` once and makes one snapshot; each stream kind's message is serialized once
 *   per snapshot (lazily, on first use) and the same bytes are written to every stream of that kind (the service is
 *   registered with a pass-through serializer for pre-encoded Buffers, see service.ts).
 * - Fan-out is chunked: deliveries are queued and written {@link FANOUT_CHUNK} per `setImmediate` tick, so a push to
 *   thousands of streams never blocks the event loop for long. A stream has at most one queued delivery; a newer
 *   change replaces the snapshot it will get (every message is the full state, so skipping a superseded one is fine).
 * - Bundle streams (FetchX509Bundles, FetchJWTBundles) skip a message whose bytes equal the last one sent on them.
 * - A state with no identity ends the stream with PermissionDenied ("no identity issued"), never an empty message.
 * - A closed session (its process exited) ends its streams with PermissionDenied: the identities that stream carried
 *   are gone, as SPIRE does when a workload's last identity is removed; clients retry with backoff and are attested
 *   afresh. Stopping the agent ends every stream with Unavailable.
 */
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../../common/log.js';
import type { WorkloadSession, WorkloadState } from '../types.js';
import type { WorkloadApiMetrics } from './metrics.js';

export type StreamMethod = 'FetchX509SVID' | 'FetchX509Bundles' | 'FetchJWTBundles';

/** Deliveries written per event-loop turn during a fan-out. */
export const FANOUT_CHUNK = 100;

export const NO_IDENTITY_DETAILS = 'no identity issued';
export const SESSION_CLOSED_DETAILS = 'workload process exited; its identities were dropped';
export const SHUTDOWN_DETAILS = 'workload api is shutting down';

/** Serializes a state into one stream method's message; null when the caller has no identity. */
export type StreamEncoder = (state: WorkloadState) => Buffer | null;

const DEDUPLICATED: ReadonlySet<StreamMethod> = new Set<StreamMethod>(['FetchX509Bundles', 'FetchJWTBundles']);

class Snapshot {
  readonly #encoded = new Map<StreamMethod, Buffer | null>();
  constructor(
    readonly state: WorkloadState,
    private readonly encoders: Readonly<Record<StreamMethod, StreamEncoder>>,
  ) {}

  encoded(method: StreamMethod): Buffer | null {
    let bytes = this.#encoded.get(method);
    if (bytes === undefined) {
      bytes = this.encoders[method](this.state);
      this.#encoded.set(method, bytes);
    }
    return bytes;
  }
}

interface OpenStream {
  readonly method: StreamMethod;
  readonly call: grpc.ServerWritableStream<unknown, unknown>;
  readonly hub: Hub;
  lastSent: Buffer | undefined;
  pending: Snapshot | undefined;
  queued: boolean;
  ended: boolean;
}

interface Hub {
  readonly session: WorkloadSession;
  readonly streams: Set<OpenStream>;
  unsubscribe: () => void;
  latest: Snapshot | undefined;
}

export interface StreamRegistryOptions {
  readonly encoders: Readonly<Record<StreamMethod, StreamEncoder>>;
  readonly log: Logger;
  readonly metrics?: WorkloadApiMetrics;
  /** Deliveries per tick; default {@link FANOUT_CHUNK}. */
  readonly chunk?: number;
}

export class StreamRegistry {
  readonly #hubs = new Map<WorkloadSession, Hub>();
  readonly #encoders: Readonly<Record<StreamMethod, StreamEncoder>>;
  readonly #log: Logger;
  readonly #metrics: WorkloadApiMetrics | undefined;
  readonly #chunk: number;
  #queue: OpenStream[] = [];
  #head = 0;
  #scheduled = false;
  #closed = false;
  readonly #drainWaiters: (() => void)[] = [];

  constructor(options: StreamRegistryOptions) {
    this.#encoders = options.encoders;
    this.#log = options.log;
    this.#metrics = options.metrics;
    this.#chunk = options.chunk ?? FANOUT_CHUNK;
  }

  /**
   * Registers a stream of `session` and sends its first message at once (or ends it with PermissionDenied when the
   * caller has no identity). Returns after the first write was handed to grpc-js.
   */
  open(method: StreamMethod, call: grpc.ServerWritableStream<unknown, unknown>, session: WorkloadSession): void {
    if (this.#closed) {
      endCall(call, grpc.status.UNAVAILABLE, SHUTDOWN_DETAILS);
      return;
    }
    if (call.cancelled) return;
    // Read, subscribe and send in one synchronous run: no change can fall in between. A throwing current() leaves
    // nothing registered (the caller turns the error into the stream's status).
    const state = session.current();
    const hub = this.#hubFor(session);
    const stream: OpenStream = {
      method,
      call,
      hub,
      lastSent: undefined,
      pending: undefined,
      queued: false,
      ended: false,
    };
    hub.streams.add(stream);
    this.#metrics?.openStreams?.inc({ method });
    call.once('cancelled', () => this.#detach(stream));
    if (!hub.latest || hub.latest.state !== state) hub.latest = new Snapshot(state, this.#encoders);
    this.#deliver(stream, hub.latest, false);
  }

  /** Open streams (all sessions). */
  streamCount(): number {
    let n = 0;
    for (const hub of this.#hubs.values()) n += hub.streams.size;
    return n;
  }

  /** Sessions with at least one open stream, i.e. onChange subscriptions held. */
  sessionCount(): number {
    return this.#hubs.size;
  }

  /** Resolves when no delivery is queued (tests and benchmarks). */
  idle(): Promise<void> {
    if (this.#head >= this.#queue.length) return Promise.resolve();
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  /** Ends every open stream with `code` and refuses new ones (with Unavailable). */
  closeAll(code: grpc.status = grpc.status.UNAVAILABLE, details: string = SHUTDOWN_DETAILS): void {
    this.#closed = true;
    for (const hub of [...this.#hubs.values()]) {
      for (const stream of [...hub.streams]) this.#end(stream, code, details);
    }
  }

  #hubFor(session: WorkloadSession): Hub {
    let hub = this.#hubs.get(session);
    if (hub) return hub;
    const created: Hub = { session, streams: new Set(), unsubscribe: () => {}, latest: undefined };
    this.#hubs.set(session, created);
    created.unsubscribe = session.onChange((event) => this.#onChange(created, event.closed));
    return created;
  }

  #onChange(hub: Hub, closed: boolean): void {
    if (this.#hubs.get(hub.session) !== hub) return;
    if (closed) {
      for (const stream of [...hub.streams]) this.#end(stream, grpc.status.PERMISSION_DENIED, SESSION_CLOSED_DETAILS);
      this.#dropHub(hub);
      return;
    }
    let snapshot: Snapshot;
    try {
      snapshot = new Snapshot(hub.session.current(), this.#encoders);
    } catch (err) {
      this.#log.error({ err, instanceId: hub.session.instanceId }, 'Could not read a changed workload session');
      return;
    }
    hub.latest = snapshot;
    for (const stream of hub.streams) {
      stream.pending = snapshot;
      if (!stream.queued) {
        stream.queued = true;
        this.#queue.push(stream);
      }
    }
    this.#schedule();
  }

  #schedule(): void {
    if (this.#scheduled || this.#head >= this.#queue.length) return;
    this.#scheduled = true;
    setImmediate(() => this.#pump());
  }

  #pump(): void {
    this.#scheduled = false;
    const end = Math.min(this.#queue.length, this.#head + this.#chunk);
    while (this.#head < end) {
      const stream = this.#queue[this.#head]!;
      this.#queue[this.#head++] = undefined as unknown as OpenStream;
      stream.queued = false;
      const snapshot = stream.pending;
      stream.pending = undefined;
      if (snapshot && !stream.ended) this.#deliver(stream, snapshot, true);
    }
    if (this.#head < this.#queue.length) {
      this.#schedule();
      return;
    }
    this.#queue = [];
    this.#head = 0;
    for (const resolve of this.#drainWaiters.splice(0)) resolve();
  }

  #deliver(stream: OpenStream, snapshot: Snapshot, push: boolean): void {
    let bytes: Buffer | null;
    try {
      bytes = snapshot.encoded(stream.method);
    } catch (err) {
      this.#log.error({ err, method: stream.method }, 'Could not encode a Workload API message');
      this.#end(stream, grpc.status.INTERNAL, 'internal error');
      return;
    }
    if (bytes === null) {
      this.#log.debug({ method: stream.method, instanceId: stream.hub.session.instanceId }, 'Workload has no identity');
      this.#end(stream, grpc.status.PERMISSION_DENIED, NO_IDENTITY_DETAILS);
      return;
    }
    if (stream.lastSent !== undefined && DEDUPLICATED.has(stream.method)) {
      if (stream.lastSent === bytes || stream.lastSent.equals(bytes)) return;
    }
    stream.lastSent = bytes;
    stream.call.write(bytes);
    if (push) this.#metrics?.pushes?.inc({ method: stream.method });
  }

  #end(stream: OpenStream, code: grpc.status, details: string): void {
    if (stream.ended) return;
    this.#detach(stream);
    endCall(stream.call, code, details);
  }

  #detach(stream: OpenStream): void {
    if (stream.ended) return;
    stream.ended = true;
    stream.pending = undefined;
    const { hub } = stream;
    hub.streams.delete(stream);
    this.#metrics?.openStreams?.dec({ method: stream.method });
    if (hub.streams.size === 0) this.#dropHub(hub);
  }

  #dropHub(hub: Hub): void {
    if (this.#hubs.get(hub.session) === hub) this.#hubs.delete(hub.session);
    hub.unsubscribe();
    hub.unsubscribe = () => {};
    hub.latest = undefined;
  }
}

/** Ends a server stream with a status (after the messages already written). */
export function endCall(call: grpc.ServerWritableStream<unknown, unknown>, code: grpc.status, details: string): void {
  if (call.cancelled || call.writableEnded || call.destroyed) return;
  const err = Object.assign(new Error(details), { code, details });
  call.emit('error', err);
}
