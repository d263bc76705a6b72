// One short-lived workload process of bench/workload-api.mjs: a NEW process instance (own pid and start time) for the
// agent. Usage: node _workload-instance.mjs <socketPath>
// Loads everything, prints {"ready":true,"pid":…}, blocks until a line (the start signal) arrives on stdin, then
// connects to the Workload API, fetches its X509-SVID once and prints one JSON line and exits:
//   {pid, startWall, connectedWall, svidWall, connectMs, fetchMs, totalMs, cpuMs, spiffeId} or {pid, error}
// (cpuMs: this process's CPU time from the signal to the SVID)
// Times are measured by the process itself (performance.now(); *Wall = timeOrigin-based wall clock in ms), so Node
// start-up is excluded. The stdin read and the output do not count either.
import { connect, fetchFirst, firstSvid, wallMs } from './_workload-raw.mjs';

const socketPath = process.argv[2];
const out = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`);

async function run() {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const startWall = wallMs();
  const session = await connect(socketPath);
  const t1 = performance.now();
  const message = await fetchFirst(session);
  const t2 = performance.now();
  const svidWall = wallMs();
  const cpu = process.cpuUsage(cpu0);
  const { spiffeId } = firstSvid(message);
  session.destroy();
  return {
    pid: process.pid,
    startWall,
    connectedWall: startWall + (t1 - t0),
    svidWall,
    connectMs: t1 - t0,
    fetchMs: t2 - t1,
    totalMs: t2 - t0,
    cpuMs: (cpu.user + cpu.system) / 1000,
    spiffeId,
  };
}

let started = false;
process.stdin.on('data', () => {
  if (started) return;
  started = true;
  run().then(
    (r) => {
      out(r);
      process.exit(0);
    },
    (err) => {
      out({ pid: process.pid, error: err instanceof Error ? err.message : String(err) });
      process.exit(1);
    },
  );
});
process.stdin.on('end', () => {
  if (!started) process.exit(2); // parent gone before the signal
});
out({ ready: true, pid: process.pid });
