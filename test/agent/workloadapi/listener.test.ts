import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  listenWorkloadApi,
  WORKLOAD_API_BACKLOG,
  type WorkloadApiListener,
} from '../../../src/agent/workloadapi/index.js';
import { RecordingCallerCredentialsReader } from '../../helpers/fake-workload-provider.js';
import { captureLogger } from '../../helpers/log-capture.js';

let dir: string;
let server: grpc.Server;
let listener: WorkloadApiListener | undefined;
const reader = new RecordingCallerCredentialsReader();
const { log } = captureLogger('warn');

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tessera-wlapi-listener-'));
  server = new grpc.Server();
});

afterEach(async () => {
  await listener?.close();
  listener = undefined;
  server.forceShutdown();
  await rm(dir, { recursive: true, force: true });
});

function connect(path: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ path });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

describe('listenWorkloadApi', () => {
  it('creates the directory 0755 and the socket 0777 (any local process may connect)', async () => {
    const socketPath = join(dir, 'a', 'b', 'api.sock');
    const old = process.umask(0o077);
    try {
      listener = await listenWorkloadApi({ socketPath, server, credentials: reader, log });
    } finally {
      process.umask(old);
    }
    const s = await stat(socketPath);
    expect(s.isSocket()).toBe(true);
    expect(s.mode & 0o777).toBe(0o777);
    expect((await stat(join(dir, 'a', 'b'))).mode & 0o777).toBe(0o755);
  });

  it('leaves an existing directory as it is', async () => {
    const sub = join(dir, 'existing');
    await mkdir(sub, { mode: 0o700 });
    listener = await listenWorkloadApi({ socketPath: join(sub, 'api.sock'), server, credentials: reader, log });
    expect((await stat(sub)).mode & 0o777).toBe(0o700);
  });

  it(`accepts 2,000 concurrent connects (backlog ${WORKLOAD_API_BACKLOG}, not grpc-js's 511)`, async () => {
    const socketPath = join(dir, 'api.sock');
    listener = await listenWorkloadApi({ socketPath, server, credentials: reader, log });
    const results = await Promise.allSettled(Array.from({ length: 2000 }, () => connect(socketPath)));
    const failed = results.filter((r) => r.status === 'rejected');
    expect(failed.map((r) => String((r as PromiseRejectedResult).reason)).slice(0, 3)).toEqual([]);
    const until = Date.now() + 10_000;
    while (listener.connectionCount() < 2000 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    expect(listener.connectionCount()).toBe(2000);
    for (const r of results) if (r.status === 'fulfilled') r.value.destroy();
    const until2 = Date.now() + 10_000;
    while (listener.connectionCount() > 0 && Date.now() < until2) await new Promise((r) => setTimeout(r, 20));
    expect(listener.connectionCount()).toBe(0);
  });

  it('replaces a stale socket nobody answers on', async () => {
    const socketPath = join(dir, 'api.sock');
    // A process that dies by SIGKILL leaves its socket file behind.
    await new Promise<void>((resolve, reject) => {
      const child = spawn(
        process.execPath,
        ['-e', `require('net').createServer().listen(${JSON.stringify(socketPath)}, () => process.kill(process.pid, 'SIGKILL'))`],
        { stdio: 'ignore' },
      );
      child.once('exit', () => resolve());
      child.once('error', reject);
    });
    expect((await stat(socketPath)).isSocket()).toBe(true);
    await expect(connect(socketPath)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    listener = await listenWorkloadApi({ socketPath, server, credentials: reader, log });
    (await connect(socketPath)).destroy();
  });

  it('refuses to take over a socket another process is serving, or a file that is not a socket', async () => {
    const socketPath = join(dir, 'api.sock');
    const other = net.createServer((s) => s.destroy());
    await new Promise<void>((r) => other.listen(socketPath, r));
    try {
      await expect(listenWorkloadApi({ socketPath, server, credentials: reader, log })).rejects.toMatchObject({
        code: 'FAILED_PRECONDITION',
      });
    } finally {
      await new Promise((r) => other.close(r));
    }
    const filePath = join(dir, 'file.sock');
    await writeFile(filePath, 'not a socket');
    await expect(
      listenWorkloadApi({ socketPath: filePath, server, credentials: reader, log }),
    ).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
    expect((await stat(filePath)).isFile()).toBe(true);
  });

  it('close removes the socket and drops open connections', async () => {
    const socketPath = join(dir, 'api.sock');
    listener = await listenWorkloadApi({ socketPath, server, credentials: reader, log });
    const s = await connect(socketPath);
    const closed = new Promise((r) => s.once('close', r));
    await listener.close();
    await closed;
    await expect(stat(socketPath)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(listener.connectionCount()).toBe(0);
  });
});
