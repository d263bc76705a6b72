// workload-api: the agent's SPIFFE Workload API under load (issues #4 and #5). Starts the built server and agent
// (temp dir, SQLite, loopback, ports 0, join token), registers one entry for this user (unix:uid:<uid>) and measures
// FetchX509SVID over the agent's Unix socket:
//   cached        W client processes (bench/_workload-worker.mjs, grpc-js; each process is ONE workload instance,
//                 attested and warmed up before timing) x C loops = W*C concurrent callers (default 4 x 25 = 100) of
//                 one-shot FetchX509SVID (open the stream, first message, cancel) for S seconds: p50/p99 latency
//                 and calls/s. Also one caller alone (uncontended latency).
//   baseline      the same client layout against a bare grpc-js server (bench/_workload-echo.mjs) on a Unix socket
//                 that writes the identical pre-encoded X509SVIDResponse bytes with no attestation and no session:
//                 the cost of one-shot gRPC itself on this machine. Measured S/2 before and S/2 after the agent
//                 window so drift in machine load hits both alike. vs_baseline_* = agent / baseline.
//   new instance  N NEW processes (bench/_workload-instance.mjs; own pid, so the agent attests each one, makes it a key
//                 and has the server sign its SVID), started in waves of K, loaded, then released together; each times
//                 its own connect + first FetchX509SVID (Node start-up excluded). Plain node:http2 clients: grpc-js
//                 would add ~80 ms of load and several ms of cold client JIT per process, which is not the agent.
//   burst         B new processes (default 200) spawned and waiting on stdin, released at once: wall time from the
//                 release until every one holds an SVID, and the server's X509 signing rate over that time
//                 (tessera_svids_signed_total{kind="x509"} delta on the server's /metrics).
//   fan-out       F FetchX509SVID streams (default 1000) held open across the W client processes; the entry's hint is
//                 changed through the admin API (UpdateEntry): server -> Sync push -> agent re-signs each instance's
//                 SVID -> every stream gets the new message. Wall time from just before UpdateEntry until the last
//                 stream has it (receipt times from the workers; one machine, one clock).
// Usage: npm run bench -- workload-api [--workers W=4] [--concurrency C=25] [--seconds S=5] [--new N=100]
//                                      [--wave K=25] [--burst B=200] [--streams F=1000] [--profile]
// --profile runs the agent under `node --cpu-prof` and prints its hottest functions per phase, mapped to src/.
import { fork, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { CLI, cli, startDaemon as startClusterDaemon, stopDaemon } from './_cluster.mjs';
import { analyseProfile } from './_profile.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const WORKER = join(here, '_workload-worker.mjs');
const INSTANCE = join(here, '_workload-instance.mjs');
const ECHO = join(here, '_workload-echo.mjs');
const TD = 'example.org';
const BENCH = 'workload-api';
const WARMUP_MS = 1000;
const SINGLE_MS = 1000;
const SINGLE_MAX_CALLS = 900;
const SOLO_NEW = 5;
const OVERALL_LIMIT_MS = 170_000;

function fail(message) {
  console.error(`${BENCH}: FAILED: ${message}`);
  return cleanup().finally(() => process.exit(1));
}

let args;
try {
  ({ values: args } = parseArgs({
    options: {
      workers: { type: 'string', default: '4' },
      concurrency: { type: 'string', default: '25' },
      seconds: { type: 'string', default: '5' },
      new: { type: 'string', default: '100' },
      wave: { type: 'string', default: '25' },
      burst: { type: 'string', default: '200' },
      streams: { type: 'string', default: '1000' },
      profile: { type: 'boolean', default: false },
    },
  }));
} catch (err) {
  console.error(`${BENCH}: ${err.message}`);
  process.exit(2);
}
const int = (name, min, max) => {
  const v = Number(args[name]);
  if (!Number.isInteger(v) || v < min || v > max) {
    console.error(`${BENCH}: --${name} must be an integer in [${min}, ${max}]`);
    process.exit(2);
  }
  return v;
};
const WORKERS = int('workers', 1, 32);
const CONCURRENCY = int('concurrency', 1, 500);
const NEW = int('new', 1, 1000);
const WAVE = int('wave', 1, 500);
const BURST = int('burst', 1, 1000);
const STREAMS = int('streams', WORKERS, 20_000);
const SECONDS = Number(args.seconds);
if (!(SECONDS > 0 && SECONDS <= 60)) {
  console.error(`${BENCH}: --seconds must be in (0, 60]`);
  process.exit(2);
}

// ---------------------------------------------------------------------------------------------------------------
// Resources to clean up.
let dir;
let profileDir;
const daemons = []; // { name, proc, exited } in start order: server, agent, echo
const workers = [];
const instances = new Set();
let cleaning;

function cleanup() {
  return (cleaning ??= (async () => {
    for (const p of instances) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    for (const w of workers) if (w.exitCode === null && w.signalCode === null) w.kill('SIGKILL');
    // Agent before server (reverse start order).
    for (const d of [...daemons].reverse()) await stopDaemon(d);
    if (dir) rmSync(dir, { recursive: true, force: true });
  })());
}

const overall = setTimeout(() => void fail(`did not finish within ${OVERALL_LIMIT_MS / 1000} s`), OVERALL_LIMIT_MS);
overall.unref();
process.on('SIGINT', () => void fail('interrupted'));
process.on('SIGTERM', () => void fail('terminated'));

// ---------------------------------------------------------------------------------------------------------------

/** Starts `tessera <noun> run`; resolves with the fields of its `readyMsg` log line and the daemon. */
async function startDaemon(noun, config, readyMsg, nodeArgs = []) {
  const { line } = await startClusterDaemon({ dir, noun, config, readyMsg, nodeArgs, track: (d) => daemons.push(d) });
  return { ...line, daemon: daemons[daemons.length - 1] };
}

/** GET http://<addr><path> as text. */
async function httpGet(addr, path) {
  const res = await fetch(`http://${addr}${path}`, { signal: AbortSignal.timeout(10_000) });
  if (!res.ok) throw new Error(`GET ${path} on ${addr}: HTTP ${res.status}`);
  return res.text();
}

/** The value of one Prometheus sample line (`name{labels} value`), or 0 when absent. */
function metricValue(text, sample) {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${sample} `)) return Number(line.slice(sample.length + 1));
  }
  return 0;
}

const CLK_TCK = (() => {
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const v = Number(r.stdout?.trim());
  return Number.isInteger(v) && v > 0 ? v : 100;
})();

/** utime+stime in seconds of a process (all threads), or undefined where /proc is missing. */
function cpuSeconds(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return undefined;
  }
}

/** The CPU pressure (PSI) `some avg10` in percent: the share of time runnable tasks waited for a CPU; or undefined. */
function cpuPressure() {
  try {
    const m = /some avg10=([\d.]+)/.exec(readFileSync('/proc/pressure/cpu', 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Waits for one message of `type` from each of `ws` (an 'error' message or an exit fails). */
function fromAll(ws, type, timeoutMs) {
  return Promise.all(
    ws.map(
      (w) =>
        new Promise((resolve, reject) => {
          const i = workers.indexOf(w);
          const t = setTimeout(() => done(new Error(`worker ${i}: no '${type}' within ${timeoutMs / 1000} s`)), timeoutMs);
          const onMessage = (msg) => {
            if (msg.type === type) done(undefined, msg);
            else if (msg.type === 'error') done(new Error(`worker ${i}: ${msg.message}`));
          };
          const onExit = (code) => done(new Error(`worker ${i} exited (${code}) while waiting for '${type}'`));
          function done(err, msg) {
            clearTimeout(t);
            w.off('message', onMessage);
            w.off('exit', onExit);
            if (err) reject(err);
            else resolve(msg);
          }
          w.on('message', onMessage);
          w.once('exit', onExit);
        }),
    ),
  );
}

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
const wallMs = () => performance.timeOrigin + performance.now();
const monoUs = () => Number(process.hrtime.bigint() / 1000n);

/**
 * Spawns `n` new workload processes, waits until each is loaded and blocked on stdin, releases them together and
 * collects what each measured. Resolves with {releaseWall, results}.
 */
async function runInstances(socketPath, n, phase) {
  const procs = [];
  const readyAll = [];
  const resultAll = [];
  for (let i = 0; i < n; i++) {
    const p = spawn(process.execPath, [INSTANCE, socketPath], { stdio: ['pipe', 'pipe', 'inherit'] });
    instances.add(p);
    p.once('exit', () => instances.delete(p));
    procs.push(p);
    const lines = createInterface({ input: p.stdout });
    let resolveReady, rejectReady, resolveResult, rejectResult;
    readyAll.push(new Promise((a, b) => ((resolveReady = a), (rejectReady = b))));
    resultAll.push(new Promise((a, b) => ((resolveResult = a), (rejectResult = b))));
    lines.on('line', (l) => {
      let m;
      try {
        m = JSON.parse(l);
      } catch {
        return;
      }
      if (m.ready) resolveReady();
      else if (m.error) rejectResult(new Error(`instance ${m.pid}: ${m.error}`));
      else resolveResult(m);
    });
    // 'close', not 'exit': 'exit' can come before the last stdout line has been read.
    p.once('close', (code) => {
      rejectReady(new Error(`instance exited (${code}) before it was ready`));
      rejectResult(new Error(`instance ${p.pid} exited (${code}) without a result`));
    });
    p.stdin.on('error', () => {});
  }
  await withTimeout(Promise.all(readyAll), 90_000, `${n} workload processes not loaded within 90 s`);
  const stop = phase();
  const releaseWall = wallMs();
  for (const p of procs) p.stdin.write('go\n');
  const results = await withTimeout(Promise.all(resultAll), 60_000, `${n} workload processes not served within 60 s`);
  const lastServedWall = wallMs();
  stop();
  for (const p of procs) p.stdin.end();
  return { releaseWall, lastServedWall, results };
}

function withTimeout(promise, ms, message) {
  let t;
  return Promise.race([promise, new Promise((_, reject) => (t = setTimeout(() => reject(new Error(message)), ms)))]).finally(() =>
    clearTimeout(t),
  );
}

/** All workers run `concurrency` loops against `target` for `ms`; merged latencies (sorted), calls/s, CPU. */
async function load(target, ms, { concurrency = CONCURRENCY, ws = workers, baselineSocket, slotBase, maxCalls } = {}) {
  const done = fromAll(ws, 'done', ms + 30_000);
  const t0 = performance.now();
  for (const w of ws) w.send({ type: 'load', target, concurrency, ms, baselineSocket, slotBase, maxCalls });
  const results = await done;
  const elapsed = (performance.now() - t0) / 1000;
  const errors = results.reduce((a, r) => a + r.errors, 0);
  if (errors > 0) throw new Error(`${errors} ${target} calls failed, e.g. ${results.find((r) => r.firstError).firstError}`);
  const calls = results.reduce((a, r) => a + r.calls, 0);
  return {
    lat: results.flatMap((r) => r.latencies),
    calls,
    elapsed,
    clientCpu: results.reduce((a, r) => a + r.cpuMicros, 0) / 1e6,
  };
}

function merge(...runs) {
  const lat = runs.flatMap((r) => r.lat).sort((a, b) => a - b);
  const calls = runs.reduce((a, r) => a + r.calls, 0);
  const elapsed = runs.reduce((a, r) => a + r.elapsed, 0);
  return { lat, calls, elapsed, perS: calls / elapsed, clientCores: runs.reduce((a, r) => a + r.clientCpu, 0) / elapsed };
}

// ---------------------------------------------------------------------------------------------------------------

async function main() {
  if (!existsSync(CLI)) throw new Error(`${relative(process.cwd(), CLI)} is missing: run npm run build`);
  const uid = process.getuid();
  const load0 = loadavg();
  const psi0 = cpuPressure();
  dir = mkdtempSync(join(tmpdir(), 'tessera-bench-wl-'));
  if (args.profile) profileDir = mkdtempSync(join(tmpdir(), 'tessera-bench-profile-'));

  // Server, token, bundle, agent, entry.
  const server = await startDaemon(
    'server',
    {
      trustDomain: TD,
      dataDir: './server',
      agentApi: { listen: '127.0.0.1:0' },
      http: { listen: '127.0.0.1:0' },
      nodeAttestors: { joinToken: { enabled: true } },
    },
    'Server ready',
    args.profile ? ['--cpu-prof', '--cpu-prof-dir', join(profileDir, 'server')] : [],
  );
  const admin = String(server.adminSocket);
  const serverHttp = String(server.http);
  const token = await cli(admin, ['token', 'generate', '--ttl', '300']);
  const bundle = await cli(admin, ['bundle', 'show']);
  writeFileSync(join(dir, 'bundle.pem'), bundle.x509Pem);
  const agent = await startDaemon(
    'agent',
    {
      trustDomain: TD,
      serverAddress: String(server.agentApi),
      trustBundlePath: './bundle.pem',
      nodeAttestor: { joinToken: { token: token.token } },
      dataDir: './agent',
      http: { listen: '127.0.0.1:0' },
    },
    'Agent ready',
    args.profile ? ['--cpu-prof', '--cpu-prof-dir', join(profileDir, 'agent')] : [],
  );
  const socketPath = String(agent.socketPath);
  const agentHttp = String(agent.http);
  const agentPid = agent.daemon.proc.pid;
  const spiffeId = `spiffe://${TD}/bench/workload`;
  const created = await cli(admin, ['entry', 'create', '--data', '-'], JSON.stringify({
    entries: [{ spiffeId, parentId: token.agentSpiffeId, selectors: [`unix:uid:${uid}`] }],
  }));
  const entryId = created.results?.[0]?.entry?.id;
  if (!entryId) throw new Error(`entry not created: ${JSON.stringify(created).slice(0, 200)}`);

  // Client processes: each attests (first fetch, retried until the entry has synced).
  for (let i = 0; i < WORKERS; i++) workers.push(fork(WORKER, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  const ready = fromAll(workers, 'ready', 30_000);
  for (const w of workers) w.send({ type: 'init', agentSocket: socketPath });
  await ready;

  // Baseline server (one more instance: it fetches the real answer bytes it will serve).
  const echoSocket = join(dir, 'echo.sock');
  const echoProc = spawn(process.execPath, [ECHO, socketPath, echoSocket], { stdio: ['pipe', 'pipe', 'inherit'] });
  const echo = { name: 'echo', proc: echoProc, exited: new Promise((r) => echoProc.once('exit', (c, s) => r(c ?? s))) };
  daemons.push(echo);
  const echoReady = await withTimeout(
    new Promise((resolve, reject) => {
      createInterface({ input: echoProc.stdout }).once('line', (l) => {
        try {
          const m = JSON.parse(l);
          if (m.ready) resolve(m);
          else reject(new Error(`baseline server: ${m.error}`));
        } catch {
          reject(new Error(`baseline server printed ${l.slice(0, 100)}`));
        }
      });
      void echo.exited.then((c) => reject(new Error(`baseline server exited (${c})`)));
    }),
    30_000,
    'baseline server not ready within 30 s',
  );

  // Phases: their time windows (monotonic µs, for the profiles) and the agent's and server's CPU time in them.
  const phases = {};
  const serverPid = server.daemon.proc.pid;
  const phase = (name) => () => {
    const a = monoUs();
    const ca = cpuSeconds(agentPid);
    const cs = cpuSeconds(serverPid);
    return () => {
      const b = monoUs();
      const ph = (phases[name] ??= { windows: [], agentCpu: 0, serverCpu: 0, wall: 0 });
      ph.windows.push([a, b]);
      ph.agentCpu += (cpuSeconds(agentPid) ?? NaN) - (ca ?? NaN);
      ph.serverCpu += (cpuSeconds(serverPid) ?? NaN) - (cs ?? NaN);
      ph.wall += (b - a) / 1e6;
    };
  };

  // ---- 1. Cached FetchX509SVID, 100 concurrent callers; baseline around it. ----
  await load('agent', WARMUP_MS);
  await load('baseline', WARMUP_MS, { baselineSocket: echoSocket });
  const baseA = await load('baseline', (SECONDS * 1000) / 2, { baselineSocket: echoSocket });
  const stopCached = phase('cached')();
  const cachedRun = await load('agent', SECONDS * 1000);
  stopCached();
  const baseB = await load('baseline', (SECONDS * 1000) / 2, { baselineSocket: echoSocket });
  const cached = merge(cachedRun);
  const base = merge(baseA, baseB);
  const agentCores = phases.cached.agentCpu / phases.cached.wall;
  // One caller alone: the uncontended cost. On a connection of its own, at most SINGLE_MAX_CALLS calls: one
  // connection that resets more than 1000 streams at over 33/s is closed by the server's nghttp2 (rapid reset).
  const solo = { concurrency: 1, ws: [workers[0]], slotBase: 10_000, maxCalls: SINGLE_MAX_CALLS };
  const single = merge(await load('agent', SINGLE_MS, solo));
  const singleBase = merge(await load('baseline', SINGLE_MS, { ...solo, baselineSocket: echoSocket }));
  await stopDaemon(echo);

  // ---- 2. New instances: first SOLO_NEW alone (the uncontended path), then waves of WAVE released together. ----
  const solo1 = [];
  for (let i = 0; i < SOLO_NEW; i++) solo1.push(...(await runInstances(socketPath, 1, phase('new instance alone'))).results);
  const soloNew = solo1.map((r) => r.totalMs).sort((a, b) => a - b);
  const fresh = [];
  for (let left = NEW; left > 0; left -= WAVE) {
    const { results } = await runInstances(socketPath, Math.min(WAVE, left), phase('new instance'));
    fresh.push(...results);
  }
  const pidsNew = new Set(fresh.map((r) => r.pid));
  if (pidsNew.size !== fresh.length) throw new Error('new-instance samples repeated a pid');
  const freshTotal = fresh.map((r) => r.totalMs).sort((a, b) => a - b);
  const freshFetch = fresh.map((r) => r.fetchMs).sort((a, b) => a - b);

  // ---- 3. Burst: BURST new processes at once. ----
  const signedBefore = metricValue(await httpGet(serverHttp, '/metrics'), 'tessera_svids_signed_total{kind="x509"}');
  const burst = await runInstances(socketPath, BURST, phase('burst'));
  const signedAfter = metricValue(await httpGet(serverHttp, '/metrics'), 'tessera_svids_signed_total{kind="x509"}');
  const lastSvidWall = Math.max(...burst.results.map((r) => r.svidWall));
  const burstAllMs = lastSvidWall - burst.releaseWall;
  const burstLastStartMs = Math.max(...burst.results.map((r) => r.startWall)) - burst.releaseWall;
  const burstSigned = signedAfter - signedBefore;
  const burstSignsPerS = burstSigned / (burstAllMs / 1000);
  const burstLat = burst.results.map((r) => r.totalMs).sort((a, b) => a - b);
  const burstClientCpuS = burst.results.reduce((a, r) => a + r.cpuMs, 0) / 1000;
  const freshClientCpuMs = fresh.reduce((a, r) => a + r.cpuMs, 0) / fresh.length;
  if (burstSigned < BURST) throw new Error(`the server signed ${burstSigned} X509-SVIDs during a burst of ${BURST} new instances`);

  // The agent drops the exited instances (exit watcher): let that finish before the fan-out.
  const settleUntil = Date.now() + 15_000;
  let live = NaN;
  while (Date.now() < settleUntil) {
    live = metricValue(await httpGet(agentHttp, '/metrics'), 'tessera_agent_workload_instances');
    if (live <= WORKERS + 1) break; // + the baseline server's instance, if not yet dropped
    await new Promise((r) => setTimeout(r, 100));
  }

  // ---- 4. Fan-out: STREAMS open streams, one entry change. ----
  const per = Array.from({ length: WORKERS }, (_, i) => Math.floor(STREAMS / WORKERS) + (i < STREAMS % WORKERS ? 1 : 0));
  const opened = fromAll(workers, 'opened', 60_000);
  workers.forEach((w, i) => w.send({ type: 'streams', n: per[i] }));
  await opened;
  await new Promise((r) => setTimeout(r, 300));
  const { AdminClient } = await import('../dist/cli/admin-client.js');
  const adminClient = new AdminClient(admin);
  const { entry: current } = await adminClient.call('EntryService', 'GetEntry', { id: entryId });
  const pushed = fromAll(workers, 'pushed', 30_000);
  const stopFanout = phase('fan-out')();
  const triggerWall = wallMs();
  await adminClient.call('EntryService', 'UpdateEntry', { entry: { ...current, hint: `bench-${Date.now()}` } });
  const updatedMs = wallMs() - triggerWall;
  const times = (await pushed).flatMap((m) => m.times);
  stopFanout();
  adminClient.close();
  if (times.length !== STREAMS || times.some((t) => typeof t !== 'number')) throw new Error('a stream got no pushed message');
  const fanoutMs = Math.max(...times) - triggerWall;
  const fanoutFirstMs = Math.min(...times) - triggerWall;
  for (const w of workers) w.send({ type: 'close-streams' });

  // ---- Stop everything; the agent and server must exit cleanly on SIGTERM. ----
  for (const w of workers) w.send({ type: 'exit' });
  const agentCode = await stopDaemon(agent.daemon);
  const serverCode = await stopDaemon(server.daemon);
  if (agentCode !== 0) throw new Error(`agent exited with ${agentCode} on SIGTERM`);
  if (serverCode !== 0) throw new Error(`server exited with ${serverCode} on SIGTERM`);
  const load1 = loadavg();
  const psi1 = cpuPressure();

  // ---- Report. ----
  const f = (v, d = 1) => (v === undefined || Number.isNaN(v) ? 'n/a' : v.toFixed(d));
  const p = (s, q) => percentile(s, q);
  const callers = WORKERS * CONCURRENCY;
  console.log(
    `${BENCH}: node ${process.version}, ${cpus().length} CPUs, load average ${load0.map((x) => x.toFixed(2)).join(' ')} at start, ` +
      `${load1.map((x) => x.toFixed(2)).join(' ')} at end` +
      (psi0 === undefined ? '' : `, CPU pressure (some avg10) ${f(psi0, 0)}% / ${f(psi1, 0)}%`) +
      `; SQLite, Unix socket; response ${echoReady.bytes} bytes`,
  );
  const ms = (sorted, d = 1) => `${f(p(sorted, 50), d)} / ${f(p(sorted, 99), d)} ms`;
  const burstPh = phases.burst;
  const rows = [
    [
      `cached, ${callers} callers (${WORKERS}x${CONCURRENCY}) p50/p99`,
      ms(cached.lat, 2),
      `aim p99 <= 5 ms; ${f(cached.perS, 0)} calls/s over ${f(cached.elapsed, 1)} s, max ${f(cached.lat.at(-1))} ms`,
    ],
    ['baseline echo, same layout p50/p99', ms(base.lat, 2), `${f(base.perS, 0)} calls/s (bare grpc-js, same bytes, no attestation)`],
    [
      'cached vs baseline p50/p99',
      `${f(p(cached.lat, 50) / p(base.lat, 50), 2)}x / ${f(p(cached.lat, 99) / p(base.lat, 99), 2)}x`,
      `calls/s ${f(cached.perS / base.perS, 2)}x`,
    ],
    ['cached, 1 caller p50/p99', ms(single.lat, 2), `baseline ${ms(singleBase.lat, 2)}`],
    [
      'agent / client CPU during cached',
      `${f(agentCores, 2)} / ${f(cached.clientCores, 2)} cores`,
      `${f((agentCores * 1e6) / cached.perS, 0)} us agent CPU per call`,
    ],
    [
      `new instance (${NEW}, waves of ${WAVE}) p50/p99`,
      ms(freshTotal),
      `aim p99 <= 25 ms; connect + first message, timed in each process; fetch only ${ms(freshFetch)}; ` +
        `client CPU ${f(freshClientCpuMs, 1)} ms each`,
    ],
    [`new instance alone (${SOLO_NEW}) p50/max`, `${f(p(soloNew, 50))} / ${f(soloNew.at(-1))} ms`, 'one new process at a time: the uncontended path'],
    [
      `burst ${BURST} new instances, all served`,
      `${f(burstAllMs, 0)} ms`,
      `aim <= 1000 ms; per process p50/p99 ${ms(burstLat, 0)}; last process started ${f(burstLastStartMs, 0)} ms after release`,
    ],
    [
      'server X509 signing during burst',
      `${f(burstSignsPerS, 0)} /s`,
      `${burstSigned} signed in ${f(burstAllMs, 0)} ms; the ${BURST} clients used ${f(burstClientCpuS, 2)} CPU s ` +
        `(${f((burstClientCpuS * 1000) / BURST, 1)} ms each, from the signal)`,
    ],
    [
      'agent / server CPU per new instance',
      `${f((burstPh.agentCpu * 1000) / BURST, 2)} / ${f((burstPh.serverCpu * 1000) / BURST, 2)} ms`,
      'during the burst (attestation, key, signing round trip / signing and audit)',
    ],
    [
      `fan-out to ${STREAMS} streams`,
      `${f(fanoutMs, 0)} ms`,
      `aim <= 1000 ms; first stream ${f(fanoutFirstMs, 0)} ms, UpdateEntry returned in ${f(updatedMs, 0)} ms`,
    ],
    [
      'agent / server CPU cores by phase',
      Object.values(phases)
        .map((ph) => `${f(ph.agentCpu / ph.wall, 2)}/${f(ph.serverCpu / ph.wall, 2)}`)
        .join(' '),
      `${Object.keys(phases).join(', ')} (timed windows only)`,
    ],
  ];
  for (const [a, b, c] of rows) console.log(`${a.padEnd(40)} ${b.padStart(20)}   ${c}`);

  if (args.profile) {
    for (const who of ['agent', 'server']) {
      const pdir = join(profileDir, who);
      const files = existsSync(pdir) ? readdirSync(pdir).filter((n) => n.endsWith('.cpuprofile')) : [];
      if (files.length === 0) console.log(`(no ${who} CPU profile written in ${pdir})`);
      for (const file of files) {
        const path = join(pdir, file);
        const prof = JSON.parse(readFileSync(path, 'utf8'));
        for (const [name, ph] of Object.entries(phases)) {
          const { total, selfTop, inclusiveTop, windowed } = analyseProfile(prof, ph.windows, 15);
          const span = windowed ? `${ph.windows.length} window(s), ${ph.wall.toFixed(2)} s` : 'whole run';
          console.log(`\n${who} CPU profile ${path}: ${name} (${span}, ${(total / 1000).toFixed(0)} ms sampled)`);
          console.log('self time:');
          for (const [l, us] of selfTop) console.log(`  ${((100 * us) / total).toFixed(1).padStart(5)}%  ${l}`);
          console.log('inclusive time (src/):');
          for (const [l, us] of inclusiveTop) console.log(`  ${((100 * us) / total).toFixed(1).padStart(5)}%  ${l}`);
        }
      }
    }
  }

  const emit = (metric, value) => console.log(JSON.stringify({ bench: BENCH, metric, value }));
  const r2 = (v) => Number(v.toFixed(2));
  emit('cached_p50_ms', r2(p(cached.lat, 50)));
  emit('cached_p99_ms', r2(p(cached.lat, 99)));
  emit('cached_calls_per_s', Math.round(cached.perS));
  emit('baseline_p50_ms', r2(p(base.lat, 50)));
  emit('baseline_p99_ms', r2(p(base.lat, 99)));
  emit('baseline_calls_per_s', Math.round(base.perS));
  emit('vs_baseline_p50', r2(p(cached.lat, 50) / p(base.lat, 50)));
  emit('vs_baseline_p99', r2(p(cached.lat, 99) / p(base.lat, 99)));
  emit('single_caller_p50_ms', r2(p(single.lat, 50)));
  emit('single_caller_baseline_p50_ms', r2(p(singleBase.lat, 50)));
  if (!Number.isNaN(agentCores)) emit('agent_cpu_cores_cached', r2(agentCores));
  emit('new_instance_p50_ms', r2(p(freshTotal, 50)));
  emit('new_instance_p99_ms', r2(p(freshTotal, 99)));
  emit('new_instance_alone_p50_ms', r2(p(soloNew, 50)));
  emit(`burst_${BURST}_all_served_ms`, Math.round(burstAllMs));
  emit('burst_server_signs_per_s', Math.round(burstSignsPerS));
  emit('burst_agent_cpu_ms_per_instance', r2((phases.burst.agentCpu * 1000) / BURST));
  emit('burst_client_cpu_ms_per_instance', r2((burstClientCpuS * 1000) / BURST));
  emit(`fanout_${STREAMS}_ms`, Math.round(fanoutMs));
  emit('load_average_1m', r2((load0[0] + load1[0]) / 2));
}

main().then(
  async () => {
    await cleanup();
    clearTimeout(overall);
    process.exit(0);
  },
  (err) => fail(err instanceof Error ? err.message.split('\n')[0] : String(err)),
);
