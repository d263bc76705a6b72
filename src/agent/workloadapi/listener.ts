import { closeSync } from 'node:fs';
import { unlink } from 'node:fs/promises';
import * as net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../../common/log.js';
import { CallActivity, type InactivityPhase } from '../../common/net/call-activity.js';
import { ConnectionLimits } from '../../common/net/connection-limits.js';
import { RateLimitedWarning } from '../../common/net/rate-limited-warning.js';
import { bindUnixSocket } from '../../common/unix-socket.js';
import type { CallerCredentials, CallerCredentialsReader } from '../types.js';
import { socketFd } from '../workloadattestor/index.js';
import { createAuthorityRewritingInjector } from './authority-rewrite.js';
import { registerConnection, unregisterConnection, type WorkloadConnection } from './connections.js';
import type { WorkloadApiMetrics } from './metrics.js';

/**
 * Accept backlog of the Workload API socket. grpc-js's own Unix listener uses 511, and a full backlog fails a
 * client's connect at once (EAGAIN), so we own the listener. The kernel caps it at net.core.somaxconn (4096 on
 * current kernels).
 */
export const WORKLOAD_API_BACKLOG = 4096;

/**
 * Socket file mode, as SPIRE does: ANY local process may connect. That is deliberate: the Workload API must not
 * require the workload to authenticate (Workload Endpoint §5); access control is the caller's kernel-attested
 * identity (SO_PEERCRED/SO_PEERPIDFD read on accept, then workload attestation), not the socket's permissions.
 */
export const WORKLOAD_API_SOCKET_MODE = 0o777;
/** Mode of the socket's directory when the listener creates it. */
export const WORKLOAD_API_DIR_MODE = 0o755;

export interface ListenWorkloadApiOptions {
  readonly socketPath: string;
  readonly server: grpc.Server;
  readonly credentials: CallerCredentialsReader;
  readonly log: Logger;
  readonly metrics?: WorkloadApiMetrics;
  /** Connection caps and the idle timeout; default {@link DEFAULT_WORKLOAD_API_LIMITS}. */
  readonly limits?: WorkloadApiLimits;
  /**
   * The call tracker behind the idle timeout. Its interceptor must be the server's first (startWorkloadApi creates
   * the server with it); without one the listener makes its own, which then sees no calls (tests of the caps only).
   */
  readonly activity?: CallActivity;
}

/**
 * What one local user can hold open on the Workload API socket. A connection counts from accept to close; an idle
 * one (no call started yet, or none open since its last ended) is closed after `idleTimeoutMs`. An open stream (a
 * FetchX509SVID watch) is never idle.
 */
export interface WorkloadApiLimits {
  /** Open connections of all callers together. */
  readonly maxConnections: number;
  /** Open connections of one uid (the kernel's SO_PEERCRED uid, which the caller cannot choose). */
  readonly maxConnectionsPerUid: number;
  /** A connection with no call open for this long is closed. */
  readonly idleTimeoutMs: number;
}

/**
 * Defaults: well under the fd limit Node starts with (it raises the soft RLIMIT_NOFILE to the hard one, commonly
 * 524288 or more under systemd), and one uid cannot take more than a quarter of the total.
 */
export const DEFAULT_WORKLOAD_API_LIMITS: WorkloadApiLimits = {
  maxConnections: 16_384,
  maxConnectionsPerUid: 4_096,
  idleTimeoutMs: 60_000,
};

/** Why the listener closed a connection it had accepted (label of the closed-connections metric). */
export type WorkloadConnectionCloseReason = 'uid_limit' | 'total_limit' | 'no_call_timeout' | 'idle_timeout';

export interface WorkloadApiListener {
  readonly socketPath: string;
  /** Open connections right now. */
  connectionCount(): number;
  /** Stops accepting new connections at once (open ones keep working). */
  stopAccepting(): Promise<void>;
  /** Stops accepting, destroys every open connection and removes the socket file. Idempotent. */
  close(): Promise<void>;
}

/**
 * Listens on `socketPath` and injects each accepted connection into `server` after reading its peer credentials.
 *
 * - The socket's directory is created (0755) when missing; an existing directory is left as it is.
 * - A stale socket file (nothing answers on it) is removed; a live one, or a non-socket file at the path, is an error.
 * - The socket is 0777 (see WORKLOAD_API_SOCKET_MODE) before it appears at its path (bindUnixSocket).
 * - Each accepted connection's credentials are read from its fd right away (the pid is pinned by the pidfd before the
 *   connection is used at all). A connection whose credentials cannot be read is closed at once. The credentials are
 *   recorded on the socket (see connections.ts for how calls find them); the pidfd is closed when the connection
 *   closes.
 */
export async function listenWorkloadApi(options: ListenWorkloadApiOptions): Promise<WorkloadApiListener> {
  const { socketPath, server, credentials, metrics } = options;
  const log = options.log; // the caller binds the component

  // Each connection goes through the authority rewriter: grpc-java's socket-path :authority is refused by Node's http2.
  const injector = createAuthorityRewritingInjector(server, log);
  const open = new Set<WorkloadConnection>();
  const limitsConfig = options.limits ?? DEFAULT_WORKLOAD_API_LIMITS;
  const limits = new ConnectionLimits({
    maxConnections: limitsConfig.maxConnections,
    maxConnectionsPerPeer: limitsConfig.maxConnectionsPerUid,
  });
  // One rate-limited warning per reason: a flood of one kind does not hide the first line of another.
  const warnings = new Map<WorkloadConnectionCloseReason, RateLimitedWarning>();
  const warn = (reason: WorkloadConnectionCloseReason, fields: Record<string, unknown>, message: string) => {
    let w = warnings.get(reason);
    if (!w) warnings.set(reason, (w = new RateLimitedWarning(log)));
    w.warn({ ...fields, reason }, message);
  };
  const uidOf = new WeakMap<net.Socket, number>();
  const activity = options.activity ?? new CallActivity({});
  activity.configure({
    firstCallTimeoutMs: limitsConfig.idleTimeoutMs,
    idleTimeoutMs: limitsConfig.idleTimeoutMs,
    onTimeout: (socket: net.Socket, phase: InactivityPhase) => {
      const reason: WorkloadConnectionCloseReason = phase === 'first_call' ? 'no_call_timeout' : 'idle_timeout';
      metrics?.connectionsClosed?.inc({ reason });
      warn(
        reason,
        { uid: uidOf.get(socket), idleTimeoutMs: limitsConfig.idleTimeoutMs },
        phase === 'first_call'
          ? 'Closed a Workload API connection that started no call within the idle timeout'
          : 'Closed a Workload API connection idle for the idle timeout',
      );
    },
  });

  const netServer = net.createServer({ allowHalfOpen: false }, (socket) => {
    let caller: CallerCredentials;
    try {
      caller = credentials.read(socketFd(socket));
    } catch (err) {
      metrics?.connectionsRefused?.inc();
      log.warn({ err }, 'Closed a Workload API connection whose caller credentials could not be read');
      socket.destroy();
      return;
    }
    const peer = String(caller.uid);
    const refusal = limits.acquire(peer);
    if (refusal !== undefined) {
      const reason: WorkloadConnectionCloseReason = refusal === 'peer_limit' ? 'uid_limit' : 'total_limit';
      metrics?.connectionsClosed?.inc({ reason });
      warn(
        reason,
        refusal === 'peer_limit'
          ? { uid: caller.uid, pid: caller.pid, maxConnectionsPerUid: limits.maxConnectionsPerPeer }
          : { uid: caller.uid, pid: caller.pid, maxConnections: limits.maxConnections },
        refusal === 'peer_limit'
          ? 'Refused a Workload API connection: its uid holds the most connections allowed (workloadApi.maxConnectionsPerUid)'
          : 'Refused a Workload API connection: the socket holds the most connections allowed (workloadApi.maxConnections)',
      );
      closePidfd(caller, log);
      socket.destroy();
      return;
    }
    const conn = registerConnection(socket, caller);
    open.add(conn);
    uidOf.set(socket, caller.uid);
    metrics?.connections?.inc();
    socket.once('close', () => {
      open.delete(conn);
      limits.release(peer);
      unregisterConnection(conn);
      metrics?.connections?.dec();
      closePidfd(caller, log);
    });
    log.trace({ pid: caller.pid, uid: caller.uid, gid: caller.gid }, 'Workload API connection accepted');
    activity.track(socket);
    injector.injectConnection(socket);
  });
  netServer.on('error', (err) => log.error({ err }, 'Workload API listener error'));

  // The socket is 0777 by design, but only once it is fully set up: bound in a private directory, then linked in place.
  await bindUnixSocket(
    { path: socketPath, mode: WORKLOAD_API_SOCKET_MODE, dirMode: WORKLOAD_API_DIR_MODE, what: 'workload api socket' },
    (bindPath) =>
      new Promise<void>((resolve, reject) => {
        const onError = (err: Error) => reject(err);
        netServer.once('error', onError);
        netServer.listen({ path: bindPath, backlog: WORKLOAD_API_BACKLOG }, () => {
          netServer.off('error', onError);
          resolve();
        });
      }),
    () => new Promise<void>((resolve) => netServer.close(() => resolve())),
  );
  log.info({ socketPath, backlog: WORKLOAD_API_BACKLOG, ...limitsConfig }, 'Workload API listening');

  // net.Server#close stops accepting at once but calls back only when every connection has closed.
  let serverClosed: Promise<void> | undefined;
  let closed: Promise<void> | undefined;
  const stopAccepting = (): Promise<void> => {
    serverClosed ??= new Promise<void>((resolve) => netServer.close(() => resolve()));
    return Promise.resolve();
  };

  return {
    socketPath,
    connectionCount: () => open.size,
    stopAccepting,
    close() {
      closed ??= (async () => {
        await stopAccepting();
        for (const conn of [...open]) conn.socket.destroy();
        injector.destroy();
        await serverClosed;
        // libuv unlinks the socket file when the listener closes; make sure, and tolerate it being gone.
        await unlink(socketPath).catch((err: NodeJS.ErrnoException) => {
          if (err.code !== 'ENOENT') log.warn({ err, socketPath }, 'Could not remove the Workload API socket');
        });
      })();
      return closed;
    },
  };
}

function closePidfd(caller: CallerCredentials, log: Logger): void {
  if (caller.pidfd === undefined) return;
  try {
    closeSync(caller.pidfd);
  } catch (err) {
    log.warn({ err, pidfd: caller.pidfd }, 'Could not close the pidfd of a Workload API connection');
  }
}
