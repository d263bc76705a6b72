#!/usr/bin/env node
// `npm run demo`: a server and an agent on the embedded SQLite default, in .tessera/demo, and a workload (this
// process's user) receiving its X509-SVID and a JWT-SVID through the Workload API. Ports are picked free; everything
// is stopped at the end (pass --keep to leave both running and print how to stop them).
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(fileURLToPath(new URL('..', import.meta.url)));
const cli = join(root, 'dist/cli/main.js');
const dir = join(root, '.tessera/demo');
const keep = process.argv.includes('--keep');
const TD = 'example.org';

const step = (text) => process.stdout.write(`\n\x1b[1m» ${text}\x1b[0m\n`);
const children = [];

function tessera(args, { show = true } = {}) {
  if (show) process.stdout.write(`$ tessera ${args.join(' ')}\n`);
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', cwd: dir });
  if (show) process.stdout.write(r.stdout);
  if (r.status !== 0) {
    const err = new Error(`tessera ${args[0]} ${args[1] ?? ''} failed: ${r.stderr.trim()}`);
    err.stderr = r.stderr;
    throw err;
  }
  return r.stdout;
}

/** Starts `tessera <noun> run --config file` and resolves with the fields of its `readyMsg` log line. */
function start(noun, config, readyMsg) {
  const file = join(dir, `${noun}.json`);
  writeFileSync(file, JSON.stringify(config, null, 2));
  const child = spawn(process.execPath, [cli, noun, 'run', '--config', file], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(child);
  let text = '';
  return new Promise((resolveReady, reject) => {
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk) => {
      text += chunk;
      for (const line of text.split('\n')) {
        try {
          const entry = JSON.parse(line);
          if (entry.msg === readyMsg) return resolveReady(entry);
        } catch {
          // partial or non-JSON line
        }
      }
    });
    child.once('exit', (code) => reject(new Error(`${noun} exited (${code}) before it was ready:\n${text.slice(-2000)}`)));
  });
}

async function main() {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });

  step('Start the server (trust domain example.org, SQLite under .tessera/demo/server)');
  const server = await start(
    'server',
    { trustDomain: TD, dataDir: './server', agentApi: { listen: '127.0.0.1:0' }, http: { listen: '127.0.0.1:0' } },
    'Server ready',
  );
  const admin = ['--socket', server.adminSocket];
  console.log(`server ready: agent API ${server.agentApi}, HTTP ${server.http}, admin socket ${server.adminSocket}`);

  step('Mint a one-time join token for the agent, and export the trust bundle it will trust');
  const token = JSON.parse(tessera(['token', 'generate', ...admin, '--output', 'json'], { show: false }));
  console.log(`token for ${token.agentSpiffeId} (not shown; it is a secret)`);
  writeFileSync(join(dir, 'bundle.pem'), tessera(['bundle', 'show', ...admin], { show: false }));

  step('Start the agent: it attests with the token and serves the Workload API');
  const agent = await start(
    'agent',
    {
      trustDomain: TD,
      serverAddress: server.agentApi,
      trustBundlePath: './bundle.pem',
      nodeAttestor: { joinToken: { token: token.token } },
      dataDir: './agent',
      http: { listen: '127.0.0.1:0' },
    },
    'Agent ready',
  );
  const socket = agent.socketPath;
  console.log(`agent ready: ${agent.spiffeId ?? token.agentSpiffeId}, Workload API at unix://${socket}`);

  step(`Register an identity for processes of this user (uid ${process.getuid()}) under that agent`);
  tessera([
    'entry', 'create', ...admin,
    '--parent-id', token.agentSpiffeId,
    '--spiffe-id', `spiffe://${TD}/demo/workload`,
    '--selector', `unix:uid:${process.getuid()}`,
    '--x509-ttl', '300',
  ]);

  step('A workload fetches its X509-SVID (the entry reaches the agent by push; retried briefly)');
  let out;
  for (let i = 0; ; i++) {
    try {
      out = tessera(['api', 'fetch', 'x509', '--socket', socket, '--write', join(dir, 'svid')], { show: false });
      break;
    } catch (err) {
      if (i >= 50) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  process.stdout.write(`$ tessera api fetch x509 --socket ${socket} --write .tessera/demo/svid\n${out}`);

  step('And a JWT-SVID for an audience');
  tessera(['api', 'fetch', 'jwt', '--socket', socket, '--audience', 'spiffe://example.org/demo-broker']);

  if (keep) {
    console.log(`\nBoth keep running. Try: SPIFFE_ENDPOINT_SOCKET=unix://${socket} node dist/cli/main.js api watch`);
    console.log(`Stop them with: kill ${children.map((c) => c.pid).join(' ')}`);
    for (const c of children) c.unref();
    process.exit(0);
  }
  step('Stop agent and server');
}

main()
  .then(() => stopAll(0), (err) => {
    console.error(`\ndemo failed: ${err.message}`);
    stopAll(1);
  });

function stopAll(code) {
  if (keep && code === 0) return;
  let left = children.filter((c) => c.exitCode === null);
  if (left.length === 0) process.exit(code);
  for (const c of left) {
    c.once('exit', () => {
      left = left.filter((x) => x !== c);
      if (left.length === 0) process.exit(code);
    });
    c.kill('SIGTERM');
  }
}
