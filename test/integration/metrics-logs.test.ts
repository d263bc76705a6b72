/**
 * What an operator scrapes and reads: the built server and agent as child processes (loopback TCP, Unix sockets, a
 * temp dir), driven by the built CLI and by this process as a workload; a federated peer's bundle endpoint served
 * from this process (https_web, a test web CA trusted through NODE_EXTRA_CA_CERTS). /metrics of both daemons must
 * move after real calls, and every log line of both must be JSON with unique keys and string levels.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as https from 'node:https';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadService } from '../../src/common/grpc/protos.js';
import { SpiffeBundle } from '../../src/spiffe/bundle/index.js';
import { parseJsonLines } from '../helpers/json-lines.js';
import {
  CLI,
  cliJson,
  runCli,
  startJoinedAgent,
  startServerProcess,
  until,
  type CliResult,
  type ServerProcess,
  type TesseraProcess,
} from '../helpers/server-process.js';
import { newRootCa, webCertificates } from '../helpers/test-ca.js';

const TD = 'example.org';
const PEER = 'peer.test';
const LEVELS = new Set(['trace', 'debug', 'info', 'warn', 'error', 'fatal']);

let dir: string;
let server: ServerProcess;
let agent: TesseraProcess;
let agentId: string;
let socket: string;
let agentAdminSocket: string;
let peer: https.Server;
let peerUp = true;
let peerBody = '';

/** One sample: `name{labels}` → value, labels in the order the exporter writes them. */
async function scrape(address: string): Promise<Map<string, number>> {
  const text = await (await fetch(`http://${address}/metrics`)).text();
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    samples.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return samples;
}

const serverMetrics = () => scrape(server.http);
const agentMetrics = () => scrape(String(agent.ready['http']));

/** The CLI without blocking this process (the server fetches from the peer served here). */
function cliAsync(args: readonly string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args, '--socket', server.adminSocket], { timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

function expectCleanLines(lines: readonly string[], who: string): Record<string, unknown>[] {
  const parsed = parseJsonLines(lines.join('\n'));
  expect(parsed.length, who).toBeGreaterThan(0);
  for (const line of parsed) expect(LEVELS.has(String(line['level'])), `${who}: ${JSON.stringify(line)}`).toBe(true);
  return parsed;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tessera-metrics-it-'));
  const { ca: webCa, chainPem, keyPem } = await webCertificates();
  writeFileSync(join(dir, 'web-ca.pem'), webCa.pem);
  peerBody = SpiffeBundle.fromParts({
    trustDomain: PEER,
    x509Authorities: [(await newRootCa(PEER)).der],
    sequenceNumber: 1n,
    refreshHintSeconds: 3600,
  }).marshal();
  peer = https.createServer({ cert: chainPem, key: keyPem }, (_req, res) => {
    if (!peerUp) {
      res.statusCode = 503;
      res.end();
      return;
    }
    res.setHeader('Content-Type', 'application/json');
    res.end(peerBody);
  });
  await new Promise<void>((resolve) => peer.listen(0, '127.0.0.1', resolve));

  server = await startServerProcess(
    dir,
    { trustDomain: TD, dataDir: './server', agentApi: { listen: '127.0.0.1:0' }, http: { listen: '127.0.0.1:0' } },
    { env: { NODE_EXTRA_CA_CERTS: join(dir, 'web-ca.pem') } },
  );
  const home = join(dir, 'agent-home');
  mkdirSync(home);
  ({ agent, agentId, socket } = await startJoinedAgent(home, server, TD));
  agentAdminSocket = join(home, 'agent', 'admin.sock');
}, 120_000);

afterAll(async () => {
  await agent?.stop();
  await server?.stop();
  await new Promise<void>((resolve) => (peer ? peer.close(() => resolve()) : resolve()));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('metrics and logs of real server and agent processes', () => {
  it('a workload with no entry is refused, and the refusal is logged at info without a stack trace', async () => {
    const r = runCli(['api', 'fetch', 'jwt', '--audience', 'spiffe://example.org/db', '--socket', socket]);
    expect(r.code).not.toBe(0);
    const refusal = await until('the refusal log line', () =>
      agent.logs.find((l) => l['msg'] === 'Request refused' && l['code'] === 'PERMISSION_DENIED'),
    );
    expect(refusal).toMatchObject({ level: 'info', reason: 'no registration entry matches the caller', component: 'workload-api' });
    expect(JSON.stringify(refusal)).not.toContain('stack');
    expect((await agentMetrics()).get('tessera_agent_workload_api_requests_total{method="FetchJWTSVID",code="PERMISSION_DENIED"}')).toBe(1);
  });

  it('counts successful Workload API calls and open streams on the agent', async () => {
    cliJson(server.adminSocket, ['entry', 'create', '--spiffe-id', `spiffe://${TD}/it/metrics`, '--parent-id', agentId, '--selector', `unix:uid:${userInfo().uid}`]);
    await until('an X509-SVID', () => (runCli(['api', 'fetch', 'x509', '--socket', socket]).code === 0 ? true : undefined));
    const jwt = runCli(['api', 'fetch', 'jwt', '--audience', 'spiffe://example.org/db', '--socket', socket]);
    expect(jwt.code, jwt.stderr).toBe(0);

    let m = await agentMetrics();
    expect(m.get('tessera_agent_workload_api_requests_total{method="FetchJWTSVID",code="OK"}')).toBe(1);
    expect(m.get('tessera_agent_workload_api_duration_seconds_count{method="FetchJWTSVID"}')).toBeGreaterThanOrEqual(2);
    // The CLI closes its FetchX509SVID stream after the first message: counted as CANCELLED, not lost.
    expect(m.get('tessera_agent_workload_api_requests_total{method="FetchX509SVID",code="CANCELLED"}')).toBeGreaterThanOrEqual(1);

    // This process as a workload: one stream held open.
    const { Client } = loadService('spiffe/workload/workload.proto', 'SpiffeWorkloadAPI');
    const client = new Client(`unix://${socket}`, grpc.credentials.createInsecure()) as unknown as grpc.Client & {
      FetchX509SVID(req: object, md: grpc.Metadata): grpc.ClientReadableStream<unknown>;
    };
    const md = new grpc.Metadata();
    md.set('workload.spiffe.io', 'true');
    const stream = client.FetchX509SVID({}, md);
    stream.on('error', () => undefined);
    await new Promise((resolve) => stream.once('data', resolve));
    m = await agentMetrics();
    expect(m.get('tessera_agent_workload_api_streams{method="FetchX509SVID"}')).toBe(1);
    const cancelledBefore = m.get('tessera_agent_workload_api_requests_total{method="FetchX509SVID",code="CANCELLED"}')!;
    stream.cancel();
    await until('the stream to close', async () => {
      const after = await agentMetrics();
      return after.get('tessera_agent_workload_api_streams{method="FetchX509SVID"}') === 0 &&
        after.get('tessera_agent_workload_api_requests_total{method="FetchX509SVID",code="CANCELLED"}') === cancelledBefore + 1
        ? true
        : undefined;
    });
    client.close();
  });

  it('serves process and Node metrics, agent admin API counters and the agent SVID expiry on the agent', async () => {
    const r = runCli(['instance', 'list', '--socket', agentAdminSocket, '--output', 'json']);
    expect(r.code, r.stderr).toBe(0);
    const m = await agentMetrics();
    expect(m.get('process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(m.get('process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(m.get('nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
    expect(m.get('tessera_agent_admin_api_requests_total{service="tessera.agentadmin.v1.InstanceService",method="ListInstances",code="OK"}')).toBe(1);
    expect(m.get('tessera_agent_admin_api_duration_seconds_count{service="tessera.agentadmin.v1.InstanceService",method="ListInstances"}')).toBe(1);
    expect(m.get('tessera_agent_svid_expiry_timestamp_seconds')).toBeGreaterThan(Date.now() / 1000);
  });

  it('serves process and Node metrics, RPC counters of both APIs and key expiry on the server', async () => {
    const m = await serverMetrics();
    expect(m.get('process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(m.get('process_open_fds')).toBeGreaterThan(0);
    expect(m.get('nodejs_eventloop_lag_seconds')).toBeGreaterThanOrEqual(0);
    expect(m.get('tessera_rpc_requests_total{service="tessera.agent.v1.AgentService",method="Attest",code="OK"}')).toBe(1);
    expect(m.get('tessera_rpc_requests_total{service="tessera.agent.v1.AgentService",method="BatchSignX509Svid",code="OK"}')).toBeGreaterThanOrEqual(1);
    expect(m.get('tessera_rpc_requests_total{service="tessera.admin.v1.EntryService",method="BatchCreateEntry",code="OK"}')).toBe(1);
    expect(m.get('tessera_rpc_duration_seconds_count{service="tessera.admin.v1.EntryService",method="BatchCreateEntry"}')).toBe(1);
    const now = Date.now() / 1000;
    expect(m.get('tessera_ca_expiry_timestamp_seconds')).toBeGreaterThan(now);
    expect(m.get('tessera_jwt_key_expiry_timestamp_seconds')).toBeGreaterThan(now);
  });

  it('counts federation refreshes by result and reports the bundle age', async () => {
    const url = `https://127.0.0.1:${(peer.address() as { port: number }).port}/`;
    const created = await cliAsync(['federation', 'create', '--trust-domain', PEER, '--bundle-endpoint-url', url, '--profile', 'https_web']);
    expect(created.code, created.stderr).toBe(0);
    const ok = await cliAsync(['federation', 'refresh', '--trust-domain', PEER]);
    expect(ok.code, ok.stderr).toBe(0);
    let m = await serverMetrics();
    const successes = m.get(`tessera_federation_refreshes_total{trust_domain="${PEER}",result="success"}`)!;
    expect(successes).toBeGreaterThanOrEqual(1);
    expect(m.get(`tessera_federation_bundle_age_seconds{trust_domain="${PEER}"}`)).toBeGreaterThanOrEqual(0);
    expect(m.has(`tessera_federation_refreshes_total{trust_domain="${PEER}",result="failure"}`)).toBe(false);

    peerUp = false;
    const failed = await cliAsync(['federation', 'refresh', '--trust-domain', PEER]);
    expect(failed.code).not.toBe(0);
    m = await serverMetrics();
    expect(m.get(`tessera_federation_refreshes_total{trust_domain="${PEER}",result="failure"}`)).toBe(1);
    expect(m.get(`tessera_federation_refreshes_total{trust_domain="${PEER}",result="success"}`)).toBe(successes);
  });

  it('logs a banned agent\'s refusal at info without a stack trace', async () => {
    cliJson(server.adminSocket, ['agent', 'ban', '--spiffe-id', agentId]);
    const refusal = await until('the server to refuse the banned agent', () =>
      server.logs.find((l) => String(l['msg']).includes('refused') && JSON.stringify(l).includes('banned')),
    );
    expect(refusal['level']).toBe('info');
    expect(JSON.stringify(refusal)).not.toContain('stack');
  });

  it('writes only JSON lines with unique keys and string levels, from both daemons', () => {
    const serverLines = expectCleanLines(server.lines, 'server');
    const agentLines = expectCleanLines(agent.lines, 'agent');
    // The lines that used to repeat keys: a workload's pid beside pino's, a component bound twice.
    expect(agentLines.some((l) => l['component'] === 'workload-api')).toBe(true);
    expect(agentLines.some((l) => String(l['msg']).startsWith('Workload refused') && typeof l['pid'] === 'number')).toBe(true);
    expect(serverLines.some((l) => l['component'] === 'federation')).toBe(true);
    for (const line of [...serverLines, ...agentLines]) expect(typeof line['level']).toBe('string');
  });
});
