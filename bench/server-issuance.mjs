// server-issuance: X509-SVIDs per second that the running server issues end to end over the agent API (issue #3).
// Starts the built `tessera server run` (temp dir, SQLite, loopback, ports 0), mints one join token per agent and one
// entry per agent (parent = that agent's ID, SPIFFE ID spiffe://example.org/bench/agent-<i>, default X509 TTL), then
// runs each agent in its own process (bench/_issuance-worker.mjs: the grpc-js client costs 2-3x the server per call,
// architecture §8). Each agent attests with its token over TLS, then over mTLS keeps C BatchSignX509Svid calls in
// flight, B workload keys each (SPKI DER of P-256 keys generated before timing, each with an instance ID). After a
// 1 s warm-up, all agents load the server for S seconds; the rate is SVIDs returned (error_code 0) divided by the wall
// time from the start signal until the last agent has drained its calls in flight.
//   raw_sign_per_s   crypto.sign('sha256', 300-byte buffer, cached P-256 KeyObject) on one core, measured in this
//                    process (1 s before and 1 s after the load, server idle). The server is single-threaded, so
//   vs_raw_sign      = svids_per_s / raw_sign_per_s is the honest one-core ratio (aim: >= 0.4).
//   server_cpu_cores CPU seconds of the server process (all threads, /proc/<pid>/stat) / window; the main thread's
//                    share is server_main_thread_cores (1.0 = the event loop is saturated; less = blocked in I/O,
//                    e.g. SQLite fsync, or starved of CPU by other load on the machine).
//   svids_per_server_cpu_s, vs_raw_sign_cpu   the same per CPU second of the server's main thread and of the baseline:
//                    robust to other load on a shared machine, but blind to I/O waits (an upper bound of vs_raw_sign).
// Usage: npm run bench -- server-issuance [--agents N=4] [--concurrency C=4] [--batch B=100] [--seconds S=5]
//                                          [--x509-ttl SECONDS (entry TTL; default: server policy)] [--profile]
// --profile runs the server under `node --cpu-prof`, keeps the profile and prints the hottest functions of the timed
// window, mapped to src/ through the source maps.
import { fork, spawnSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { CLI, cli, startDaemon, stopDaemon } from './_cluster.mjs';
import { analyseProfile } from './_profile.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const WORKER = join(here, '_issuance-worker.mjs');
const TD = 'example.org';
const SERVER_ID = `spiffe://${TD}/tessera/server`;
const WARMUP_MS = 1000;
const RAW_SIGN_MS = 2000; // in total: half before the load, half after
const OVERALL_LIMIT_BASE_MS = 60_000;

function fail(message) {
  console.error(`server-issuance: FAILED: ${message}`);
  return cleanup().finally(() => process.exit(1));
}

let args;
try {
  ({ values: args } = parseArgs({
    options: {
      agents: { type: 'string', default: '4' },
      concurrency: { type: 'string', default: '4' },
      batch: { type: 'string', default: '100' },
      seconds: { type: 'string', default: '5' },
      'x509-ttl': { type: 'string' },
      profile: { type: 'boolean', default: false },
    },
  }));
} catch (err) {
  console.error(`server-issuance: ${err.message}`);
  process.exit(2);
}
const int = (name, min, max) => {
  const v = Number(args[name]);
  if (!Number.isInteger(v) || v < min || v > max) {
    console.error(`server-issuance: --${name} must be an integer in [${min}, ${max}]`);
    process.exit(2);
  }
  return v;
};
const AGENTS = int('agents', 1, 64);
const CONCURRENCY = int('concurrency', 1, 256);
const BATCH = int('batch', 1, 1000);
const SECONDS = Number(args.seconds);
if (!(SECONDS > 0 && SECONDS <= 60)) {
  console.error('server-issuance: --seconds must be in (0, 60]');
  process.exit(2);
}
const X509_TTL = args['x509-ttl'] === undefined ? undefined : int('x509-ttl', 1, 86_400);
const POOL = Math.max(1024, BATCH * 2);

// ---------------------------------------------------------------------------------------------------------------
// Resources to clean up.
let dir;
let profileDir;
let server; // { proc, exited }
const workers = [];
let cleaning;

function cleanup() {
  return (cleaning ??= (async () => {
    for (const w of workers) if (w.exitCode === null && w.signalCode === null) w.kill('SIGKILL');
    if (server) await stopDaemon(server);
    if (dir) rmSync(dir, { recursive: true, force: true });
  })());
}

const OVERALL_LIMIT_MS = OVERALL_LIMIT_BASE_MS + SECONDS * 1000;
const overall = setTimeout(() => void fail(`did not finish within ${OVERALL_LIMIT_MS / 1000} s`), OVERALL_LIMIT_MS);
overall.unref();
process.on('SIGINT', () => void fail('interrupted'));

// ---------------------------------------------------------------------------------------------------------------

/** Starts the server; resolves with the addresses from its "Server ready" log line. */
async function startServer() {
  const config = {
    trustDomain: TD,
    dataDir: './data',
    agentApi: { listen: '127.0.0.1:0' },
    http: { listen: '127.0.0.1:0' },
    nodeAttestors: { joinToken: { enabled: true } },
  };
  const nodeArgs = args.profile ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [];
  const { line } = await startDaemon({
    dir,
    noun: 'server',
    config,
    readyMsg: 'Server ready',
    nodeArgs,
    timeoutMs: 20_000,
    track: (d) => (server = d),
  });
  return { agentApi: String(line.agentApi), adminSocket: String(line.adminSocket) };
}

/**
 * crypto.sign P-256 over a 300-byte buffer with a cached KeyObject on this thread, for `ms` after a warm-up:
 * signatures per wall second and per CPU second of this process (the latter is robust to other load on the machine).
 */
const signKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
const signBuf = randomBytes(300);
function rawSign(ms, warmupMs = 300) {
  const run = (limit) => {
    let n = 0;
    const c0 = process.cpuUsage();
    const start = performance.now();
    while (performance.now() - start < limit) {
      for (let i = 0; i < 64; i++) sign('sha256', signBuf, signKey);
      n += 64;
    }
    const c = process.cpuUsage(c0);
    return { n, wall: (performance.now() - start) / 1000, cpu: (c.user + c.system) / 1e6 };
  };
  if (warmupMs > 0) run(warmupMs);
  return run(ms);
}

const CLK_TCK = (() => {
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const v = Number(r.stdout?.trim());
  return Number.isInteger(v) && v > 0 ? v : 100;
})();

/** utime+stime in seconds of a process (all threads) or of its main thread, or undefined where /proc is missing. */
function cpuSeconds(pid, mainThreadOnly = false) {
  try {
    const path = mainThreadOnly ? `/proc/${pid}/task/${pid}/stat` : `/proc/${pid}/stat`;
    const s = readFileSync(path, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' '); // f[0] is field 3 (state)
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return undefined;
  }
}

/** Waits for one message of `type` from every worker (an 'error' message or an exit fails). */
function fromAll(type, timeoutMs) {
  return Promise.all(
    workers.map(
      (w, i) =>
        new Promise((resolve, reject) => {
          const t = setTimeout(() => reject(new Error(`agent ${i}: no '${type}' within ${timeoutMs / 1000} s`)), timeoutMs);
          const onMessage = (msg) => {
            if (msg.type === type || msg.type === 'error') {
              clearTimeout(t);
              w.off('message', onMessage);
              w.off('exit', onExit);
              if (msg.type === 'error') reject(new Error(`agent ${i}: ${msg.message}`));
              else resolve(msg);
            }
          };
          const onExit = (code) => {
            clearTimeout(t);
            reject(new Error(`agent ${i} exited (${code}) while waiting for '${type}'`));
          };
          w.on('message', onMessage);
          w.once('exit', onExit);
        }),
    ),
  );
}

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];

// ---------------------------------------------------------------------------------------------------------------

async function main() {
  if (!existsSync(CLI)) throw new Error(`${relative(process.cwd(), CLI)} is missing: run npm run build`);
  dir = mkdtempSync(join(tmpdir(), 'tessera-bench-issuance-'));
  if (args.profile) profileDir = mkdtempSync(join(tmpdir(), 'tessera-bench-profile-'));

  const { agentApi, adminSocket } = await startServer();
  const tokens = await Promise.all(Array.from({ length: AGENTS }, () => cli(adminSocket, ['token', 'generate', '--ttl', '300'])));
  const bundle = await cli(adminSocket, ['bundle', 'show']);
  const entries = tokens.map((tk, i) => ({
    spiffeId: `spiffe://${TD}/bench/agent-${i}`,
    parentId: tk.agentSpiffeId,
    selectors: ['unix:uid:1000'],
    ...(X509_TTL !== undefined && { x509SvidTtlSeconds: X509_TTL }),
  }));
  const created = await cli(adminSocket, ['entry', 'create', '--data', '-'], JSON.stringify({ entries }));
  const entryIds = created.results.map((r, i) => {
    if (!r.entry?.id) throw new Error(`entry ${i} not created: ${JSON.stringify(r).slice(0, 200)}`);
    return r.entry.id;
  });

  // Baseline, half before and half after the load (the server is up but idle), so drift hits both alike.
  const rawBefore = rawSign(RAW_SIGN_MS / 2);

  for (let i = 0; i < AGENTS; i++) {
    const w = fork(WORKER, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    workers.push(w);
  }
  const ready = fromAll('ready', 30_000);
  workers.forEach((w, i) =>
    w.send({
      type: 'init',
      address: agentApi,
      bundlePem: bundle.x509Pem,
      serverId: SERVER_ID,
      token: tokens[i].token,
      entryId: entryIds[i],
      batch: BATCH,
      concurrency: CONCURRENCY,
      pool: POOL,
    }),
  );
  await ready;

  // Warm-up (JIT, connections, SQLite pages), then the timed window.
  let done = fromAll('done', WARMUP_MS + 30_000);
  for (const w of workers) w.send({ type: 'load', ms: WARMUP_MS });
  await done;

  const pid = server.proc.pid;
  const cpu0 = cpuSeconds(pid);
  const main0 = cpuSeconds(pid, true);
  done = fromAll('done', SECONDS * 1000 + 30_000);
  const hr0 = process.hrtime.bigint();
  const t0 = performance.now();
  for (const w of workers) w.send({ type: 'load', ms: SECONDS * 1000 });
  const results = await done;
  const elapsed = (performance.now() - t0) / 1000;
  const hr1 = process.hrtime.bigint();
  const cpu1 = cpuSeconds(pid);
  const main1 = cpuSeconds(pid, true);

  const itemErrors = results.reduce((a, r) => a + r.itemErrors, 0);
  if (itemErrors > 0) throw new Error(`${itemErrors} items failed, e.g. ${results.find((r) => r.firstError).firstError}`);
  const svids = results.reduce((a, r) => a + r.svids, 0);
  const calls = results.reduce((a, r) => a + r.calls, 0);
  const lat = results.flatMap((r) => r.latencies).sort((a, b) => a - b);
  const clientCores = results.reduce((a, r) => a + r.cpuMicros, 0) / 1e6 / elapsed;
  const svidsPerS = svids / elapsed;
  const serverCores = cpu0 !== undefined && cpu1 !== undefined ? (cpu1 - cpu0) / elapsed : undefined;
  const mainCores = main0 !== undefined && main1 !== undefined ? (main1 - main0) / elapsed : undefined;

  for (const w of workers) w.send({ type: 'exit' });
  const rawAfter = rawSign(RAW_SIGN_MS / 2, 0);
  const rawSignPerS = (rawBefore.n + rawAfter.n) / (rawBefore.wall + rawAfter.wall);
  const rawSignPerCpuS = (rawBefore.n + rawAfter.n) / (rawBefore.cpu + rawAfter.cpu);
  const svidsPerMainCpuS = main0 !== undefined && main1 !== undefined && main1 > main0 ? svids / (main1 - main0) : undefined;
  const { proc, exited } = server;
  proc.kill('SIGTERM');
  const killer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
  const code = await exited;
  clearTimeout(killer);
  if (code !== 0) throw new Error(`server exited with ${code} on SIGTERM`);

  const f = (v, d = 0) => (v === undefined ? 'n/a' : v.toFixed(d));
  console.log(
    `server-issuance: node ${process.version}, ${cpus().length} CPUs, ${AGENTS} agent processes x ${CONCURRENCY} calls in flight x ` +
      `${BATCH} keys/call, ${SECONDS}s after ${WARMUP_MS / 1000}s warm-up, SQLite, loopback mTLS`,
  );
  const rows = [
    ['SVIDs issued end to end', `${svidsPerS.toFixed(0)} /s`, `${svids} in ${elapsed.toFixed(2)} s, ${calls} calls`],
    ['raw crypto.sign P-256 (one core)', `${rawSignPerS.toFixed(0)} /s`, `idle server; ${rawSignPerCpuS.toFixed(0)} per CPU second`],
    ['vs raw sign', `${(svidsPerS / rawSignPerS).toFixed(3)}x`, 'aim >= 0.4'],
    ['batch latency p50 / p99', `${f(percentile(lat, 50), 1)} / ${f(percentile(lat, 99), 1)} ms`, `max ${f(lat.at(-1), 1)} ms`],
    ['server CPU (all threads)', `${f(serverCores, 2)} cores`, `main thread ${f(mainCores, 2)} cores (1.00 = saturated)`],
    ['SVIDs per main-thread CPU second', `${f(svidsPerMainCpuS)}`, `${f(svidsPerMainCpuS && svidsPerMainCpuS / rawSignPerCpuS, 3)}x raw sign per CPU second (excludes I/O waits)`],
    ['agent clients CPU (sum)', `${clientCores.toFixed(2)} cores`, `${AGENTS} processes`],
  ];
  for (const [a, b, c] of rows) console.log(`${a.padEnd(34)} ${b.padStart(16)}   ${c}`);

  if (args.profile) {
    const files = readdirSync(profileDir).filter((n) => n.endsWith('.cpuprofile'));
    if (files.length === 0) console.log(`(no CPU profile written in ${profileDir})`);
    for (const file of files) {
      const p = join(profileDir, file);
      const { total, selfTop, inclusiveTop, windowed } = analyseProfile(p, [Number(hr0 / 1000n), Number(hr1 / 1000n)]);
      console.log(`\nserver CPU profile ${p} (${windowed ? 'timed window' : 'whole run'}, ${(total / 1000).toFixed(0)} ms sampled)`);
      console.log('self time:');
      for (const [l, us] of selfTop) console.log(`  ${((100 * us) / total).toFixed(1).padStart(5)}%  ${l}`);
      console.log('inclusive time (src/):');
      for (const [l, us] of inclusiveTop) console.log(`  ${((100 * us) / total).toFixed(1).padStart(5)}%  ${l}`);
    }
  }

  const emit = (metric, value) => console.log(JSON.stringify({ bench: 'server-issuance', metric, value }));
  emit('svids_per_s', Math.round(svidsPerS));
  emit('raw_sign_per_s', Math.round(rawSignPerS));
  emit('vs_raw_sign', Number((svidsPerS / rawSignPerS).toFixed(3)));
  emit('batch_latency_p50_ms', Number(percentile(lat, 50).toFixed(2)));
  emit('batch_latency_p99_ms', Number(percentile(lat, 99).toFixed(2)));
  if (serverCores !== undefined) emit('server_cpu_cores', Number(serverCores.toFixed(3)));
  if (mainCores !== undefined) emit('server_main_thread_cores', Number(mainCores.toFixed(3)));
  emit('client_cpu_cores', Number(clientCores.toFixed(3)));
  if (svidsPerMainCpuS !== undefined) {
    emit('svids_per_server_cpu_s', Math.round(svidsPerMainCpuS));
    emit('vs_raw_sign_cpu', Number((svidsPerMainCpuS / rawSignPerCpuS).toFixed(3)));
  }
}

main().then(
  async () => {
    await cleanup();
    clearTimeout(overall);
    process.exit(0);
  },
  (err) => fail(err instanceof Error ? err.message.split('\n')[0] : String(err)),
);
