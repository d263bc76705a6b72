import type { Socket } from 'node:net';
import * as grpc from '@grpc/grpc-js';

/**
 * Closes gRPC connections that carry no call: one that starts no call within `firstCallTimeoutMs` of being accepted
 * (no TLS handshake, only the HTTP/2 preface, or nothing at all), and one whose calls have all ended and that starts
 * no new one within `idleTimeoutMs`. A connection with an open call (a FetchX509SVID watch, an agent's sync stream)
 * is never idle, however long it lives.
 *
 * The listener calls {@link track} with each accepted socket before injecting it into grpc-js; the server carries
 * {@link interceptor} (first, so every call counts, also one an inner interceptor refuses). A call finds its socket by
 * `call.getPeer()`, which grpc-js computes from the socket as `remoteAddress[:remotePort]`: unique per open TCP
 * connection, and per Workload API connection by the tag the agent gives each socket (agent workloadapi/connections).
 * Timers are unref'd: they never keep the process alive.
 */
export type InactivityPhase = 'first_call' | 'idle';

export interface CallActivityOptions {
  /** Absent: no first-call timer (the server's TLS listener leaves that to the TLS handshake timeout). */
  readonly firstCallTimeoutMs?: number;
  /** Absent: no idle timer. */
  readonly idleTimeoutMs?: number;
  /** Called just before a connection is destroyed for inactivity (metrics, rate-limited warning). */
  readonly onTimeout?: (socket: Socket, phase: InactivityPhase) => void;
}

/** What {@link CallActivity.track} gives back about one connection. */
export interface TrackedConnection {
  /** Calls started on the connection so far. */
  callsStarted(): number;
}

interface Tracked {
  readonly socket: Socket;
  active: number;
  started: number;
  timer: NodeJS.Timeout | undefined;
  phase: InactivityPhase;
}

/** The peer string grpc-js reports for calls on `socket` (see server-interceptors getPeer). */
export function peerOf(socket: Socket): string | undefined {
  const { remoteAddress, remotePort } = socket;
  if (!remoteAddress) return undefined;
  return remotePort ? `${remoteAddress}:${remotePort}` : remoteAddress;
}

export class CallActivity {
  #options: CallActivityOptions;
  readonly #byPeer = new Map<string, Tracked>();

  constructor(options: CallActivityOptions = {}) {
    this.#options = options;
  }

  /**
   * Sets the timeouts and the timeout hook for connections tracked from now on (the server, and so the interceptor,
   * exists before the listener that knows them).
   */
  configure(options: CallActivityOptions): void {
    this.#options = options;
  }

  /** Starts the first-call timer of an accepted socket; forgets the socket when it closes. */
  track(socket: Socket): TrackedConnection {
    const tracked: Tracked = { socket, active: 0, started: 0, timer: undefined, phase: 'first_call' };
    const handle: TrackedConnection = { callsStarted: () => tracked.started };
    const peer = peerOf(socket);
    if (peer === undefined || socket.destroyed) return handle;
    this.#byPeer.set(peer, tracked);
    this.#arm(tracked, 'first_call', this.#options.firstCallTimeoutMs);
    socket.once('close', () => {
      clearTimeout(tracked.timer);
      if (this.#byPeer.get(peer) === tracked) this.#byPeer.delete(peer);
    });
    return handle;
  }

  /** Connections tracked right now (tests). */
  size(): number {
    return this.#byPeer.size;
  }

  /** Counts each call against its connection from its start to its status or cancellation. */
  interceptor(): grpc.ServerInterceptor {
    return (_method, call) => {
      const tracked = this.#byPeer.get(call.getPeer());
      if (!tracked) return new grpc.ServerInterceptingCall(call);
      this.#callStarted(tracked);
      let ended = false;
      const end = () => {
        if (ended) return;
        ended = true;
        this.#callEnded(tracked);
      };
      return new grpc.ServerInterceptingCall(call, {
        start(next) {
          next({
            onCancel() {
              end();
            },
          });
        },
        sendStatus(status, next) {
          end();
          next(status);
        },
      });
    };
  }

  #callStarted(tracked: Tracked): void {
    tracked.active++;
    tracked.started++;
    clearTimeout(tracked.timer);
    tracked.timer = undefined;
  }

  #callEnded(tracked: Tracked): void {
    tracked.active--;
    if (tracked.active === 0 && !tracked.socket.destroyed) this.#arm(tracked, 'idle', this.#options.idleTimeoutMs);
  }

  #arm(tracked: Tracked, phase: InactivityPhase, ms: number | undefined): void {
    tracked.phase = phase;
    if (ms === undefined) return;
    tracked.timer = setTimeout(() => {
      tracked.timer = undefined;
      if (tracked.active > 0 || tracked.socket.destroyed) return;
      this.#options.onTimeout?.(tracked.socket, phase);
      tracked.socket.destroy();
    }, ms);
    tracked.timer.unref();
  }
}
