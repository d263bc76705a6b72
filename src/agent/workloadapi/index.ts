/**
 * The agent's SPIFFE Workload API endpoint: a Unix socket we listen on ourselves (listener.ts), each connection's
 * kernel credentials read on accept and tied to its calls (connections.ts), the service's handlers
 * (service.ts) on top of WorkloadIdentityProvider, and the push of session changes to open streams (streams.ts).
 */
import * as grpc from '@grpc/grpc-js';
import type { Clock } from '../../common/clock.js';
import type { Logger } from '../../common/log.js';
import { CallActivity } from '../../common/net/call-activity.js';
import type { CallerCredentialsReader, WorkloadIdentityProvider } from '../types.js';
import { listenWorkloadApi, type WorkloadApiLimits } from './listener.js';
import type { WorkloadApiMetrics } from './metrics.js';
import { createWorkloadApiService, WORKLOAD_API_PROTO, WORKLOAD_API_SERVICE } from './service.js';
import { SHUTDOWN_DETAILS } from './streams.js';

export {
  listenWorkloadApi,
  DEFAULT_WORKLOAD_API_LIMITS,
  WORKLOAD_API_BACKLOG,
  WORKLOAD_API_SOCKET_MODE,
  WORKLOAD_API_DIR_MODE,
} from './listener.js';
export type {
  ListenWorkloadApiOptions,
  WorkloadApiLimits,
  WorkloadApiListener,
  WorkloadConnectionCloseReason,
} from './listener.js';
export { createWorkloadApiService, WORKLOAD_API_PROTO, WORKLOAD_API_SERVICE } from './service.js';
export { SECURITY_HEADER, SECURITY_HEADER_VALUE, SECURITY_HEADER_MISSING } from './security-header.js';
export { FANOUT_CHUNK, NO_IDENTITY_DETAILS, SESSION_CLOSED_DETAILS, SHUTDOWN_DETAILS } from './streams.js';
export type { WorkloadApiMetrics } from './metrics.js';

/** How long stop() lets in-flight calls finish before it drops the remaining connections. */
export const DEFAULT_SHUTDOWN_GRACE_MS = 2000;

export interface StartWorkloadApiOptions {
  /** Absolute path of the Unix socket (mode 0777; its directory is created 0755 when missing). */
  readonly socketPath: string;
  readonly provider: WorkloadIdentityProvider;
  readonly credentials: CallerCredentialsReader;
  readonly log: Logger;
  readonly metrics?: WorkloadApiMetrics;
  /** ValidateJWTSVID's clock; default the system clock. */
  readonly clock?: Clock;
  /** Stream deliveries per event-loop turn when a change is pushed; default 100. */
  readonly fanoutChunk?: number;
  readonly shutdownGraceMs?: number;
  /** Connection caps and idle timeout; default DEFAULT_WORKLOAD_API_LIMITS. */
  readonly limits?: WorkloadApiLimits;
}

export interface WorkloadApi {
  readonly socketPath: string;
  /**
   * Stops accepting, ends every open stream with Unavailable ("workload api is shutting down"), lets unary calls
   * finish (up to the grace period), closes every connection and removes the socket file. Idempotent.
   */
  stop(): Promise<void>;
  /** Open streams, sessions subscribed to, open connections (metrics, tests, leak checks). */
  stats(): { streams: number; sessions: number; connections: number };
  /** Resolves once every queued push has been written to its stream (tests, benchmarks). */
  idle(): Promise<void>;
}

export async function startWorkloadApi(options: StartWorkloadApiOptions): Promise<WorkloadApi> {
  const service = createWorkloadApiService({
    provider: options.provider,
    log: options.log,
    ...(options.metrics && { metrics: options.metrics }),
    ...(options.clock && { clock: options.clock }),
    ...(options.fanoutChunk !== undefined && { fanoutChunk: options.fanoutChunk }),
  });
  // The call tracker goes first: every call counts as activity on its connection, also one refused further in.
  const activity = new CallActivity();
  const server = new grpc.Server({ interceptors: [activity.interceptor(), ...service.interceptors] });
  server.addService(service.definition, service.implementation);
  const listener = await listenWorkloadApi({
    socketPath: options.socketPath,
    server,
    credentials: options.credentials,
    log: options.log,
    activity,
    ...(options.metrics && { metrics: options.metrics }),
    ...(options.limits && { limits: options.limits }),
  });
  const graceMs = options.shutdownGraceMs ?? DEFAULT_SHUTDOWN_GRACE_MS;

  let stopped: Promise<void> | undefined;
  return {
    socketPath: listener.socketPath,
    stop() {
      stopped ??= (async () => {
        await listener.stopAccepting();
        service.streams.closeAll(grpc.status.UNAVAILABLE, SHUTDOWN_DETAILS);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(() => {
            server.forceShutdown();
            resolve();
          }, graceMs);
          timer.unref();
          server.tryShutdown(() => {
            clearTimeout(timer);
            resolve();
          });
        });
        await listener.close();
        options.log.info({ socketPath: listener.socketPath }, 'Workload API stopped');
      })();
      return stopped;
    },
    stats: () => ({
      streams: service.streams.streamCount(),
      sessions: service.streams.sessionCount(),
      connections: listener.connectionCount(),
    }),
    idle: () => service.streams.idle(),
  };
}

/** The proto location of the service, for clients (CLI, tests). */
export const WORKLOAD_API = { proto: WORKLOAD_API_PROTO, service: WORKLOAD_API_SERVICE } as const;
