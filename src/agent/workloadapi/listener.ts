import { closeSync } from 'node:fs';
import { chmod, lstat, mkdir, unlink } from 'node:fs/promises';
import * as net from 'node:net';
import { dirname } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { failedPrecondition } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
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
 * - Each accepted connection's credentials are read from its fd right away (the pid is pinned by the pidfd before the
 *   connection is used at all). A connection whose credentials cannot be read is closed at once. The credentials are
 *   recorded on the socket (see connections.ts for how calls find them); the pidfd is closed when the connection
 *   closes.
 */
export async function listenWorkloadApi(options: ListenWorkloadApiOptions): Promise<WorkloadApiListener> {
  const { socketPath, server, credentials, metrics } = options;
  const log = options.log.child({ component: 'workload-api-listener' });

  await prepareSocketPath(socketPath, log);

  // Each connection goes through the authority rewriter: grpc-java's socket-path :authority is refused by Node's http2.
  const injector = createAuthorityRewritingInjector(server, log);
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

  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    netServer.once('error', onError);
    netServer.listen({ path: socketPath, backlog: WORKLOAD_API_BACKLOG }, () => {
      netServer.off('error', onError);
      resolve();
    });
  });
  try {
    await chmod(socketPath, WORKLOAD_API_SOCKET_MODE);
  } catch (err) {
    await new Promise<void>((resolve) => netServer.close(() => resolve()));
    throw err;
  }
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

async function prepareSocketPath(socketPath: string, log: Logger): Promise<void> {
  const dir = dirname(socketPath);
  const created = await mkdir(dir, { recursive: true, mode: WORKLOAD_API_DIR_MODE });
  // mkdir's mode is filtered by the umask; set it exactly on a directory we created (never on an existing one).
  if (created !== undefined) await chmod(dir, WORKLOAD_API_DIR_MODE);

  let stat;
  try {
    stat = await lstat(socketPath);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (!stat.isSocket()) {
    throw failedPrecondition(`workload api socket path ${JSON.stringify(socketPath)} exists and is not a socket`);
  }
  if (await answers(socketPath)) {
    throw failedPrecondition(`another process is serving on the workload api socket ${JSON.stringify(socketPath)}`);
  }
  log.info({ socketPath }, 'Removing a stale Workload API socket');
  await unlink(socketPath).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
}

/** Whether something accepts connections on the Unix socket at `path` (ECONNREFUSED / ENOENT: no). */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const probe = net.connect({ path });
    const timer = setTimeout(() => {
      probe.destroy();
      // A listener whose backlog is full still exists: treat a hanging connect as alive.
      resolve(true);
    }, 2000);
    probe.once('connect', () => {
      clearTimeout(timer);
      probe.destroy();
      resolve(true);
    });
    probe.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      probe.destroy();
      if (err.code === 'ECONNREFUSED' || err.code === 'ENOENT') resolve(false);
      else reject(err);
    });
  });
}
