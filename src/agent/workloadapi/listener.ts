import { closeSync } from 'node:fs';
import { unlink } from 'node:fs/promises';
import * as net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../../common/log.js';
import { bindUnixSocket } from '../../common/unix-socket.js';
import type { CallerCredentials, CallerCredentialsReader } from '../types.js';
import { socketFd } from '../workloadattestor/index.js';
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
}

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
  const log = options.log.child({ component: 'workload-api-listener' });

  const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  const open = new Set<WorkloadConnection>();

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
    const conn = registerConnection(socket, caller);
    open.add(conn);
    metrics?.connections?.inc();
    socket.once('close', () => {
      open.delete(conn);
      unregisterConnection(conn);
      metrics?.connections?.dec();
      if (caller.pidfd !== undefined) {
        try {
          closeSync(caller.pidfd);
        } catch (err) {
          log.warn({ err, pidfd: caller.pidfd }, 'Could not close the pidfd of a Workload API connection');
        }
      }
    });
    log.trace({ pid: caller.pid, uid: caller.uid, gid: caller.gid }, 'Workload API connection accepted');
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
  log.info({ socketPath, backlog: WORKLOAD_API_BACKLOG }, 'Workload API listening');

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
