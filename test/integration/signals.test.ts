/**
 * Signals on the built `tessera server run` / `tessera agent run` child processes: SIGHUP reloads (the new log level
 * takes effect, a changed http.tls certificate is served, restart-only settings are named, an invalid file changes
 * nothing) and the processes keep running; SIGTERM ends a watching Workload API client's stream with a status and
 * removes the sockets, exit code 0.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { CLI, cliJson, runCli, startJoinedAgent, startServerProcess, until, type ServerProcess } from '../helpers/server-process.js';
import { webCertificates } from '../helpers/test-ca.js';
import { openStream, workloadClient } from '../helpers/workload-client.js';

const TD = 'example.org';

/** SHA-256 fingerprint of the certificate the HTTPS listener at `address` presents now. */
function servedFingerprint(address: string): Promise<string> {
  const [host, port] = [address.slice(0, address.lastIndexOf(':')), Number(address.slice(address.lastIndexOf(':') + 1))];
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host, port, rejectUnauthorized: false, servername: 'localhost' }, () => {
      resolve(socket.getPeerCertificate().fingerprint256);
      socket.end();
    });
    socket.once('error', reject);
  });
}

/** Log lines with `msg` so far. */
const linesWith = (logs: readonly Record<string, unknown>[], msg: string) => logs.filter((l) => l['msg'] === msg);

describe('tessera server run: SIGHUP and SIGTERM', () => {
  let dir: string;
  let server: ServerProcess;
  let config: Record<string, unknown>;
  let servedNow = '';
  const configFile = () => join(dir, 'server.json');
  const rewrite = (change: Record<string, unknown>) => {
    config = { ...config, ...change };
    writeFileSync(configFile(), JSON.stringify(config, null, 2));
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tessera-signals-server-'));
    const first = await webCertificates();
    writeFileSync(join(dir, 'http.crt'), first.chainPem);
    writeFileSync(join(dir, 'http.key'), first.keyPem, { mode: 0o600 });
    config = {
      trustDomain: TD,
      dataDir: './data',
      logLevel: 'info',
      agentApi: { listen: '127.0.0.1:0' },
      http: { listen: '127.0.0.1:0', tls: { certFile: 'http.crt', keyFile: 'http.key' } },
    };
    server = await startServerProcess(dir, config);
    expect(await servedFingerprint(server.http)).toBe(new X509Certificate(first.leaf.pem).fingerprint256);
  });
  afterAll(async () => {
    await server?.stop('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('reloads the log level and the http.tls files, and keeps serving', async () => {
    const second = await webCertificates();
    writeFileSync(join(dir, 'http.crt'), second.chainPem);
    writeFileSync(join(dir, 'http.key'), second.keyPem, { mode: 0o600 });
    rewrite({ logLevel: 'debug' });
    server.proc.kill('SIGHUP');
    const reloaded = await until('the reload log line', () => linesWith(server.logs, 'Configuration reloaded')[0]);
    expect(reloaded).toMatchObject({ reloaded: ['logLevel', 'http.tls'], needsRestart: [] });
    expect(server.proc.exitCode).toBeNull();
    servedNow = new X509Certificate(second.leaf.pem).fingerprint256;
    expect(await servedFingerprint(server.http)).toBe(servedNow);

    // Debug now: a refused admin call (a duplicate entry) is logged at debug level, which info would drop.
    const entry = ['entry', 'create', '--parent-id', `spiffe://${TD}/agent/x`, '--spiffe-id', `spiffe://${TD}/w`, '--selector', 'unix:uid:1'];
    cliJson(server.adminSocket, entry);
    expect(runCli([...entry, '--socket', server.adminSocket]).code).toBe(1);
    await until('a debug line after the reload', () =>
      server.logs.slice(server.logs.indexOf(reloaded)).find((l) => l['level'] === 20 || l['level'] === 'debug'),
    );
  });

  it('names the settings that need a restart, and ignores an invalid file', async () => {
    rewrite({ agentApi: { listen: '127.0.0.1:0', maxConnections: 20_000 } });
    server.proc.kill('SIGHUP');
    const warned = await until('the restart warning', () =>
      server.logs.find((l) => String(l['msg']).startsWith('Changed settings need a restart')),
    );
    expect(warned['settings']).toEqual(['agentApi.maxConnections']);

    // A certificate file TLS cannot use: named in the log, the pair in use stays.
    writeFileSync(join(dir, 'http.crt'), 'not a certificate\n');
    server.proc.kill('SIGHUP');
    const partly = await until('the failed TLS reload', () =>
      server.logs.find((l) => String(l['msg']).startsWith('Configuration partly reloaded')),
    );
    expect(partly['reason']).toMatch(/^http\.tls: .*http\.crt and .*http\.key are not a usable PEM certificate chain/);
    expect(await servedFingerprint(server.http)).toBe(servedNow);

    writeFileSync(configFile(), '{"trustDomain": "example.org", "logLevel": "loud"}');
    server.proc.kill('SIGHUP');
    const refused = await until('the refused reload', () =>
      server.logs.find((l) => String(l['msg']).startsWith('Configuration not reloaded')),
    );
    expect(refused['reason']).toMatch(/logLevel must be one of/);
    expect(server.proc.exitCode).toBeNull();
    expect(cliJson<{ ready: boolean }>(server.adminSocket, ['healthcheck']).ready).toBe(true);
  });

  it('stops on SIGTERM with exit code 0 and removes its admin socket', async () => {
    expect(existsSync(server.adminSocket)).toBe(true);
    expect(await server.stop('SIGTERM')).toBe(0);
    expect(existsSync(server.adminSocket)).toBe(false);
    expect(linesWith(server.logs, 'Stopped cleanly')).toHaveLength(1);
  });
});

describe('tessera agent run: SIGHUP and SIGTERM', () => {
  let dir: string;
  let server: ServerProcess;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tessera-signals-agent-'));
    server = await startServerProcess(dir, {
      trustDomain: TD,
      dataDir: './server',
      agentApi: { listen: '127.0.0.1:0' },
      http: { listen: '127.0.0.1:0' },
    });
  });
  afterAll(async () => {
    await server?.stop('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('reloads its log level on SIGHUP while serving, and on SIGTERM ends a watching stream and removes its sockets', async () => {
    const { agent, agentId, socket } = await startJoinedAgent(dir, server, TD);
    try {
      cliJson(server.adminSocket, [
        'entry', 'create', '--parent-id', agentId, '--spiffe-id', `spiffe://${TD}/signals`, '--selector', `unix:uid:${process.getuid!()}`,
      ]);
      const client = workloadClient(socket);
      const watch = openStream<{ svids: { spiffe_id: string }[] }>(client, 'FetchX509SVID');
      expect((await watch.next(20_000)).svids[0]?.spiffe_id).toBe(`spiffe://${TD}/signals`);

      const file = join(dir, 'agent.json');
      writeFileSync(file, JSON.stringify({ ...JSON.parse(readFileSync(file, 'utf8')), logLevel: 'debug' }));
      agent.proc.kill('SIGHUP');
      const reloaded = await until('the reload log line', () => linesWith(agent.logs, 'Configuration reloaded')[0]);
      expect(reloaded).toMatchObject({ reloaded: ['logLevel'], needsRestart: [] });
      // Debug now: the next sync (a new entry) is logged at debug level.
      cliJson(server.adminSocket, [
        'entry', 'create', '--parent-id', agentId, '--spiffe-id', `spiffe://${TD}/other`, '--selector', 'unix:uid:65534',
      ]);
      await until('a debug "Sync applied" line', () => linesWith(agent.logs.slice(agent.logs.indexOf(reloaded)), 'Sync applied')[0]);
      expect(agent.proc.exitCode).toBeNull();

      const adminSocket = join(dir, 'agent', 'admin.sock');
      expect(existsSync(socket)).toBe(true);
      expect(existsSync(adminSocket)).toBe(true);
      expect(await agent.stop('SIGTERM')).toBe(0);
      const ended = await watch.status;
      expect(ended.code).toBe(grpc.status.UNAVAILABLE);
      expect(ended.details).toBe('workload api is shutting down');
      expect(existsSync(socket)).toBe(false);
      expect(existsSync(adminSocket)).toBe(false);
      client.close();
    } finally {
      await agent.stop('SIGKILL');
    }
  });
});

describe('tessera server run: SIGTERM before it is ready', () => {
  it('finishes starting, then stops with exit code 0 (not killed by the signal)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-signals-early-'));
    try {
      writeFileSync(
        join(dir, 'server.json'),
        JSON.stringify({ trustDomain: TD, dataDir: './data', agentApi: { listen: '127.0.0.1:0' }, http: { listen: '127.0.0.1:0' } }),
      );
      const proc = spawn(process.execPath, [CLI, 'server', 'run', '--config', join(dir, 'server.json')], {
        cwd: dir,
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      const messages: string[] = [];
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
        proc.once('exit', (code, signal) => resolve({ code, signal })),
      );
      let buffered = '';
      proc.stderr.setEncoding('utf8').on('data', (chunk: string) => {
        buffered += chunk;
        let nl;
        while ((nl = buffered.indexOf('\n')) !== -1) {
          const msg = String((JSON.parse(buffered.slice(0, nl)) as { msg?: string }).msg);
          buffered = buffered.slice(nl + 1);
          messages.push(msg);
          // The first line of a fresh start: the CA, the listeners and "Server ready" are still to come.
          if (messages.length === 1) proc.kill('SIGTERM');
        }
      });
      expect(await exited).toEqual({ code: 0, signal: null });
      expect(messages[0]).toMatch(/^Initialised an empty data dir/);
      expect(messages.slice(-3)).toEqual(['Server ready', expect.stringMatching(/^Stopping/), 'Stopped cleanly']);
      expect(existsSync(join(dir, 'data', 'admin.sock'))).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
