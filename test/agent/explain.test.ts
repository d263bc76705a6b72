import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseExplainPid } from '../../src/agent/admin.js';
import { isTesseraError } from '../../src/common/errors.js';
import { runTessera } from '../helpers/cli-in-process.js';
import {
  agentConfig,
  callerOf,
  eventually,
  exited,
  spawnWorkload,
  startTestAgent,
  startTestServer,
  tempDir,
  workloadBinary,
  type TestAgent,
  type TestServer,
} from './harness.js';

const UID = process.getuid!();
const OTHER_UID = UID === 4242 ? 4243 : 4242;
const ID = (p: string) => `spiffe://example.org/explain/${p}`;

interface ExplainJson {
  pid: number;
  selectors: string[];
  instanceId: string;
  lineageKnown: boolean;
  applies: string[];
  refusal: string;
  entries: { entryId: string; spiffeId: string; role: string; verdict: string; missingSelectors: string[]; reason: string }[];
}

describe('tessera entry explain --pid (real agent, real attestor, real processes)', () => {
  let server: TestServer;
  let a: TestAgent;
  let agentId: string;
  let socket: string;
  let binA: string;
  let binB: string;
  const dir = tempDir('tessera-explain-');
  const children: ChildProcess[] = [];
  const spawn = (binary: string) => {
    const c = spawnWorkload(binary);
    children.push(c);
    return c;
  };
  const ids: Record<string, string> = {};

  async function create(name: string, selectors: string[], role: 'ROLE_WORKER' | 'ROLE_SUPERVISOR' = 'ROLE_WORKER') {
    const res = await server.admin.call<{ results: { entry?: { id: string }; error_message: string }[] }>(
      'EntryService',
      'BatchCreateEntry',
      {
        entries: [
          {
            spiffe_id: ID(name),
            parent_id: agentId,
            role,
            selectors: selectors.map((s) => ({ type: s.slice(0, s.indexOf(':')), value: s.slice(s.indexOf(':') + 1) })),
          },
        ],
      },
    );
    const r = res.results[0]!;
    if (!r.entry) throw new Error(r.error_message);
    ids[name] = r.entry.id;
  }

  const explain = async (pid: number): Promise<ExplainJson> => {
    const r = await runTessera(['entry', 'explain', '--pid', String(pid), '--socket', socket, '-o', 'json']);
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as ExplainJson;
  };
  const row = (e: ExplainJson, name: string) => e.entries.find((x) => x.entryId === ids[name])!;

  beforeAll(async () => {
    server = await startTestServer();
    const { token } = await server.joinToken();
    a = await startTestAgent(await agentConfig(server, dir.path, { joinToken: { token } }), dir.path);
    await a.agent.ready();
    agentId = a.agent.identity.svid!.spiffeId;
    socket = join(a.config.dataDir, 'admin.sock');
    binA = workloadBinary(dir.path, 'explain-a');
    binB = workloadBinary(dir.path, 'explain-b');
    await create('a', [`unix:uid:${UID}`, `unix:path:${binA}`]);
    await create('other-binary', [`unix:uid:${UID}`, `unix:path:${dir.path}/not-there`]);
    await create('other-uid', [`unix:uid:${OTHER_UID}`, `unix:path:${binA}`]);
    await create('needs-boss', [`tessera:supervisor:${ID('boss')}`, `unix:path:${binA}`]);
    await create('b-supervisor', [`unix:path:${binB}`], 'ROLE_SUPERVISOR');
    await create('b-worker', [`unix:uid:${UID}`, `unix:path:${binB}`]);
    await eventually(() => a.agent.provider.entries.length === 6, 20_000, 'the agent to sync the six entries');
  }, 60_000);
  afterEach(async () => {
    await Promise.all(children.splice(0).map((c) => exited(c)));
  });
  afterAll(async () => {
    await a?.stop();
    await server?.close();
    dir.remove();
  });

  it("lists the process's selectors and, per entry, what applies and which selectors did not match", async () => {
    const p = spawn(binA);
    const e = await explain(p.pid);
    expect(e.pid).toBe(p.pid);
    expect(e.selectors).toContain(`unix:uid:${UID}`);
    expect(e.selectors).toContain(`unix:path:${binA}`);
    expect(e.instanceId).toBe('');
    expect(e.applies).toEqual([ID('a')]);
    expect(e.refusal).toBe('');
    expect(e.entries).toHaveLength(6);
    expect(e.entries[0]).toMatchObject({ entryId: ids['a'], verdict: 'applies', missingSelectors: [] });
    expect(row(e, 'other-binary')).toMatchObject({ verdict: 'no_match', missingSelectors: [`unix:path:${dir.path}/not-there`] });
    expect(row(e, 'other-uid')).toMatchObject({ verdict: 'no_match', missingSelectors: [`unix:uid:${OTHER_UID}`] });
    expect(row(e, 'needs-boss')).toMatchObject({
      verdict: 'no_match',
      missingSelectors: [],
      reason: `no live ancestor instance holds the supervisor ID "${ID('boss')}"`,
    });
    expect(row(e, 'b-worker')).toMatchObject({ verdict: 'no_match', missingSelectors: [`unix:path:${binB}`] });

    // Once the process has called, its live instance is named, and explaining it changed nothing.
    const session = await a.agent.provider.session(callerOf(p.pid));
    const again = await explain(p.pid);
    expect(again.instanceId).toBe(session.instanceId);
    expect(again.applies).toEqual([ID('a')]);
    expect(a.agent.provider.instances().filter((i) => i.pid === p.pid)).toHaveLength(1);
  });

  it('says which supervisor/worker rule refused a process whose selectors match both roles', async () => {
    const p = spawn(binB);
    const e = await explain(p.pid);
    expect(e.applies).toEqual([]);
    expect(e.refusal).toBe(
      `the caller matches both supervisor entries (${ids['b-supervisor']}) and worker entries (${ids['b-worker']}); a process is served one role only`,
    );
    expect(row(e, 'b-supervisor')).toMatchObject({ verdict: 'refused', role: 'supervisor', reason: e.refusal });
    expect(row(e, 'b-worker')).toMatchObject({ verdict: 'refused', role: 'worker', reason: e.refusal });
    expect(e.entries.slice(0, 2).map((x) => x.verdict)).toEqual(['refused', 'refused']);
  });

  it('prints a table with the verdicts and the outcome as text', async () => {
    const p = spawn(binA);
    const r = await runTessera(['entry', 'explain', '--pid', String(p.pid), '--socket', socket]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^Process ${p.pid} \\(no live instance\\)$`, 'm'));
    expect(r.stdout).toContain(`  unix:path:${binA}\n`);
    expect(r.stdout).toMatch(/^VERDICT +ENTRY +SPIFFE ID +ROLE +WHY$/m);
    expect(r.stdout).toMatch(new RegExp(`^APPLIES +${ids['a']} +${ID('a')} +worker +-$`, 'm'));
    expect(r.stdout).toMatch(new RegExp(`^NO MATCH +${ids['other-uid']} +${ID('other-uid')} +worker +missing unix:uid:${OTHER_UID}$`, 'm'));
    expect(r.stdout).toMatch(new RegExp(`^Served: ${ID('a')}$`, 'm'));
  });

  it('logs the selectors of a refused workload (agent log, info)', async () => {
    const p = spawn(binB);
    await expect(a.agent.provider.session(callerOf(p.pid))).rejects.toMatchObject({ code: 'PERMISSION_DENIED' });
    const line = a.logs().find((l) => String(l['msg']).startsWith('Workload refused; see') && l['pid'] === p.pid);
    expect(line).toMatchObject({ exe: binB, uid: UID, reason: expect.stringMatching(/matches both supervisor entries/) });
    expect(line!['selectors']).toContain(`unix:path:${binB}`);
  });

  it('answers NOT_FOUND for a pid the agent cannot see (exit 1, one line)', async () => {
    const p = spawn(binA);
    await exited(p);
    const r = await runTessera(['entry', 'explain', '--pid', String(p.pid), '--socket', socket]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`tessera: no process ${p.pid} is visible to the agent\n`);
  });

  it.each<[string[], number, RegExp]>([
    [[], 2, /--pid is required/],
    [['--pid', 'abc'], 2, /--pid must be a process ID \(a positive whole number\), not "abc"/],
    [['--pid', '0'], 2, /--pid must be a process ID/],
    [['--pid', '-5'], 2, /--pid|argument/],
    [['--pid', '1.5'], 2, /--pid must be a process ID/],
    [['--pid', '1', '--pid', '2'], 2, /^tessera: --pid is given more than once \(give it once\)/],
    [['--pid', '1', '--output', 'yaml'], 2, /--output must be "text" or "json", not "yaml"/],
    [['--pid', '1', '--socket', ''], 2, /--socket must not be empty/],
    [['--pid', '1', '--bogus'], 2, /unknown option '--bogus'/],
    [['--pid', '1', '--socket', '/nonexistent-dir/admin.sock'], 1, /^tessera: cannot reach the agent admin socket at \/nonexistent-dir\/admin\.sock: ENOENT/],
  ])('refuses %j (exit %i)', async (args, code, message) => {
    const r = await runTessera(['entry', 'explain', ...args]);
    expect(r.code).toBe(code);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
  });

  it.each([-1, 0, 1.5, '7', 4_194_305, undefined])('the agent refuses ExplainProcess pid %j with INVALID_ARGUMENT', (pid) => {
    let err: unknown;
    try {
      parseExplainPid(pid);
    } catch (e) {
      err = e;
    }
    expect(isTesseraError(err) && err.code).toBe('INVALID_ARGUMENT');
  });
});
