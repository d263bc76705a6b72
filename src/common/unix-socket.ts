import { chmod, link, lstat, mkdir, mkdtemp, rm, unlink } from 'node:fs/promises';
import * as net from 'node:net';
import * as path from 'node:path';
import { failedPrecondition, unavailable } from './errors.js';

/**
 * The one way the server and the agent put a listening Unix socket at a path (the server's admin socket, the agent's
 * admin socket and its Workload API socket).
 */
export interface UnixSocketOptions {
  /** Where the socket must end up. */
  readonly path: string;
  /** The socket's final mode (0600 for admin sockets, 0777 for the Workload API). */
  readonly mode: number;
  /** Mode of the socket's directory when it has to be created (an existing directory is left as it is). */
  readonly dirMode: number;
  /** What the socket is, for messages: "admin socket", "workload api socket". */
  readonly what: string;
}

/**
 * Makes `options.path` ready to be bound: creates its directory (exactly `dirMode`) when missing, and removes a stale
 * socket file nothing answers on. A live socket, or a file that is not a socket, is FAILED_PRECONDITION and is left
 * alone. Returns the absolute path.
 */
export async function prepareUnixSocket(options: UnixSocketOptions): Promise<string> {
  const abs = path.resolve(options.path);
  const dir = path.dirname(abs);
  // mkdir's mode is filtered by the umask; set it exactly on a directory we created (never on an existing one).
  const created = await mkdir(dir, { recursive: true, mode: options.dirMode });
  if (created !== undefined) await chmod(dir, options.dirMode);

  let stat;
  try {
    stat = await lstat(abs);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return abs;
    throw err;
  }
  if (!stat.isSocket()) {
    throw failedPrecondition(
      `${options.what} path ${JSON.stringify(abs)} exists and is not a socket; move it away or choose another path`,
    );
  }
  if (await answers(abs, options.what)) throw inUse(options.what, abs);
  await unlink(abs).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
  return abs;
}

/**
 * Prepares the path ({@link prepareUnixSocket}), then binds without a window in which anyone else could connect:
 * `bind` is called with a path inside a fresh private directory (0700, next to the target so on the same
 * filesystem), the socket there is set to `mode`, and only then is it linked to the target path (link(2): fails
 * instead of replacing a socket another process put there meanwhile). bind(2) creates the socket with the mode the
 * umask allows (0777 under umask 000), so binding in place and chmod-ing afterwards would let another user connect
 * between the two, and keep that connection. If anything fails after `bind`, `unbind` is called before the error is
 * thrown. Returns the absolute path.
 */
export async function bindUnixSocket(
  options: UnixSocketOptions,
  bind: (bindPath: string) => Promise<void>,
  unbind: (bindPath: string) => Promise<void>,
): Promise<string> {
  const abs = await prepareUnixSocket(options);
  // mkdtemp creates the directory 0700 whatever the umask (it can only narrow it).
  const privateDir = await mkdtemp(path.join(path.dirname(abs), '.tessera-bind-'));
  const bindPath = path.join(privateDir, 's');
  let bound = false;
  try {
    await bind(bindPath);
    bound = true;
    await chmod(bindPath, options.mode);
    await link(bindPath, abs).catch((err: NodeJS.ErrnoException) => {
      throw err.code === 'EEXIST' ? inUse(options.what, abs) : err;
    });
    return abs;
  } catch (err) {
    if (bound) await unbind(bindPath).catch(() => undefined);
    throw err;
  } finally {
    await rm(privateDir, { recursive: true, force: true });
  }
}

function inUse(what: string, abs: string) {
  return failedPrecondition(`another process is serving on the ${what} ${JSON.stringify(abs)}`);
}

/** Whether something accepts connections on the Unix socket at `abs` (ECONNREFUSED / ENOENT: no). */
function answers(abs: string, what: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const probe = net.connect({ path: abs });
    const timer = setTimeout(() => {
      // A listener too busy to accept (a full backlog) is still a listener.
      probe.destroy();
      resolve(true);
    }, 1000);
    probe.once('connect', () => {
      clearTimeout(timer);
      probe.destroy();
      resolve(true);
    });
    probe.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      probe.destroy();
      if (err.code === 'ECONNREFUSED' || err.code === 'ENOENT') resolve(false);
      else if (err.code === 'EAGAIN') resolve(true);
      else reject(unavailable(`cannot check the ${what} ${JSON.stringify(abs)}: ${err.message}`, { cause: err }));
    });
  });
}
