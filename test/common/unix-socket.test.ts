import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { bindUnixSocket, prepareUnixSocket } from '../../src/common/unix-socket.js';

// A directory every user may write to, like /tmp or a shared run directory.
const shared = mkdtempSync(join(tmpdir(), 'tessera-unix-socket-'));
chmodSync(shared, 0o777);
afterAll(() => rmSync(shared, { recursive: true, force: true }));

const NOBODY = '65534';

/** Connects to `path` as another user (uid/gid 65534, we are root) and says "connected" or the error code. */
function connectAsNobody(path: string): string {
  const script = `require('node:net').connect(${JSON.stringify(path)})
    .on('connect', function () { console.log('connected'); this.destroy(); })
    .on('error', (e) => console.log(e.code));`;
  const r = spawnSync('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', process.execPath, '-e', script], {
    encoding: 'utf8',
    timeout: 10_000,
  });
  if (r.status !== 0) throw new Error(`setpriv failed: ${r.stderr}`);
  return r.stdout.trim();
}

function connectAsUs(path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = net.connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve();
    });
    s.once('error', reject);
  });
}

function listen(server: net.Server, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve());
  });
}

const close = (server: net.Server) => new Promise<void>((resolve) => server.close(() => resolve()));

describe('bindUnixSocket', () => {
  let umask: number;
  const servers: net.Server[] = [];
  beforeEach(() => {
    umask = process.umask(0o000);
  });
  afterEach(async () => {
    process.umask(umask);
    for (const s of servers.splice(0)) await close(s);
  });

  it('binding in place under umask 000 leaves a window in which another user connects (the race it closes)', async () => {
    const path = join(shared, 'in-place.sock');
    const server = net.createServer();
    servers.push(server);
    await listen(server, path);
    expect(statSync(path).mode & 0o777).toBe(0o777);
    expect(connectAsNobody(path)).toBe('connected');
  });

  it('under umask 000 in a shared directory, another user can connect at no moment, and the socket ends 0600', async () => {
    const path = join(shared, 'admin.sock');
    const server = new net.Server();
    servers.push(server);
    const seenInWindow: string[] = [];
    const abs = await bindUnixSocket(
      { path, mode: 0o600, dirMode: 0o700, what: 'admin socket' },
      async (bindPath) => {
        await listen(server, bindPath);
        // The moment bind() has created the socket and nothing has narrowed its mode yet.
        seenInWindow.push(connectAsNobody(bindPath), connectAsNobody(path));
      },
      () => close(server),
    );
    expect(abs).toBe(path);
    expect(seenInWindow).toEqual(['EACCES', 'ENOENT']);
    const st = statSync(path);
    expect(st.isSocket()).toBe(true);
    expect(st.mode & 0o777).toBe(0o600);
    expect(st.uid).toBe(process.getuid!());
    expect(connectAsNobody(path)).toBe('EACCES');
    await connectAsUs(path);
  });

  it('gives the socket exactly the mode asked for (0777 for the Workload API) and leaves no private directory', async () => {
    process.umask(0o022);
    const dir = join(shared, 'api');
    const path = join(dir, 'api.sock');
    const server = new net.Server();
    servers.push(server);
    await bindUnixSocket(
      { path, mode: 0o777, dirMode: 0o755, what: 'workload api socket' },
      (bindPath) => listen(server, bindPath),
      () => close(server),
    );
    expect(statSync(path).mode & 0o777).toBe(0o777);
    expect(statSync(dir).mode & 0o777).toBe(0o755);
    expect(connectAsNobody(path)).toBe('connected');
    expect(readdirSync(dir)).toEqual(['api.sock']);
  });

  it('refuses a path another process serves on, and a file that is not a socket, leaving both alone', async () => {
    const path = join(shared, 'live.sock');
    const other = net.createServer((s) => s.destroy());
    servers.push(other);
    await listen(other, path);
    await expect(prepareUnixSocket({ path, mode: 0o600, dirMode: 0o700, what: 'admin socket' })).rejects.toMatchObject({
      code: 'FAILED_PRECONDITION',
      message: `another process is serving on the admin socket ${JSON.stringify(path)}`,
    });
    await connectAsUs(path);

    const file = join(shared, 'file.sock');
    writeFileSync(file, 'not a socket');
    await expect(prepareUnixSocket({ path: file, mode: 0o600, dirMode: 0o700, what: 'admin socket' })).rejects.toMatchObject({
      code: 'FAILED_PRECONDITION',
    });
    expect(statSync(file).isFile()).toBe(true);
  });

  it('does not replace a socket another process linked in while it was binding, and closes its own listener', async () => {
    const path = join(shared, 'contested.sock');
    const ours = new net.Server();
    const theirs = net.createServer((s) => s.destroy());
    servers.push(theirs);
    let unbound = false;
    await expect(
      bindUnixSocket(
        { path, mode: 0o600, dirMode: 0o700, what: 'admin socket' },
        async (bindPath) => {
          await listen(ours, bindPath);
          await listen(theirs, path);
        },
        async () => {
          await close(ours);
          unbound = true;
        },
      ),
    ).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
    expect(unbound).toBe(true);
    await connectAsUs(path); // still theirs
  });
});
