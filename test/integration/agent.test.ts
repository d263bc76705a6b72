/**
 * The built server and agent as child processes (loopback TCP, Unix sockets, SQLite in a temp dir), with workloads
 * that are real processes: go-spiffe's workloadapi client (test/interop), our CLI, and a small Node workload. The
 * agent attests each of them from kernel facts; the entry selects this test's uid.
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
const WORKLOAD_ID = `spiffe://${TD}/it/workload`;
const INTEROP_DIR = fileURLToPath(new URL('../interop/', import.meta.url));
const WORKLOAD_SCRIPT = fileURLToPath(new URL('./fixtures/workload.mjs', import.meta.url));
/** Short enough to see rotations within the test, long enough for slow CI machines. */
const X509_TTL = 8;

let dir: string;
let server: ServerProcess;
let agent: TesseraProcess;
let agentId: string;
let socket: string;

function serverConfig(): Record<string, unknown> {
  return {
    trustDomain: TD,
    dataDir: './server',
    agentApi: { listen: '127.0.0.1:0' },
    http: { listen: '127.0.0.1:0' },
  };
}

async function restartServerOnSamePort(): Promise<void> {
  const cfg = serverConfig();
  cfg['agentApi'] = { listen: server.agentApi };
  server = await startServerProcess(dir, cfg);
}

/** A long-lived workload process: each `fetch()` is one FetchX509SVID from the same process instance. */
interface Workload {
  readonly pid: number;
  fetch(): Promise<Record<string, unknown>>;
  exit(): Promise<void>;
}

async function startWorkload(): Promise<Workload> {
  const child: ChildProcessWithoutNullStreams = spawn(process.execPath, [WORKLOAD_SCRIPT], {
    env: { ...process.env, TESSERA_SOCKET: socket },
  });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async () => JSON.parse(String((await lines.next()).value)) as Record<string, unknown>;
  const hello = await next();
  return {
    pid: Number(hello['pid']),
    fetch: async () => {
      child.stdin.write('\n');
      return next();
    },
    exit: () =>
      new Promise((resolve) => {
        child.once('exit', () => resolve());
        child.stdin.end();
      }),
  };
}

function runGoWorkloadTests(tests: readonly string[], env: Record<string, string>) {
  const go = findGo();
  expect(go, 'go toolchain').toBeDefined();
  return spawnSync(go!, ['test', '-count=1', '-v', '-run', `^(${tests.join('|')})$`, '.'], {
    cwd: INTEROP_DIR,
    encoding: 'utf8',
    env: { ...process.env, PATH: `${dirname(go!)}${delimiter}${process.env['PATH'] ?? ''}`, ...env },
    timeout: 5 * 60_000,
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tessera-agent-it-'));
  server = await startServerProcess(dir, serverConfig());
  ({ agent, agentId, socket } = await startJoinedAgent(dir, server, TD));
});

afterAll(async () => {
  await agent?.stop();
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('tessera agent (child process) with real workloads', () => {
  it('refuses a caller without an identity with PermissionDenied (our CLI and go-spiffe)', () => {
    // No entry names this uid yet.
    const r = runCli(['api', 'fetch', 'x509', '--socket', socket]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/no identity issued/);
    const go = runGoWorkloadTests(['TestWorkloadNoIdentity'], {
      TESSERA_WORKLOAD_SOCKET: socket,
      TESSERA_WORKLOAD_MODE: 'no-identity',
    });
    expect(go.stdout, go.stdout + go.stderr).toContain('--- PASS: TestWorkloadNoIdentity');
    expect(go.status).toBe(0);
  });

  it('serves go-spiffe: X.509 context, JWT-SVID + bundles, ValidateJWTSVID, header rule, and rotations before expiry', () => {
    cliJson(server.adminSocket, [
      'entry', 'create',
      '--parent-id', agentId,
      '--spiffe-id', WORKLOAD_ID,
      '--selector', `unix:uid:${process.getuid!()}`,
      '--x509-ttl', String(X509_TTL),
    ]);
    const tests = [
      'TestWorkloadX509Context',
      'TestWorkloadX509Source',
      'TestWorkloadJWT',
      'TestWorkloadWatchRotation',
      'TestWorkloadSecurityHeader',
      'TestWorkloadWITUnimplemented',
    ];
    const r = runGoWorkloadTests(tests, {
      TESSERA_WORKLOAD_SOCKET: socket,
      TESSERA_WORKLOAD_MODE: 'identity',
      TESSERA_WORKLOAD_IDS: WORKLOAD_ID,
    });
    for (const t of tests) expect(r.stdout, r.stdout + r.stderr).toContain(`--- PASS: ${t} `);
    expect(r.stdout).not.toMatch(/--- SKIP/);
    expect(r.status, r.stdout + r.stderr).toBe(0);
  });

  it('gives two processes with the same selectors different keys, serials and instances', async () => {
    const a = await startWorkload();
    const b = await startWorkload();
    try {
      const [sa, sb] = await Promise.all([a.fetch(), b.fetch()]);
      expect(sa['spiffeId']).toBe(WORKLOAD_ID);
      expect(sb['spiffeId']).toBe(WORKLOAD_ID);
      expect(sa['serial']).not.toBe(sb['serial']);
      expect(sa['keySha256']).not.toBe(sb['keySha256']);
      // The same instance asking again gets its own key back (not a new instance).
      expect((await a.fetch())['keySha256']).toBe(sa['keySha256']);
      const instances = cliJson<{ events: { serial: string; instanceId: string }[] }>(server.adminSocket, [
        'audit', 'list', '--spiffe-id', WORKLOAD_ID, '--limit', '10000',
      ]).events;
      // Serials compared as numbers: hex renderings may differ in case and leading zeros.
      const same = (a: string, b: unknown) => a !== '' && BigInt(`0x${a}`) === BigInt(`0x${String(b)}`);
      const instanceOf = (serial: unknown) => instances.find((e) => same(e.serial, serial))?.instanceId;
      expect(instanceOf(sa['serial'])).toMatch(/^[0-9a-f]{32}$/);
      expect(instanceOf(sb['serial'])).toMatch(/^[0-9a-f]{32}$/);
      expect(instanceOf(sa['serial'])).not.toBe(instanceOf(sb['serial']));
    } finally {
      await Promise.all([a.exit(), b.exit()]);
    }
  });

  it('drops the SVIDs of a process that exits', async () => {
    const w = await startWorkload();
    expect((await w.fetch())['spiffeId']).toBe(WORKLOAD_ID);
    const pid = w.pid;
    await w.exit();
    const closed = await until('the agent to drop the exited instance', () =>
      agent.logs.find((l) => l['msg'] === 'Workload instance closed' && l['pid'] === pid),
    );
    expect(closed['instanceId']).toMatch(/^[0-9a-f]{32}$/);
  });

  it('keeps serving cached SVIDs while the server is down, and rotates again once it is back', async () => {
    const w = await startWorkload();
    try {
      const before = await w.fetch();
      expect(before['spiffeId']).toBe(WORKLOAD_ID);
      expect(await server.stop('SIGTERM')).toBe(0);
      const during = await w.fetch();
      expect(during['code']).toBeUndefined();
      expect(during['spiffeId']).toBe(WORKLOAD_ID);
      expect(new Date(String(during['notAfter'])).getTime()).toBeGreaterThan(Date.now());

      await restartServerOnSamePort();
      const restarted = Date.now();
      // Rotation resumes: the same instance receives a new SVID signed after the server came back.
      const rotated = await until(
        'a rotated SVID after the server restart',
        async () => {
          const s = await w.fetch();
          return s['serial'] !== during['serial'] && s['serial'] !== before['serial'] && s['spiffeId'] === WORKLOAD_ID
            ? s
            : undefined;
        },
        60_000,
      );
      expect(new Date(String(rotated['notAfter'])).getTime()).toBeGreaterThan(restarted);
    } finally {
      await w.exit();
    }
  });

  it('keeps its agent SVID on disk with mode 0600 and never writes workload keys', () => {
    const files = spawnSync('find', [join(dir, 'agent'), '-type', 'f', '-printf', '%m %p\\n'], { encoding: 'utf8' }).stdout;
    const lines = files.trim().split('\n');
    expect(lines.some((l) => /^600 .*agent-svid\.pem$/.test(l)), files).toBe(true);
    for (const line of lines.filter((l) => /\.(pem|key)$/.test(l))) {
      const [mode, path] = line.split(' ');
      if (/agent-svid|\.key$/.test(path!)) expect(mode, path).toBe('600');
    }
    // Only the agent's own key: no file holds more than one PRIVATE KEY block.
    for (const line of lines) {
      const path = line.split(' ')[1]!;
      const text = readFileSync(path, 'latin1');
      expect((text.match(/BEGIN PRIVATE KEY/g) ?? []).length, path).toBeLessThanOrEqual(1);
    }
  });
});
