import * as grpc from '@grpc/grpc-js';
import { unavailable } from '../../../common/errors.js';
import { bindUnixSocket } from '../../../common/unix-socket.js';

export interface AdminSocket {
  /** The absolute socket path. */
  readonly path: string;
}

/**
 * Binds `server` on the admin Unix socket `unix://<socketPath>` (insecure credentials: the socket's file mode is the
 * access control). The socket is 0600 before it appears at the path, whatever the umask (see bindUnixSocket); its
 * directory is created 0700 if missing (an existing directory is left as it is). A socket file left by a dead server
 * is removed first, but only after a connect attempt shows that nothing listens on it; if something answers, this
 * fails with FAILED_PRECONDITION "another process is serving on the admin socket <path>".
 */
export async function listenAdminSocket(server: grpc.Server, socketPath: string): Promise<AdminSocket> {
  const abs = await bindUnixSocket(
    { path: socketPath, mode: 0o600, dirMode: 0o700, what: 'admin socket' },
    (bindPath) =>
      new Promise<void>((resolve, reject) => {
        server.bindAsync(`unix://${bindPath}`, grpc.ServerCredentials.createInsecure(), (err) => {
          if (err) reject(unavailable(`cannot listen on the admin socket ${JSON.stringify(socketPath)}: ${err.message}`, { cause: err }));
          else resolve();
        });
      }),
    async (bindPath) => {
      server.unbind(`unix://${bindPath}`);
    },
  );
  return { path: abs };
}
