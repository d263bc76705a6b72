/**
 * Runs the built `tessera server run` as a child process in a temp dir, the way an operator would, and the built CLI
 * against it. Addresses come from the server's "Server ready" log line (ports are 0 = any free port).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

export interface ServerProcess extends TesseraProcess {
  readonly agentApi: string;
  readonly http: string;
  readonly adminSocket: string;
  /** `host:port` of the SPIFFE bundle endpoint, when configured. */
  readonly bundleEndpoint?: string;
}

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface TesseraProcess {
  readonly proc: ChildProcess;
  /** The fields of the "… ready" log line. */
  readonly ready: Record<string, unknown>;
  /** Every JSON log line so far (more arrive while the process runs). */
  readonly logs: Record<string, unknown>[];
  /** Every stderr line so far, as written (JSON.parse would hide a repeated key). */
  readonly lines: string[];
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Writes `config` (JSON, a YAML subset) to `<dir>/server.json` and starts the server with it. */
export async function startServerProcess(
  dir: string,
  config: Record<string, unknown>,
  options: { env?: NodeJS.ProcessEnv } = {},
): Promise<ServerProcess> {
  const p = await startTesseraProcess('server', dir, config, 'Server ready', options);
  return {
    ...p,
    agentApi: String(p.ready['agentApi']),
    http: String(p.ready['http']),
    adminSocket: String(p.ready['adminSocket']),
    ...(typeof p.ready['bundleEndpoint'] === 'string' ? { bundleEndpoint: p.ready['bundleEndpoint'] } : {}),
  };
}

/**
 * Starts `tessera <noun> run --config <dir>/<noun>.json` (environment: ours plus `options.env`) and resolves once it
 * logs `readyMsg`.
 */
export async function startTesseraProcess(
  noun: 'server' | 'agent',
  dir: string,
  config: Record<string, unknown>,
  readyMsg: string,
  options: { env?: NodeJS.ProcessEnv } = {},
): Promise<TesseraProcess> {
  const file = join(dir, `${noun}.json`);
  writeFileSync(file, JSON.stringify(config, null, 2));
  const proc = spawn(process.execPath, [CLI, noun, 'run', '--config', file], {
    cwd: dir,
    stdio: ['ignore', 'ignore', 'pipe'],
    ...(options.env ? { env: { ...process.env, ...options.env } } : {}),
  });
  const logs: Record<string, unknown>[] = [];
  const lines: string[] = [];
  let buffered = '';
  let stderrText = '';
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const ready = new Promise<Record<string, unknown>>((resolve, reject) => {
    proc.stderr!.setEncoding('utf8');
    proc.stderr!.on('data', (chunk: string) => {
      stderrText += chunk;
      buffered += chunk;
      let nl;
      while ((nl = buffered.indexOf('\n')) !== -1) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        lines.push(line);
        try {
          const entry = JSON.parse(line) as Record<string, unknown>;
          logs.push(entry);
          if (entry['msg'] === readyMsg) resolve(entry);
        } catch {
          // a non-JSON line (e.g. a start-up error message) stays in stderrText
        }
      }
    });
    void exited.then((code) => reject(new Error(`${noun} exited (${code}) before it was ready:\n${stderrText}`)));
  });
  return {
    proc,
    ready: await ready,
    logs,
    lines,
    stop(signal = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
  };
}

/** Runs the built CLI synchronously. */
export function runCli(args: readonly string[], options: { input?: string; cwd?: string; env?: NodeJS.ProcessEnv } = {}): CliResult {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    encoding: 'utf8',
    input: options.input,
    cwd: options.cwd,
    env: options.env ?? process.env,
    timeout: 30_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Runs the built CLI with `--socket` and `--output json`, failing loudly on a non-zero exit. */
export function cliJson<T = Record<string, unknown>>(socket: string, args: readonly string[]): T {
  const r = runCli([...args, '--socket', socket, '--output', 'json']);
  if (r.code !== 0) throw new Error(`tessera ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

/**
 * Mints a join token on `server`, exports its bundle to `<dir>/bundle.pem` and starts an agent process with them
 * (data dir `<dir>/agent`). Resolves with the agent, its SPIFFE ID and its Workload API socket path.
 */
export async function startJoinedAgent(
  dir: string,
  server: ServerProcess,
  trustDomain: string,
): Promise<{ agent: TesseraProcess; agentId: string; socket: string }> {
  const token = cliJson<{ token: string; agentSpiffeId: string }>(server.adminSocket, ['token', 'generate']);
  writeFileSync(join(dir, 'bundle.pem'), runCli(['bundle', 'show', '--socket', server.adminSocket]).stdout);
  const agent = await startTesseraProcess(
    'agent',
    dir,
    {
      trustDomain,
      serverAddress: server.agentApi,
      trustBundlePath: './bundle.pem',
      nodeAttestor: { joinToken: { token: token.token } },
      dataDir: './agent',
      http: { listen: '127.0.0.1:0' },
    },
    'Agent ready',
  );
  return { agent, agentId: token.agentSpiffeId, socket: String(agent.ready['socketPath']) };
}

/** Polls `fn` every 100 ms until it returns a value, or fails naming `what` after `ms`. */
export async function until<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
