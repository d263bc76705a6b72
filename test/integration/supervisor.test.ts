/**
 * Supervisor rules in the agent (architecture §5, issue 5) with real processes: the built server and agent as child
 * processes, workloads as real Node processes started from copies of the node binary so that `unix:path:` tells them
 * apart (supervisor-node, worker-node, both-node, orphan-node). Process lineage is the kernel's: the agent (root here)
 * follows fork/exit events from the process-events connector, so re-parenting does not hide a supervisor.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createPrivateKey } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { splitDer } from '../../src/spiffe/x509svid/der-reader.js';
import { FixtureWriter } from '../interop/fixtures.js';
import { findGo } from '../helpers/go.js';
import {
  cliJson,
  runCli,
  startServerProcess,
  startJoinedAgent,
  until,
  type ServerProcess,
  type TesseraProcess,
} from '../helpers/server-process.js';

const TD = 'example.org';
const SUPERVISOR_ID = `spiffe://${TD}/it/supervisor`;
const WORKER_ID = `spiffe://${TD}/it/worker`;
const SCRIPT = fileURLToPath(new URL('./fixtures/ctl-workload.mjs', import.meta.url));
const PERMISSION_DENIED = 7;

let dir: string;
let server: ServerProcess;
let agent: TesseraProcess;
let agentId: string;
let socket: string;
let supervisorNode: string;
let workerNode: string;
let bothNode: string;
let instanceNode: string;
let orphanNode: string;
let controls = 0;
const pids: number[] = [];
const children: ChildProcess[] = [];

interface Ctl {
  readonly pid: number;
  readonly control: string;
  send(cmd: Record<string, unknown>): Promise<Record<string, any>>;
}

function ctl(control: string, pid: number): Ctl {
  return {
    pid,
    control,
    send: (cmd) =>
      new Promise((resolve, reject) => {
        const conn = connect(control);
        conn.once('error', reject);
        createInterface({ input: conn }).once('line', (line) => {
          conn.end();
          resolve(JSON.parse(line) as Record<string, any>);
        });
        conn.write(JSON.stringify(cmd) + '\n');
      }),
  };
}

function nextControl(): string {
  return join(dir, `ctl-${++controls}.sock`);
}

/** Starts `exe` (a node copy) running the control workload, as a child of the test. */
async function start(exe: string): Promise<Ctl> {
  const control = nextControl();
  const child = spawn(exe, [SCRIPT, control], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, TESSERA_SOCKET: socket } });
  children.push(child);
  const line = await new Promise<string>((resolve) => createInterface({ input: child.stdout! }).once('line', resolve));
  const pid = Number(JSON.parse(line).pid);
  pids.push(pid);
  return ctl(control, pid);
}

/** Has `parent` spawn `exe` as its own child. */
async function spawnFrom(parent: Ctl, exe: string): Promise<Ctl> {
  const control = nextControl();
  const r = await parent.send({ op: 'spawn', exe, control });
  pids.push(Number(r['pid']));
  return ctl(control, Number(r['pid']));
}

/** The parent pid /proc shows for `pid` (field 4 of /proc/<pid>/stat). */
function ppidOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

function createEntry(args: string[]): string {
  const out = cliJson<{ results: { entry: { id: string } }[] }>(server.adminSocket, ['entry', 'create', '--parent-id', agentId, ...args]);
  return out.results[0]!.entry.id;
}

function audit(args: string[]): Record<string, any>[] {
  return cliJson<{ events: Record<string, any>[] }>(server.adminSocket, ['audit', 'list', ...args]).events;
}

let supervisorEntry: string;
let workerEntry: string;

/** SVIDs served to the test's processes (chain, key, bundle as DER files), judged by go-spiffe at the end. */
const issued: { name: string; spiffeId: string }[] = [];
const issuedDir = (name: string) => join(dir, 'issued', name);

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tessera-supervisor-it-'));
  supervisorNode = join(dir, 'supervisor-node');
  workerNode = join(dir, 'worker-node');
  bothNode = join(dir, 'both-node');
  instanceNode = join(dir, 'instance-node');
  orphanNode = join(dir, 'orphan-node');
  for (const p of [supervisorNode, workerNode, bothNode, instanceNode, orphanNode]) copyFileSync(process.execPath, p);
  server = await startServerProcess(dir, {
    trustDomain: TD,
    dataDir: './server',
    agentApi: { listen: '127.0.0.1:0' },
    http: { listen: '127.0.0.1:0' },
  });
  ({ agent, agentId, socket } = await startJoinedAgent(dir, server, TD));
  supervisorEntry = createEntry(['--spiffe-id', SUPERVISOR_ID, '--role', 'supervisor', '--selector', `unix:path:${supervisorNode}`]);
  workerEntry = createEntry([
    '--spiffe-id', WORKER_ID,
    '--selector', `tessera:supervisor:${SUPERVISOR_ID}`,
    '--selector', `unix:path:${workerNode}`,
  ]);
}, 60_000);

afterAll(async () => {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await agent?.stop();
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('supervisor rules in the agent (real processes)', () => {
  it('serves the supervisor; its child with the same binary gets nothing of it; a worker it spawns names it', async () => {
    const sup = await start(supervisorNode);
    await until('the agent to sync the entries', async () => {
      const r = await sup.send({ op: 'x509' });
      return r['spiffeId'] === SUPERVISOR_ID ? r : undefined;
    });
    const supJwt = await sup.send({ op: 'jwt', audience: 'it' });
    expect(supJwt['spiffeId']).toBe(SUPERVISOR_ID);
    const supInstance = String(supJwt['claims']['tessera_instance']);
    expect(supInstance).toMatch(/^[0-9a-f]{32}$/);

    // Rule 2: a forked/spawned child with the same binary and uid is refused.
    const clone = await spawnFrom(sup, supervisorNode);
    const cloneX509 = await clone.send({ op: 'x509' });
    expect(cloneX509['code']).toBe(PERMISSION_DENIED);
    expect((await clone.send({ op: 'jwt', audience: 'it' }))['code']).toBe(PERMISSION_DENIED);

    // Rule 3: a worker spawned by the supervisor gets the worker identity, naming the supervisor instance.
    const worker = await spawnFrom(sup, workerNode);
    expect((await worker.send({ op: 'x509', write: issuedDir('worker') }))['spiffeId']).toBe(WORKER_ID);
    issued.push({ name: 'worker', spiffeId: WORKER_ID });
    expect((await sup.send({ op: 'x509', write: issuedDir('supervisor') }))['spiffeId']).toBe(SUPERVISOR_ID);
    issued.push({ name: 'supervisor', spiffeId: SUPERVISOR_ID });
    const wJwt = await worker.send({ op: 'jwt', audience: 'it' });
    expect(wJwt['spiffeId']).toBe(WORKER_ID);
    expect(wJwt['claims']['tessera_supervisor_instance']).toBe(supInstance);
    const workerInstance = String(wJwt['claims']['tessera_instance']);
    expect(workerInstance).not.toBe(supInstance);
    // The server's audit maps the worker's X509-SVID to its instance and its supervisor instance.
    const workerEvents = audit(['--instance', workerInstance]);
    expect(workerEvents).toContainEqual(
      expect.objectContaining({ kind: 'x509_svid.issued', entryId: workerEntry, details: expect.objectContaining({ supervisorInstanceId: supInstance }) }),
    );
    expect(audit(['--instance', supInstance])).toContainEqual(expect.objectContaining({ kind: 'x509_svid.issued', entryId: supervisorEntry }));

    // A worker-node process not descended from the supervisor is refused.
    const stray = await start(workerNode);
    const strayX509 = await stray.send({ op: 'x509' });
    expect(strayX509['code']).toBe(PERMISSION_DENIED);

    // The supervisor exits: the worker loses the identity that depended on it.
    await sup.send({ op: 'exit' });
    await until('the worker to lose its identity', async () => {
      const r = await worker.send({ op: 'x509' });
      return r['code'] === PERMISSION_DENIED ? r : undefined;
    });
    expect((await worker.send({ op: 'jwt', audience: 'it' }))['code']).toBe(PERMISSION_DENIED);
  }, 60_000);

  it("keeps a worker's double-forked child from the supervisor identity after the worker exits (issue 10 item 3)", async () => {
    const sup = await start(supervisorNode);
    expect((await sup.send({ op: 'x509' }))['spiffeId']).toBe(SUPERVISOR_ID);
    const worker = await spawnFrom(sup, workerNode);
    expect((await worker.send({ op: 'x509' }))['spiffeId']).toBe(WORKER_ID);
    // The worker starts a process with the supervisor's binary and exits: /proc re-parents that process away from
    // the supervisor (to pid 1 or a subreaper), so an ancestry walk in /proc no longer finds the supervisor.
    const escapee = await spawnFrom(worker, supervisorNode);
    await worker.send({ op: 'exit' });
    await until('the worker to exit and its child to be re-parented', async () => (ppidOf(escapee.pid) !== worker.pid ? true : undefined));
    const x509 = await escapee.send({ op: 'x509' });
    expect(x509['code'], JSON.stringify(x509)).toBe(PERMISSION_DENIED);
    expect((await escapee.send({ op: 'jwt', audience: 'it' }))['code']).toBe(PERMISSION_DENIED);
    // The supervisor itself is still served.
    expect((await sup.send({ op: 'x509' }))['spiffeId']).toBe(SUPERVISOR_ID);
  }, 60_000);

  it('keeps the child of a supervisor that forked before its first call from the supervisor identity (issue 10 item 3)', async () => {
    const sup = await start(supervisorNode);
    const early = await spawnFrom(sup, supervisorNode); // before the supervisor ever called the agent
    const first = await early.send({ op: 'x509' });
    expect(first['code'], JSON.stringify(first)).toBe(PERMISSION_DENIED);
    expect((await sup.send({ op: 'x509' }))['spiffeId']).toBe(SUPERVISOR_ID);
    expect((await early.send({ op: 'x509' }))['code']).toBe(PERMISSION_DENIED);
    expect((await early.send({ op: 'jwt', audience: 'it' }))['code']).toBe(PERMISSION_DENIED);
  }, 60_000);

  it('never serves an orphaned worker the supervisor role, also after its worker SVID expired (issue 10 item 4)', async () => {
    const orphanWorkerId = `spiffe://${TD}/it/orphan-worker`;
    const orphanWorker = createEntry([
      '--spiffe-id', orphanWorkerId,
      '--selector', `tessera:supervisor:${SUPERVISOR_ID}`,
      '--selector', `unix:path:${orphanNode}`,
      '--x509-ttl', '5',
    ]);
    const sup = await start(supervisorNode);
    expect((await sup.send({ op: 'x509' }))['spiffeId']).toBe(SUPERVISOR_ID);
    const worker = await spawnFrom(sup, orphanNode);
    await until('the agent to sync the orphan worker entry', async () => {
      const r = await worker.send({ op: 'x509' });
      return r['spiffeId'] === orphanWorkerId ? r : undefined;
    });
    const workerInstance = String(audit(['--spiffe-id', orphanWorkerId]).find((e) => e['kind'] === 'x509_svid.issued')!['instanceId']);
    expect(workerInstance).toMatch(/^[0-9a-f]{32}$/);

    // The supervisor exits (the worker is orphaned and loses its worker identity), then a supervisor entry appears
    // that the orphan's selectors match and nothing above it holds.
    await sup.send({ op: 'exit' });
    await until('the orphan to lose its worker identity', async () => {
      const r = await worker.send({ op: 'x509' });
      return r['code'] === PERMISSION_DENIED ? r : undefined;
    });
    const orphanSupervisor = createEntry(['--spiffe-id', `spiffe://${TD}/it/orphan-supervisor`, '--role', 'supervisor', '--selector', `unix:path:${orphanNode}`]);
    const refused = await until('the agent to refuse the orphan the supervisor role', async () => {
      const found = audit(['--instance', workerInstance]).filter((e) => e['kind'] === 'workload.role_conflict');
      return found.length > 0 ? found : undefined;
    });
    expect(refused[0]!['details']).toMatchObject({ entryIds: [orphanSupervisor] });
    expect(refused[0]!['details']['message']).toMatch(/served worker identities and keeps that role for life/);
    // The last worker SVID the orphan was issued (it was renewed at about half its 5 s life while the supervisor lived).
    const notAfter =
      1000 * Math.max(...audit(['--instance', workerInstance]).filter((e) => e['kind'] === 'x509_svid.issued').map((e) => Number(e['expiresAt'])));
    // Past the worker SVID's expiry (the point where the server used to forget the instance's role): still refused.
    const afterExpiry = await until('the worker SVID to expire', async () => {
      const r = await worker.send({ op: 'x509' });
      return Date.now() > notAfter + 1_000 ? r : undefined;
    });
    expect(afterExpiry['code'], JSON.stringify(afterExpiry)).toBe(PERMISSION_DENIED);
    expect((await worker.send({ op: 'jwt', audience: 'it' }))['code']).toBe(PERMISSION_DENIED);
    const issuedToOrphan = audit(['--instance', workerInstance]).filter((e) => e['kind'] === 'x509_svid.issued');
    expect(issuedToOrphan.map((e) => e['entryId'])).not.toContain(orphanSupervisor);
    expect(issuedToOrphan.map((e) => e['entryId'])).toContain(orphanWorker);
  }, 90_000);

  it('refuses a process matching both a supervisor and a worker entry, naming both entries', async () => {
    const supBoth = createEntry(['--spiffe-id', `spiffe://${TD}/it/both-supervisor`, '--role', 'supervisor', '--selector', `unix:path:${bothNode}`]);
    const workBoth = createEntry(['--spiffe-id', `spiffe://${TD}/it/both-worker`, '--selector', `unix:path:${bothNode}`]);
    const p = await start(bothNode);
    const r = await until('the agent to sync the entries', async () => {
      const x = await p.send({ op: 'x509' });
      return typeof x['details'] === 'string' && x['details'].includes(workBoth) ? x : undefined;
    });
    expect(r['code']).toBe(PERMISSION_DENIED);
    expect(r['details']).toContain(supBoth);
    expect(r['details']).toContain(workBoth);
    expect(r['details']).toMatch(/supervisor .* worker/);
    // Reported by the agent to the server's audit trail (ReportWorkloadEvent), once.
    const events = await until('the role conflict audit event', async () => {
      const found = audit([]).filter((e) => e['kind'] === 'workload.role_conflict' && e['entryId'] === supBoth);
      return found.length > 0 ? found : undefined;
    });
    expect(events).toHaveLength(1);
    expect(events[0]!['agentId']).toBe(agentId);
    expect(events[0]!['instanceId']).toMatch(/^[0-9a-f]{32}$/);
    expect(events[0]!['details']).toMatchObject({ entryIds: [supBoth, workBoth], pid: p.pid });
    expect(events[0]!['details']['message']).toContain(workBoth);
    const text = runCli(['audit', 'list', '--socket', server.adminSocket]);
    expect(text.stdout).toMatch(/workload\.role_conflict/);
  }, 60_000);

  it('refuses entries breaking rules 5-6 in the CLI with one line', () => {
    const disjoint = runCli(['entry', 'create', '--parent-id', agentId, '--spiffe-id', SUPERVISOR_ID, '--selector', 'unix:uid:4242', '--socket', server.adminSocket]);
    expect(disjoint.code).toBe(1);
    expect(disjoint.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(disjoint.stderr).toMatch(/already a supervisor identity/);
    const ttl = runCli([
      'entry', 'create', '--parent-id', agentId, '--spiffe-id', `spiffe://${TD}/it/long`, '--role', 'supervisor',
      '--selector', 'unix:uid:4242', '--x509-ttl', '999999', '--socket', server.adminSocket,
    ]);
    expect(ttl.code).toBe(1);
    expect(ttl.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(ttl.stderr).toMatch(/supervisor ceiling/);
  });
});

describe('tessera instance list (agent admin socket and server audit)', () => {
  it('maps two {instance} identities back to their processes through instance list and audit list --instance', async () => {
    const entry = createEntry(['--spiffe-id', `spiffe://${TD}/it/inst/{instance}`, '--selector', `unix:path:${instanceNode}`]);
    const a = await start(instanceNode);
    const b = await start(instanceNode);
    const fetched = async (p: Ctl) =>
      until('the agent to sync the entry', async () => {
        const r = await p.send({ op: 'x509' });
        return typeof r['spiffeId'] === 'string' ? String(r['spiffeId']) : undefined;
      });
    const [idA, idB] = [await fetched(a), await fetched(b)];
    for (const [name, p, id] of [['instance-a', a, idA], ['instance-b', b, idB]] as const) {
      expect((await p.send({ op: 'x509', write: issuedDir(name) }))['spiffeId']).toBe(id);
      issued.push({ name, spiffeId: id });
    }
    const instA = idA.split('/').pop()!;
    const instB = idB.split('/').pop()!;
    expect(instA).toMatch(/^[0-9a-f]{32}$/);
    expect(instB).toMatch(/^[0-9a-f]{32}$/);
    expect(instA).not.toBe(instB);

    const adminSocket = join(dir, 'agent', 'admin.sock');
    const st = (await import('node:fs')).statSync(adminSocket);
    expect(st.mode & 0o777).toBe(0o600);
    const r = runCli(['instance', 'list', '--socket', adminSocket, '-o', 'json']);
    expect(r.code, r.stderr).toBe(0);
    const listed = (JSON.parse(r.stdout) as { instances: Record<string, any>[] }).instances;
    for (const [p, inst, id] of [[a, instA, idA], [b, instB, idB]] as const) {
      expect(listed).toContainEqual(
        expect.objectContaining({ instanceId: inst, pid: p.pid, role: 'worker', entryIds: [entry], spiffeIds: [id], supervisorInstanceId: '' }),
      );
      const row = listed.find((x) => x['instanceId'] === inst)!;
      expect(row['expiresAt']).toBeGreaterThan(Date.now() / 1000);
      // The server's audit maps the same instance to the same SPIFFE ID.
      const events = audit(['--instance', inst]);
      expect(events.length).toBeGreaterThan(0);
      expect(events.every((e) => e['instanceId'] === inst)).toBe(true);
      expect(events).toContainEqual(expect.objectContaining({ kind: 'x509_svid.issued', spiffeId: id, entryId: entry }));
    }
    const text = runCli(['instance', 'list', '--socket', adminSocket]);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(instA);
    expect(text.stdout).toMatch(new RegExp(`${instB}\\s+${b.pid}\\s+worker`));

    // Server side, from the audit trail.
    const srv = runCli(['instance', 'list', '--server', '--server-socket', server.adminSocket, '-o', 'json']);
    expect(srv.code, srv.stderr).toBe(0);
    const fromServer = (JSON.parse(srv.stdout) as { instances: Record<string, any>[] }).instances;
    expect(fromServer).toContainEqual(expect.objectContaining({ instanceId: instA, spiffeIds: [idA], entryIds: [entry] }));
    expect(fromServer).toContainEqual(expect.objectContaining({ instanceId: instB, spiffeIds: [idB], entryIds: [entry] }));

    // An exited process is no longer listed by the agent.
    await a.send({ op: 'exit' });
    await until('the agent to drop the exited instance', async () => {
      const out = JSON.parse(runCli(['instance', 'list', '--socket', adminSocket, '-o', 'json']).stdout) as { instances: Record<string, any>[] };
      return out.instances.some((x) => x['instanceId'] === instA) ? undefined : out;
    });
  }, 60_000);

  it('instance list fails with one line when the agent socket is missing', () => {
    const r = runCli(['instance', 'list', '--socket', join(dir, 'nope.sock')]);
    expect(r.code).toBe(1);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/cannot reach the agent admin socket/);
  });

  it('issues only SVIDs that go-spiffe accepts (supervisor, worker, {instance})', async () => {
    expect(issued.map((i) => i.name).sort()).toEqual(['instance-a', 'instance-b', 'supervisor', 'worker']);
    const fixtures = join(dir, 'go-fixtures');
    const w = new FixtureWriter(fixtures);
    for (const i of issued) {
      const read = (f: string) => readFileSync(join(issuedDir(i.name), f));
      await w.x509Svid(
        { name: `agent-issued-${i.name}`, description: `X509-SVID served by the agent to the ${i.name} process`, spiffeId: i.spiffeId, expect: 'valid' },
        {
          chain: splitDer(read('chain.der')),
          key: createPrivateKey({ key: read('key.der'), format: 'der', type: 'pkcs8' }),
          bundle: splitDer(read('bundle.der')),
        },
      );
    }
    const now = new Date().toISOString();
    await w.file('manifest.json', JSON.stringify({ version: 1, generatedAt: now, verifyAt: now, fixtures: w.fixtures }));
    const go = findGo();
    expect(go, 'go toolchain').toBeDefined();
    const run = spawnSync(go!, ['test', '-count=1', '-v', '-run', '^TestFixtures$', '.'], {
      cwd: fileURLToPath(new URL('../interop/', import.meta.url)),
      encoding: 'utf8',
      env: { ...process.env, TESSERA_FIXTURES: fixtures, PATH: `${dirname(go!)}${delimiter}${process.env['PATH'] ?? ''}` },
      timeout: 5 * 60_000,
    });
    expect(run.status, run.stdout + run.stderr).toBe(0);
    for (const f of w.fixtures) expect(run.stdout).toContain(`--- PASS: TestFixtures/${f.name}`);
  });
});
