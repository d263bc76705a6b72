#!/usr/bin/env node
// `npm run demo`: a server and an agent on the embedded SQLite default, in .tessera/demo (or --dir DIR), a workload
// (this process's user) receiving its X509-SVID and a JWT-SVID through the Workload API, then two separate workload
// processes (examples/mtls/peer.mjs) each fetching its own SVID and talking mutual TLS with it, printing the SPIFFE ID
// each saw on the other side. Ports are picked free; everything is stopped at the end (pass --keep to leave server
// and agent running and print how to stop them). Ends with the next command to try.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = resolve(fileURLToPath(new URL('..', import.meta.url)));
const cli = join(root, 'dist/cli/main.js');
const { values: opts } = parseArgs({ options: { keep: { type: 'boolean' }, dir: { type: 'string' } } });
const dir = resolve(opts.dir ?? join(root, '.tessera/demo'));
const keep = opts.keep === true;
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

  step(`Register an identity for processes of this user (uid ${process.getuid()}) under that agent, one per process`);
  tessera([
    'entry', 'create', ...admin,
    '--parent-id', token.agentSpiffeId,
    '--spiffe-id', `spiffe://${TD}/demo/workload/{instance}`,
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
  process.stdout.write(`$ tessera api fetch x509 --socket ${socket} --write ${shortPath(join(dir, 'svid'))}\n${out}`);

  step('And a JWT-SVID for an audience');
  tessera(['api', 'fetch', 'jwt', '--socket', socket, '--audience', 'spiffe://example.org/demo-broker']);

  step('Two separate workload processes, each with its own SVID from the Workload API, talk mutual TLS');
  await mtlsPeers(socket);

  if (keep) {
    console.log('\nServer and agent keep running. Next, try:');
    console.log(`  SPIFFE_ENDPOINT_SOCKET=unix://${socket} node dist/cli/main.js api watch`);
    console.log(`  SPIFFE_ENDPOINT_SOCKET=unix://${socket} node examples/mtls/peer.mjs serve --allow spiffe://${TD}/demo/`);
    const running = children.filter((c) => c.exitCode === null);
    console.log(`Stop them with: kill ${running.map((c) => c.pid).join(' ')}`);
    for (const c of running) c.unref();
    process.exit(0);
  }
  step('Stop agent and server');
  console.log('Next, try: node scripts/demo.mjs --keep   (leaves both running and prints the commands to use them),');
  console.log('or the README\'s "Using it" with deploy/*.example.yaml.');
}

/** `file` relative to the working directory when it lies under it, else absolute. */
function shortPath(file) {
  const rel = relative(process.cwd(), file);
  return rel.startsWith('..') ? file : rel;
}

/**
 * Runs examples/mtls/peer.mjs twice as separate processes against the agent's Workload API: one serving, one
 * connecting, each requiring the other to present an SVID under spiffe://example.org/demo/. Relays what each printed.
 */
async function mtlsPeers(socket) {
  const peer = join(root, 'examples/mtls/peer.mjs');
  const env = { ...process.env, SPIFFE_ENDPOINT_SOCKET: `unix://${socket}` };
  const allow = `spiffe://${TD}/demo/`;
  const run = (args, name) => {
    process.stdout.write(`$ SPIFFE_ENDPOINT_SOCKET=unix://${socket} node examples/mtls/peer.mjs ${args.join(' ')} &\n`);
    const child = spawn(process.execPath, [peer, ...args], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (c) => (err += c));
    const exited = new Promise((resolveExit, reject) =>
      child.once('exit', (code) => (code === 0 ? resolveExit() : reject(new Error(`${name} exited (${code}): ${err.trim()}`)))),
    );
    return { child, exited };
  };
  const server = run(['serve', '--allow', allow], 'mtls server');
  const port = await new Promise((resolvePort, reject) => {
    let text = '';
    server.child.stdout.setEncoding('utf8').on('data', (chunk) => {
      process.stdout.write(chunk);
      text += chunk;
      const m = /listening on 127\.0\.0\.1:(\d+)/.exec(text);
      if (m) resolvePort(Number(m[1]));
    });
    server.exited.then(() => reject(new Error('mtls server exited before listening')), reject);
  });
  const client = run(['connect', '--allow', allow, '--port', String(port)], 'mtls client');
  client.child.stdout.setEncoding('utf8').on('data', (chunk) => process.stdout.write(chunk));
  await Promise.all([server.exited, client.exited]);
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
