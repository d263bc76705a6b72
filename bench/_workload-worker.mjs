// One long-lived client process of bench/workload-api.mjs (a grpc-js Workload API client; the client costs 2-3x the
// agent per call, so callers are spread over several processes). The process is ONE workload instance for the agent.
// Driven over the fork IPC channel:
//   parent -> {type:'init', agentSocket}                 attest (first fetch, retried until an entry matches)
//   worker -> {type:'ready', spiffeId}
//   parent -> {type:'load', target:'agent'|'baseline', baselineSocket?, concurrency, ms, slotBase?, maxCalls?}
//             `concurrency` loops of one-shot FetchX509SVID (open the stream, first message, cancel) for `ms` (or
//             `maxCalls` calls each), loop i on connection slotBase+i
//   worker -> {type:'done', latencies (ms), calls, errors, firstError, cpuMicros}
//   parent -> {type:'streams', n}                        open n FetchX509SVID streams and keep them open
//   worker -> {type:'opened', n}                         every stream has its first message
//   worker -> {type:'pushed', times}                     every stream has a second message: wall-clock receipt times
//   parent -> {type:'close-streams'} / {type:'exit'}
// Any failure: {type:'error', message} and exit 1. The worker exits when the parent goes away.
import * as grpc from '@grpc/grpc-js';
import { loadService } from '../dist/common/grpc/protos.js';

const { Client } = loadService('spiffe/workload/workload.proto', 'SpiffeWorkloadAPI');
const wallMs = () => performance.timeOrigin + performance.now();
const clients = new Map(); // `${socket}#${slot}` -> Client
let agentSocket;
const open = []; // fan-out streams

function fail(err) {
  const message = err instanceof Error ? err.message : String(err);
  process.send?.({ type: 'error', message: message.split('\n')[0] });
  process.exitCode = 1;
  setTimeout(() => process.exit(1), 50);
}
process.on('disconnect', () => process.exit(0));
process.on('unhandledRejection', fail);
process.on('uncaughtException', fail);

/**
 * One client (one HTTP/2 connection: a local subchannel pool) per (socket, slot), i.e. per concurrent caller. Callers
 * must not share a connection: every one-shot call ends with RST_STREAM (cancel), and the server's nghttp2 closes a
 * connection with INTERNAL_ERROR once it has received more than 1000 resets at over 33/s (rapid-reset protection).
 */
function clientFor(socket, slot = 0) {
  const key = `${socket}#${slot}`;
  let c = clients.get(key);
  if (!c) {
    c = new Client(`unix://${socket}`, grpc.credentials.createInsecure(), {
      'grpc.max_receive_message_length': 16 * 1024 * 1024,
      'grpc.use_local_subchannel_pool': 1,
    });
    clients.set(key, c);
  }
  return c;
}

const md = new grpc.Metadata();
md.set('workload.spiffe.io', 'true');

/** One-shot FetchX509SVID: resolves with the first message, then cancels the stream. */
function fetchOnce(client) {
  return new Promise((resolve, reject) => {
    const call = client.FetchX509SVID({}, md);
    let got = false;
    call.on('data', (msg) => {
      if (got) return;
      got = true;
      resolve(msg);
      call.cancel();
    });
    call.on('error', (err) => {
      if (!got) reject(err);
    });
    call.on('end', () => {
      if (!got) reject(new Error('stream ended without a message'));
    });
  });
}

async function init(msg) {
  agentSocket = msg.agentSocket;
  const client = clientFor(agentSocket);
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      const res = await fetchOnce(client);
      process.send({ type: 'ready', spiffeId: res.svids[0]?.spiffe_id });
      return;
    } catch (err) {
      // The entry reaches the agent by sync: PERMISSION_DENIED until it does.
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

async function load(msg) {
  const socket = msg.target === 'agent' ? agentSocket : msg.baselineSocket;
  const cpu0 = process.cpuUsage();
  const end = performance.now() + msg.ms;
  const latencies = [];
  let calls = 0;
  let errors = 0;
  let firstError = '';
  const maxCalls = msg.maxCalls ?? Infinity;
  async function loop(_, slot) {
    const client = clientFor(socket, (msg.slotBase ?? 0) + slot);
    for (let n = 0; n < maxCalls && performance.now() < end; n++) {
      const t = performance.now();
      try {
        const res = await fetchOnce(client);
        if (!res.svids?.length) throw new Error('message without svids');
        latencies.push(Math.round((performance.now() - t) * 1000) / 1000);
        calls++;
      } catch (err) {
        errors++;
        firstError ||= `${err instanceof Error ? err.message : String(err)} (after ${calls} calls, ${(performance.now() - t).toFixed(1)} ms)`;
      }
    }
  }
  await Promise.all(Array.from({ length: msg.concurrency }, loop));
  const cpu = process.cpuUsage(cpu0);
  process.send({ type: 'done', latencies, calls, errors, firstError, cpuMicros: cpu.user + cpu.system });
}

function openStreams(n) {
  const client = clientFor(agentSocket);
  let opened = 0;
  let pushed = 0;
  const times = new Array(n);
  for (let i = 0; i < n; i++) {
    const call = client.FetchX509SVID({}, md);
    const s = { call, messages: 0, closing: false };
    open.push(s);
    call.on('data', () => {
      s.messages++;
      if (s.messages === 1) {
        if (++opened === n) process.send({ type: 'opened', n });
      } else if (s.messages === 2) {
        times[i] = wallMs();
        if (++pushed === n) process.send({ type: 'pushed', times });
      }
    });
    call.on('error', (err) => {
      if (!s.closing) fail(new Error(`stream ${i} failed: ${err.details ?? err.message}`));
    });
  }
}

process.on('message', (msg) => {
  const run = {
    init: () => init(msg),
    load: () => load(msg),
    streams: () => openStreams(msg.n),
    'close-streams': () => {
      for (const s of open.splice(0)) {
        s.closing = true;
        s.call.cancel();
      }
    },
    exit: () => {
      for (const c of clients.values()) c.close();
      process.exit(0);
    },
  }[msg.type];
  if (!run) return fail(new Error(`unknown message ${msg.type}`));
  Promise.resolve()
    .then(run)
    .catch(fail);
});
