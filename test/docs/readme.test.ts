/**
 * The README's "Using it" block, run as written by bash in a temporary copy of the repository (the built dist/ and
 * node_modules linked, deploy/ copied with free ports in place of the fixed ones, nothing else substituted), so that a
 * renamed flag, a moved file or a missing step fails here rather than for a new operator.
 */
import { spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BUILD_LINE = 'npm ci && npm run build';

/** The shell block right under the README's "## Using it" heading. */
function usingItBlock(readme: string): string {
  const m = /^## Using it\n\n```sh\n([\s\S]*?)^```$/m.exec(readme);
  if (!m) throw new Error('README.md has no "## Using it" section starting with a ```sh block');
  return m[1]!;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** Replaces `from` in `text` once at least, failing when the example no longer holds it (the test would then drift). */
function substitute(text: string, from: string, to: string, file: string): string {
  if (!text.includes(from)) throw new Error(`${file} no longer holds ${JSON.stringify(from)}: update this test`);
  return text.split(from).join(to);
}

interface Copy {
  readonly dir: string;
  readonly agentApiPort: number;
}

/** A temporary working copy: dist/ and node_modules linked, package.json, deploy/ (free ports) and an empty certs/. */
async function workingCopy(): Promise<Copy> {
  if (!existsSync(join(ROOT, 'dist/cli/main.js'))) throw new Error('dist/ is not built: run npx tsc -p tsconfig.build.json');
  const dir = mkdtempSync(join(tmpdir(), 'tessera-readme-'));
  symlinkSync(join(ROOT, 'dist'), join(dir, 'dist'));
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  cpSync(join(ROOT, 'package.json'), join(dir, 'package.json'));
  mkdirSync(join(dir, 'deploy'));
  mkdirSync(join(dir, 'certs'));
  const agentApiPort = await freePort();
  const server = 'deploy/server.example.yaml';
  let text = readFileSync(join(ROOT, server), 'utf8');
  text = substitute(text, 'listen: 127.0.0.1:8081', `listen: 127.0.0.1:${agentApiPort}`, server);
  text = substitute(text, 'listen: 127.0.0.1:8080', 'listen: 127.0.0.1:0', server);
  writeFileSync(join(dir, server), text);
  const agent = 'deploy/agent.example.yaml';
  text = readFileSync(join(ROOT, agent), 'utf8');
  text = substitute(text, 'serverAddress: 127.0.0.1:8081', `serverAddress: 127.0.0.1:${agentApiPort}`, agent);
  text = substitute(text, 'listen: 127.0.0.1:8082', 'listen: 127.0.0.1:0', agent);
  writeFileSync(join(dir, agent), text);
  return { dir, agentApiPort };
}

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

const groups: number[] = [];
const dirs: string[] = [];

/** Runs `script` with bash -euo pipefail in its own process group (so background jobs left by a failure are killed). */
function bash(script: string, cwd: string): Promise<Run> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env['SPIFFE_ENDPOINT_SOCKET'];
  delete env['TESSERA_ADMIN_SOCKET'];
  const child = spawn('bash', ['-euo', 'pipefail', '-c', script], { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  groups.push(child.pid!);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  // Background jobs a failed script leaves behind hold its pipes open: they are killed once bash exits.
  child.once('exit', () => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // nothing left in the group
    }
  });
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}

afterEach(() => {
  for (const pgid of groups.splice(0)) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // the group has exited
    }
  }
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function logLines(file: string): Record<string, unknown>[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('README "Using it"', () => {
  const block = usingItBlock(readFileSync(join(ROOT, 'README.md'), 'utf8'));

  it('starts with the install and build line (not run here: the suite runs against this checkout\'s dist/)', () => {
    expect(block.split('\n')[0]).toBe(BUILD_LINE);
  });

  it('runs as written: server, bundle for trustBundlePath, token, entry, agent, an SVID for this shell, stop', async () => {
    const { dir } = await workingCopy();
    dirs.push(dir);
    const script = block.slice(BUILD_LINE.length + 1);
    const r = await bash(script, dir);
    const context = `stdout:\n${r.stdout}\nstderr:\n${r.stderr.slice(-3000)}`;
    expect(r.code, context).toBe(0);

    // The server started on the example config, was ready, and stopped cleanly at the block's last line.
    const server = logLines(join(dir, '.tessera/server.log'));
    expect(server.find((l) => l['msg'] === 'Server ready'), context).toBeDefined();
    expect(server.some((l) => l['msg'] === 'Stopped cleanly'), context).toBe(true);
    expect(r.stdout).toMatch(/ready/);

    // The bundle step wrote the trust domain's CA certificate where the agent example's trustBundlePath points.
    const pem = readFileSync(join(dir, 'certs/bundle.pem'), 'utf8');
    expect(new X509Certificate(pem).ca).toBe(true);

    // The token replaced the example's placeholder, and the token itself was never printed or logged.
    const agentYaml = readFileSync(join(dir, '.tessera/agent.yaml'), 'utf8');
    expect(agentYaml).not.toContain('0123456789abcdef0123456789abcdef');
    const token = /token: (\S+)/.exec(agentYaml)![1]!;
    expect(r.stdout + r.stderr + readFileSync(join(dir, '.tessera/agent.log'), 'utf8')).not.toContain(token);

    // The agent attested with it (as the alias the entry's parent names), and this shell got the entry's SVID.
    const agent = logLines(join(dir, '.tessera/agent.log'));
    expect(agent.find((l) => l['msg'] === 'Agent ready'), context).toMatchObject({
      socketPath: join(dir, '.tessera/agent/api.sock'),
    });
    expect(agent.some((l) => l['msg'] === 'Stopped cleanly'), context).toBe(true);
    expect(r.stdout).toContain('spiffe://example.org/agents/invoice');
    expect(r.stdout).toMatch(/Usage: tessera <command>/);
  }, 180_000); // real processes on 2 shared cores: the block waits for events, bounded here

  it('fails when a command in it drifts (a renamed flag)', async () => {
    const { dir } = await workingCopy();
    dirs.push(dir);
    const drifted = block.slice(BUILD_LINE.length + 1).replace('bundle show --format pem', 'bundle show --fmt pem');
    expect(drifted).not.toBe(block.slice(BUILD_LINE.length + 1));
    const r = await bash(drifted, dir);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/fmt/);
  }, 180_000); // real processes on 2 shared cores: the block waits for events, bounded here
});
