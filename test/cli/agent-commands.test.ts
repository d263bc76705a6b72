/**
 * The agent-side CLI against a real server and real agents (test/agent/harness.ts): `tessera agent healthcheck` on the
 * agent's HTTP listener, and `tessera api fetch` from a separate workload process (the built binary: a new process is
 * a new caller with nothing cached) when the agent is up but its server is down.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  agentConfig,
  eventually,
  startTestAgent,
  startTestServer,
  tempDir,
  type TestAgent,
  type TestServer,
} from '../agent/harness.js';
import { runTessera, type CliRun } from '../helpers/cli-in-process.js';

const BIN = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const tessera = (...args: string[]): Promise<CliRun> => runTessera(args);

/** `tessera <args>` as its own process (the built binary). */
function binary(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

describe('tessera agent healthcheck and api fetch against real agents', () => {
  let server: TestServer;
  let ready: TestAgent;
  let stuck: TestAgent;
  const dir = tempDir('tessera-cli-agent-');
  const stuckDir = tempDir('tessera-cli-agent-stuck-');

  beforeAll(async () => {
    server = await startTestServer();
    const { token } = await server.joinToken();
    ready = await startTestAgent(await agentConfig(server, dir.path, { joinToken: { token } }), dir.path);
    await ready.agent.ready();
    await server.createEntry({
      spiffeId: 'spiffe://example.org/cli-workload',
      parentId: ready.agent.identity.svid!.spiffeId,
      selectors: [{ type: 'unix', value: `uid:${process.getuid!()}` }],
    });
    // An agent whose server address refuses connections: it starts, but never attests, so it never gets ready.
    const never = await agentConfig(server, stuckDir.path, { joinToken: { token: 'never-used' } }, { serverAddress: '127.0.0.1:1' });
    stuck = await startTestAgent(never, stuckDir.path);
  });
  afterAll(async () => {
    await stuck?.stop();
    await ready?.stop();
    await server?.close();
    dir.remove();
    stuckDir.remove();
  });

  it('exits 0 with one line when the agent is ready; --shallow checks liveness; --output json', async () => {
    const address = ready.agent.httpAddress;
    expect(await tessera('agent', 'healthcheck', '--address', address)).toEqual({
      code: 0,
      stdout: `Agent is ready (http://${address}/readyz).\n`,
      stderr: '',
    });
    expect(await tessera('agent', 'healthcheck', '--address', address, '--shallow')).toEqual({
      code: 0,
      stdout: `Agent is live (http://${address}/healthz).\n`,
      stderr: '',
    });
    const json = await tessera('agent', 'healthcheck', '--address', address, '-o', 'json');
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual({ ready: true, url: `http://${address}/readyz` });
  });

  it('exits 1 with the agent\'s reason when it is not ready; --shallow still says live', async () => {
    const address = stuck.agent.httpAddress;
    const r = await tessera('agent', 'healthcheck', '--address', address);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(new RegExp(`^tessera: agent at ${address.replace(/[.[\]]/g, '\\$&')} is not ready: [^\\n]+\\n$`));
    const json = await tessera('agent', 'healthcheck', '--address', address, '--output', 'json');
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toEqual({ ready: false, url: `http://${address}/readyz`, reason: expect.any(String) });
    expect((await tessera('agent', 'healthcheck', '--address', address, '--shallow')).code).toBe(0);
  });

  it('exits 1 with one line when nothing listens, as JSON under --output json', async () => {
    const r = await tessera('agent', 'healthcheck', '--address', '127.0.0.1:1');
    expect(r).toEqual({
      code: 1,
      stdout: '',
      stderr:
        'tessera: cannot reach the agent at http://127.0.0.1:1/readyz: connection refused (is the agent running, ' +
        'and is this its http.listen address?)\n',
    });
    const json = await tessera('agent', 'healthcheck', '--address', '127.0.0.1:1', '-o', 'json');
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stderr)).toEqual({ error: { code: 'UNAVAILABLE', message: expect.stringMatching(/^cannot reach the agent at /) } });
  });

  it('api fetch: an agent answering UNAVAILABLE because its server is down is not "no agent listens"', async () => {
    const env = { ...process.env, SPIFFE_ENDPOINT_SOCKET: `unix://${ready.config.socketPath}` };
    // The entry reaches the agent by sync: a first workload process gets its SVID once it has.
    await eventually(async () => (await binary(['api', 'fetch', 'x509'], env)).code === 0, 20_000, 'a first SVID');
    await server.stop();
    // A new process is a new instance: the agent must ask the server to sign, and the server is down.
    const r = await binary(['api', 'fetch', 'x509'], env);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).not.toMatch(/no agent listens|cannot reach the Workload API/);
    expect(r.stderr).toMatch(/^tessera: the Workload API at \/\S+ is unavailable: [^\n]*ECONNREFUSED[^\n]*\n$/);
    const json = await binary(['api', 'fetch', 'x509', '-o', 'json'], env);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stderr)).toEqual({
      error: { code: 'UNAVAILABLE', message: expect.stringMatching(/^the Workload API at .* is unavailable: /) },
    });
  });
});
