/**
 * The built server with its data dir on a small tmpfs (we are root: mount -t tmpfs) that fills up: /readyz says 503
 * with the reason, the CLI says what failed instead of "internal error", and both recover once space is freed.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import * as http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, startServerProcess, until, type ServerProcess } from '../helpers/server-process.js';

const dir = mkdtempSync(join(tmpdir(), 'tessera-disk-full-'));
const dataDir = join(dir, 'data');
const filler = join(dataDir, 'filler');
let server: ServerProcess | undefined;
let mounted = false;

beforeAll(async () => {
  mkdirSync(dataDir);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m,mode=0700', 'tmpfs', dataDir]);
  mounted = true;
  server = await startServerProcess(dir, {
    trustDomain: 'example.org',
    dataDir: './data',
    agentApi: { listen: '127.0.0.1:0' },
    http: { listen: '127.0.0.1:0' },
    nodeAttestors: { joinToken: { enabled: true } },
  });
});

afterAll(async () => {
  await server?.stop();
  if (mounted) execFileSync('umount', [dataDir]);
  rmSync(dir, { recursive: true, force: true });
});

/** Writes to `filler` until the filesystem refuses (ENOSPC). */
function fillTheDisk(): void {
  const fd = openSync(filler, 'w');
  const chunk = Buffer.alloc(64 * 1024, 1);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    closeSync(fd);
  }
}

/** GET /readyz on a new connection each time (a pooled one may be closed by the server's keep-alive timeout). */
function readyz(): Promise<{ status: number; body: { status: string; reason?: string } }> {
  return new Promise((resolve, reject) => {
    http
      .get(`http://${server!.http}/readyz`, { agent: false }, (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) as { status: string; reason?: string } }));
      })
      .on('error', reject);
  });
}

describe('tessera server on a full disk', () => {
  it('says 503 with the reason on /readyz, the CLI names the cause, and both recover when space is freed', async () => {
    expect((await readyz()).status).toBe(200);
    expect(runCli(['token', 'generate', '--socket', server!.adminSocket]).code).toBe(0);

    fillTheDisk();
    const notReady = await until('/readyz to say 503', async () => {
      const r = await readyz();
      return r.status === 503 ? r : undefined;
    });
    expect(notReady.body.status).toBe('not ready');
    expect(notReady.body.reason).toMatch(/^datastore disk full: \d+ bytes free on the filesystem of ".*data"$/);

    const refused = runCli(['token', 'generate', '--socket', server!.adminSocket]);
    expect(refused.code).toBe(1);
    expect(refused.stderr.trim()).toContain('datastore write failed: disk full');
    expect(refused.stderr).not.toContain('internal error');
    const health = runCli(['healthcheck', '--socket', server!.adminSocket]);
    expect(health.code).toBe(1);
    expect(health.stderr).toMatch(/is not ready: datastore disk full: \d+ bytes free/);

    rmSync(filler);
    await until('/readyz to say 200 again', async () => ((await readyz()).status === 200 ? true : undefined));
    expect(runCli(['token', 'generate', '--socket', server!.adminSocket]).code).toBe(0);
    expect(runCli(['healthcheck', '--socket', server!.adminSocket]).code).toBe(0);
  });
});
