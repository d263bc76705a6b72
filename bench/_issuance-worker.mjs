// One agent of bench/server-issuance.mjs, in its own process (the grpc-js client costs 2-3x the server per call,
// architecture §8). Driven over the fork IPC channel:
//   parent -> {type:'init', address, bundlePem, serverId, token, entryId, batch, concurrency, pool}
//   worker -> {type:'ready', agentId}             key pool generated, attested, mTLS client connected, one probe call
//   parent -> {type:'load', ms, measure}          keep `concurrency` BatchSignX509Svid calls in flight for `ms`
//   worker -> {type:'done', svids, calls, itemErrors, latencies, cpuMicros}   after draining the calls in flight
// Any failure: {type:'error', message} and exit 1. The worker exits when the parent goes away.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { attestJoinToken, callUnary, chainPem, createAgentClient, newAgentKey } from './_agent-client.mjs';

let client;
let requests = [];
let concurrency = 1;

function fail(err) {
  const message = err instanceof Error ? err.message : String(err);
  process.send?.({ type: 'error', message: message.split('\n')[0] });
  process.exitCode = 1;
  setTimeout(() => process.exit(1), 50);
}

process.on('disconnect', () => process.exit(0));
process.on('unhandledRejection', fail);

async function init(msg) {
  concurrency = msg.concurrency;
  // Workload keys: distinct P-256 keys made before timing, sent as SPKI DER; each with its own instance ID.
  const pool = Array.from({ length: msg.pool }, () => ({
    spki: generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'der' }),
    instanceId: randomBytes(16).toString('hex'),
  }));
  // A handful of distinct request messages, each a window of `batch` keys over the pool, used round-robin.
  const nReq = Math.max(1, Math.min(16, Math.floor(msg.pool / msg.batch)));
  for (let r = 0; r < Math.max(nReq, concurrency); r++) {
    const params = [];
    for (let i = 0; i < msg.batch; i++) {
      const k = pool[(r * msg.batch + i) % pool.length];
      params.push({ entry_id: msg.entryId, public_key: k.spki, instance_id: k.instanceId });
    }
    requests.push({ params });
  }

  const anonymous = createAgentClient({ address: msg.address, bundlePem: msg.bundlePem, serverId: msg.serverId });
  const key = newAgentKey();
  const result = await attestJoinToken(anonymous, msg.token, key.spki);
  anonymous.close();
  client = createAgentClient({
    address: msg.address,
    bundlePem: msg.bundlePem,
    serverId: msg.serverId,
    svid: { keyPem: key.pem, chainPem: chainPem(result.svid_chain) },
  });
  const probe = await callUnary(client, 'BatchSignX509Svid', { params: requests[0].params.slice(0, 1) });
  const r0 = probe.results[0];
  if (!r0 || r0.error_code !== 0) {
    throw new Error(`probe BatchSignX509Svid failed: code ${r0?.error_code} ${r0?.error_message ?? ''}`);
  }
  process.send({ type: 'ready', agentId: result.spiffe_id });
}

async function load(ms) {
  const cpu0 = process.cpuUsage();
  const end = performance.now() + ms;
  const latencies = [];
  let svids = 0;
  let calls = 0;
  let itemErrors = 0;
  let firstError = '';
  let next = 0;
  async function slot() {
    while (performance.now() < end) {
      const req = requests[next++ % requests.length];
      const t = performance.now();
      const res = await callUnary(client, 'BatchSignX509Svid', req);
      latencies.push(performance.now() - t);
      calls++;
      for (const r of res.results) {
        if (r.error_code === 0 && r.svid) svids++;
        else {
          itemErrors++;
          firstError ||= `code ${r.error_code}: ${r.error_message}`;
        }
      }
      if (res.results.length !== req.params.length) {
        itemErrors += req.params.length - res.results.length;
        firstError ||= `${res.results.length} results for ${req.params.length} items`;
      }
    }
  }
  await Promise.all(Array.from({ length: concurrency }, slot));
  const cpu = process.cpuUsage(cpu0);
  process.send({ type: 'done', svids, calls, itemErrors, firstError, latencies, cpuMicros: cpu.user + cpu.system });
}

process.on('message', (msg) => {
  if (msg.type === 'init') init(msg).catch(fail);
  else if (msg.type === 'load') load(msg.ms).catch(fail);
  else if (msg.type === 'exit') {
    client?.close();
    process.exit(0);
  }
});
