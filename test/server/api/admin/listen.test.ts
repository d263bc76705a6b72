import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, describe, expect, it } from 'vitest';
import { listenAdminSocket } from '../../../../src/server/api/admin/index.js';
import { startAdminTestServer } from '../../../helpers/admin-server.js';

const dir = mkdtempSync(join(tmpdir(), 'tessera-listen-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const shutdown = (s: grpc.Server) => new Promise<void>((resolve) => s.tryShutdown(() => resolve()));

describe('listenAdminSocket', () => {
  it('binds a 0600 socket in a directory it creates 0700, and the API answers on it', async () => {
    const srv = await startAdminTestServer();
    try {
      expect(statSync(srv.socketPath).isSocket()).toBe(true);
      expect(statSync(srv.socketPath).mode & 0o777).toBe(0o600);
      expect(statSync(join(srv.dir, 'server')).mode & 0o777).toBe(0o700);
      const r = await srv.client('HealthService').call<{ ready: boolean }>('Check', {});
      expect(r.ready).toBe(true);
    } finally {
      await srv.close();
    }
  });

  it('replaces a stale socket file nobody listens on', async () => {
    const path = join(dir, 'stale.sock');
    // Leave a socket file behind the way a crashed server does: a process that listens, then dies by SIGKILL.
    const child = spawn(process.execPath, [
      '-e',
      `require('node:net').createServer().listen(${JSON.stringify(path)}, () => console.log('up'))`,
    ]);
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    expect(statSync(path).isSocket()).toBe(true);

    const server = new grpc.Server();
    await listenAdminSocket(server, path);
    try {
      expect(statSync(path).mode & 0o777).toBe(0o600);
    } finally {
      await shutdown(server);
    }
  });

  it('refuses a socket another server is using, and leaves it alone', async () => {
    const srv = await startAdminTestServer();
    try {
      const other = new grpc.Server();
      await expect(listenAdminSocket(other, srv.socketPath)).rejects.toMatchObject({
        code: 'FAILED_PRECONDITION',
        message: `another process is serving on the admin socket ${JSON.stringify(srv.socketPath)}`,
      });
      other.forceShutdown();
      expect((await srv.client('HealthService').call<{ ready: boolean }>('Check', {})).ready).toBe(true);
    } finally {
      await srv.close();
    }
  });

  it('refuses a path that is not a socket', async () => {
    const path = join(dir, 'file.sock');
    writeFileSync(path, 'not a socket');
    const server = new grpc.Server();
    await expect(listenAdminSocket(server, path)).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
    server.forceShutdown();
    expect(statSync(path).isFile()).toBe(true);
  });
});
