import { chmod, lstat, mkdir, unlink } from 'node:fs/promises';
import * as net from 'node:net';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { failedPrecondition, unavailable } from '../../../common/errors.js';

export interface AdminSocket {
  /** The absolute socket path. */
  readonly path: string;
}

/**
 * Binds `server` on the admin Unix socket `unix://<socketPath>` (insecure credentials: the socket's file mode is the
 * access control). The socket is chmod 0600 right after binding; its directory is created 0700 if missing (an existing
 * directory is left as it is). A socket file left by a dead server is removed first, but only after a connect attempt
 * shows that nothing listens on it; if something answers, this fails with "another server is using <path>".
 */
export async function listenAdminSocket(server: grpc.Server, socketPath: string): Promise<AdminSocket> {
  const abs = path.resolve(socketPath);
  await mkdir(path.dirname(abs), { recursive: true, mode: 0o700 });
  await removeStaleSocket(abs);
  await new Promise<void>((resolve, reject) => {
    server.bindAsync(`unix://${abs}`, grpc.ServerCredentials.createInsecure(), (err) => {
      if (err) reject(unavailable(`cannot listen on the admin socket ${abs}: ${err.message}`, { cause: err }));
      else resolve();
    });
  });
  await chmod(abs, 0o600);
  return { path: abs };
}

async function removeStaleSocket(abs: string): Promise<void> {
  let stat;
  try {
    stat = await lstat(abs);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (!stat.isSocket()) {
    throw failedPrecondition(`${abs} exists and is not a socket; move it away or choose another admin socket path`);
  }
  if (await somethingListens(abs)) throw failedPrecondition(`another server is using ${abs}`);
  try {
    await unlink(abs);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/** Connects to the socket: true if something accepts, false if the connection is refused (a stale file). */
function somethingListens(abs: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const socket = net.createConnection({ path: abs });
    const timer = setTimeout(() => {
      // A listener too busy to accept within a second is still a listener.
      socket.destroy();
      resolve(true);
    }, 1000);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(true);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      socket.destroy();
      if (err.code === 'ECONNREFUSED' || err.code === 'ENOENT') resolve(false);
      else if (err.code === 'EAGAIN') resolve(true); // a full accept backlog: a listener is there
      else reject(unavailable(`cannot check the admin socket ${abs}: ${err.message}`, { cause: err }));
    });
  });
}
