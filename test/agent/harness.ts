/**
 * Test harness for the agent: the REAL server (startServer) on a temp data dir with port 0, driven through its admin
 * socket, and agents started in-process with startAgent on their own temp dirs. Policies can be tightened below the
 * config file's minimums (e.g. a 6 s agent SVID) by editing the parsed ServerConfig.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdminClient } from '../../src/cli/admin-client.js';
import type { Logger } from '../../src/common/log.js';
import { startAgent, type AgentTuning, type RunningAgent, type StartAgentOptions } from '../../src/agent/agent.js';
import { parseAgentConfig, type AgentConfig } from '../../src/agent/config.js';
import { parseServerConfig, type ServerConfig } from '../../src/server/config.js';
import { startServer, type RunningServer } from '../../src/server/server.js';
import { captureLogger } from '../helpers/log-capture.js';

export const TRUST_DOMAIN = 'example.org';

export interface ServerPolicy {
  agentSvidTtlSeconds?: number;
  defaultX509TtlSeconds?: number;
}

export interface TestServer {
  readonly dir: string;
  readonly config: ServerConfig;
  readonly admin: AdminClient;
  address: string;
  running: RunningServer | undefined;
  bundlePem(): Promise<string>;
  joinToken(): Promise<{ token: string; agentId: string }>;
  createEntry(entry: {
    spiffeId: string;
    parentId: string;
    selectors: { type: string; value: string }[];
    x509TtlSeconds?: number;
    hint?: string;
  }): Promise<{ id: string; created_at: number }>;
  deleteEntry(id: string): Promise<void>;
  evict(agentId: string): Promise<void>;
  stop(): Promise<void>;
  /** Starts again on the same data dir and port. */
  restart(): Promise<void>;
  close(): Promise<void>;
}

export async function startTestServer(options: { policy?: ServerPolicy; x509popCaFile?: string; log?: Logger } = {}): Promise<TestServer> {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-agent-srv-'));
  const parsed = parseServerConfig(
    {
      trustDomain: TRUST_DOMAIN,
      dataDir: dir,
      agentApi: { listen: '127.0.0.1:0' },
      http: { listen: '127.0.0.1:0' },
      ...(options.x509popCaFile && { nodeAttestors: { x509pop: { caBundleFile: options.x509popCaFile } } }),
    },
    dir,
  );
  let config: ServerConfig = { ...parsed, policy: { ...parsed.policy, ...options.policy } };
  const log = options.log ?? captureLogger('warn').log;
  let running: RunningServer | undefined = await startServer(config, { log });
  // Restarts bind the same port.
  config = { ...config, agentApi: { ...config.agentApi, listen: running.agentApiAddress } };
  const admin = new AdminClient(running.adminSocketPath);
  const server: TestServer = {
    dir,
    config,
    admin,
    address: running.agentApiAddress,
    running,
    async bundlePem() {
      const res = await admin.call<{ x509_pem: string }>('BundleService', 'GetBundle', {});
      return res.x509_pem;
    },
    async joinToken() {
      const res = await admin.call<{ token: string; agent_spiffe_id: string }>('TokenService', 'CreateJoinToken', { ttl_seconds: 600 });
      return { token: res.token, agentId: res.agent_spiffe_id };
    },
    async createEntry(e) {
      const res = await admin.call<{ results: { entry?: { id: string; created_at: number }; error_code: number; error_message: string }[] }>(
        'EntryService',
        'BatchCreateEntry',
        {
          entries: [
            {
              spiffe_id: e.spiffeId,
              parent_id: e.parentId,
              selectors: e.selectors,
              role: 'ROLE_WORKER',
              x509_svid_ttl_seconds: e.x509TtlSeconds ?? 0,
              hint: e.hint ?? '',
            },
          ],
        },
      );
      const r = res.results[0]!;
      if (!r.entry) throw new Error(`entry refused: ${r.error_message}`);
      return r.entry;
    },
    async deleteEntry(id) {
      await admin.call('EntryService', 'DeleteEntry', { id });
    },
    async evict(agentId) {
      await admin.call('AgentAdminService', 'EvictAgent', { spiffe_id: agentId });
    },
    async stop() {
      const r = running;
      running = undefined;
      server.running = undefined;
      await r?.stop();
    },
    async restart() {
      running = await startServer(config, { log });
      server.running = running;
    },
    async close() {
      admin.close();
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return server;
}

export interface TestAgent {
  readonly dir: string;
  readonly config: AgentConfig;
  readonly agent: RunningAgent;
  readonly logs: () => Record<string, unknown>[];
  stop(): Promise<void>;
}

/** Raw agent config for `server` with a join token or x509pop; the bundle file is written into `dir`. */
export async function agentConfig(
  server: TestServer,
  dir: string,
  nodeAttestor: Record<string, unknown>,
  extra: Record<string, unknown> = {},
): Promise<AgentConfig> {
  const bundleFile = join(dir, 'bundle.pem');
  writeFileSync(bundleFile, await server.bundlePem());
  return parseAgentConfig(
    {
      trustDomain: TRUST_DOMAIN,
      serverAddress: server.address,
      trustBundlePath: bundleFile,
      nodeAttestor,
      dataDir: join(dir, 'data'),
      http: { listen: '127.0.0.1:0' },
      ...extra,
    },
    dir,
  );
}

export async function startTestAgent(
  config: AgentConfig,
  dir: string,
  options: Partial<StartAgentOptions> & { tuning?: AgentTuning } = {},
): Promise<TestAgent> {
  const { log, lines } = captureLogger('debug');
  const agent = await startAgent(config, { log, ...options });
  return {
    dir,
    config,
    agent,
    logs: lines,
    stop: () => agent.stop(),
  };
}

export function tempDir(prefix = 'tessera-agent-'): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/**
 * A workload binary of its own: a copy of sleep(1) at a unique path, so its `unix:path` selector singles out the
 * processes a test starts from it.
 */
export function workloadBinary(dir: string, name: string): string {
  const path = join(dir, name);
  copyFileSync('/usr/bin/sleep', path);
  chmodSync(path, 0o755);
  return path;
}

/** A long-running child process of `binary` (a real workload for the real attestor). */
export function spawnWorkload(binary: string): ChildProcess & { pid: number } {
  const child = spawn(binary, ['300'], { stdio: 'ignore' });
  if (child.pid === undefined) throw new Error(`could not spawn ${binary}`);
  return child as ChildProcess & { pid: number };
}

/** Resolves once `child` has exited (kills it first when asked). */
export function exited(child: ChildProcess, kill = true): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  const done = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  if (kill) child.kill('SIGKILL');
  return done;
}

export function callerOf(pid: number): { pid: number; uid: number; gid: number } {
  return { pid, uid: process.getuid!(), gid: process.getgid!() };
}

/** Polls `check` every 25 ms until it returns a value other than undefined/false, or fails after `timeoutMs`. */
export async function eventually<T>(check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 10_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
