import { spawn } from 'node:child_process';
import { mkdirSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { stringify } from 'yaml';
import { loadService } from '../../src/common/grpc/protos.js';
import { runAgentCli } from '../../src/agent/main.js';
import { parseX509Svid } from '../../src/spiffe/x509svid/index.js';
import { eventually, startTestServer, tempDir, TRUST_DOMAIN, type TestServer } from './harness.js';

const MAIN = fileURLToPath(new URL('../../src/agent/main.ts', import.meta.url));

describe('runAgentCli usage', () => {
  it('returns 2 for usage errors and 1 for an invalid configuration', async () => {
    const d = tempDir();
    try {
      const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
      const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
      try {
        expect(await runAgentCli([])).toBe(2);
        expect(await runAgentCli(['--help'])).toBe(0);
        expect(await runAgentCli(['start'])).toBe(2);
        expect(await runAgentCli(['run'])).toBe(2);
        expect(await runAgentCli(['run', '--bogus'])).toBe(2);
        writeFileSync(join(d.path, 'bad.yaml'), 'trustDomain: example.org\nnodeAttestor: {}\n');
        expect(await runAgentCli(['run', '--config', join(d.path, 'bad.yaml')])).toBe(1);
        expect(String(err.mock.calls.at(-1)?.[0])).toContain('invalid configuration');
      } finally {
        err.mockRestore();
        out.mockRestore();
      }
    } finally {
      d.remove();
    }
  });
});

describe('runAgentCli with a bad trust bundle file', () => {
  // The agent refuses to start, naming the setting, the file and how to make it (not a bare ENOENT).
  it.each([
    ['missing', undefined, /trustBundlePath ".*no-such\.pem" does not exist: write the server's CA roots there with "tessera bundle show --format pem > FILE"/],
    ['empty', '', /trustBundlePath ".*no-such\.pem" holds no certificate: write .*insecureBootstrap: true/],
    ['not PEM', 'hello\n', /trustBundlePath ".*no-such\.pem" is not a PEM certificate bundle \(.*\): write .*tessera bundle show/],
    ['a directory', 'dir', /trustBundlePath ".*no-such\.pem" cannot be read \(EISDIR\): write /],
  ])('%s: exit 1 with a message naming trustBundlePath', async (_name, content, expected) => {
    const d = tempDir();
    const bundle = join(d.path, 'no-such.pem');
    if (content === 'dir') mkdirSync(bundle);
    else if (content !== undefined) writeFileSync(bundle, content);
    writeFileSync(
      join(d.path, 'agent.yaml'),
      stringify({
        trustDomain: TRUST_DOMAIN,
        serverAddress: '127.0.0.1:1',
        trustBundlePath: 'no-such.pem',
        nodeAttestor: { joinToken: { token: 'not-used' } },
        dataDir: 'data',
        http: { listen: '127.0.0.1:0' },
        logLevel: 'error',
      }),
    );
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      expect(await runAgentCli(['run', '--config', join(d.path, 'agent.yaml')])).toBe(1);
      const last = String(err.mock.calls.at(-1)?.[0]);
      expect(last).toMatch(/^tessera: agent failed to start: /);
      expect(last).toMatch(expected);
    } finally {
      err.mockRestore();
      d.remove();
    }
  });
});

describe('tessera agent run (child process, real server, real Workload API)', () => {
  let server: TestServer;
  const d = tempDir('tessera-agent-cli-');
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    await server.close();
    d.remove();
  });

  it('logs "Agent ready", serves this process its SVID over the socket, and stops cleanly on SIGTERM', async () => {
    const { token, agentId } = await server.joinToken();
    writeFileSync(join(d.path, 'bundle.pem'), await server.bundlePem());
    const socketPath = join(d.path, 'data', 'api.sock');
    writeFileSync(
      join(d.path, 'agent.yaml'),
      stringify({
        trustDomain: TRUST_DOMAIN,
        serverAddress: server.address,
        trustBundlePath: 'bundle.pem',
        nodeAttestor: { joinToken: { token } },
        dataDir: 'data',
        http: { listen: '127.0.0.1:0' },
        logLevel: 'info',
      }),
    );
    const script = join(d.path, 'run.mts');
    writeFileSync(
      script,
      `import { runAgentCli } from ${JSON.stringify(MAIN)};\nprocess.exitCode = await runAgentCli(['run', '--config', ${JSON.stringify(join(d.path, 'agent.yaml'))}]);\n`,
    );
    const child = spawn(process.execPath, ['--import', 'tsx', script], { stdio: ['ignore', 'ignore', 'pipe'], cwd: process.cwd() });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const ready = await eventually(
        () => stderr.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l['msg'] === 'Agent ready'),
        20_000,
        'Agent ready',
      );
      expect(ready).toMatchObject({ spiffeId: agentId, socketPath });
      expect(String(ready['http'])).toMatch(/^127\.0\.0\.1:\d+$/);
      expect(stderr).not.toContain(token);

      await server.createEntry({
        spiffeId: 'spiffe://example.org/cli-test',
        parentId: agentId,
        selectors: [
          { type: 'unix', value: `uid:${process.getuid!()}` },
          { type: 'unix', value: `path:${realpathSync(process.execPath)}` },
        ],
      });
      const { Client } = loadService('spiffe/workload/workload.proto', 'SpiffeWorkloadAPI');
      const client = new Client(`unix://${socketPath}`, grpc.credentials.createInsecure());
      try {
        const first = await eventually(
          () =>
            new Promise<Record<string, unknown> | undefined>((resolve) => {
              const md = new grpc.Metadata();
              md.set('workload.spiffe.io', 'true');
              const call = (client as unknown as Record<string, (req: object, md: grpc.Metadata) => grpc.ClientReadableStream<Record<string, unknown>>>)['FetchX509SVID']!.call(client, {}, md);
              call.once('data', (msg: Record<string, unknown>) => {
                resolve(msg);
                call.cancel();
              });
              call.once('error', () => resolve(undefined));
            }),
          10_000,
          'an X509-SVID over the Workload API',
        );
        const svid = (first['svids'] as { spiffe_id: string; x509_svid: Buffer; x509_svid_key: Buffer }[])[0]!;
        expect(svid.spiffe_id).toBe('spiffe://example.org/cli-test');
        expect(parseX509Svid(svid.x509_svid, svid.x509_svid_key).spiffeId.toString()).toBe('spiffe://example.org/cli-test');
      } finally {
        client.close();
      }

      child.kill('SIGTERM');
      expect(await exit).toBe(0);
      expect(stderr).toContain('Stopped cleanly');
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
