/**
 * The CLI, run in-process through main(argv, io), against a real admin API server started in this process on a Unix
 * socket in a temp dir, with real SQLite. One smoke test runs the built binary (dist/cli/main.js; `npm test` builds).
 */
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SpiffeBundle } from '../../src/spiffe/bundle/index.js';
import { startAdminTestServer, type AdminTestServer } from '../helpers/admin-server.js';
import { runTessera } from '../helpers/cli-in-process.js';

const BIN = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const AGENT = 'spiffe://acme.test/tessera/agent/x509pop/node-1';
const AGENT_2 = 'spiffe://acme.test/tessera/agent/x509pop/node-2';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

let srv: AdminTestServer;

/** Runs `tessera <args>` in-process (test/helpers/cli-in-process.ts) with the server's socket in the env. */
function tessera(args: string[], options: { env?: NodeJS.ProcessEnv; stdin?: string } = {}): Promise<Run> {
  return runTessera(args, {
    env: { TESSERA_ADMIN_SOCKET: srv.socketPath, ...options.env },
    ...(options.stdin !== undefined ? { stdin: options.stdin } : {}),
  });
}

/** Runs the built binary (dist/cli/main.js) as a child process: real argv, environment, standard input and exit code. */
function tesseraBinary(args: string[], stdin: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...process.env, TESSERA_ADMIN_SOCKET: srv.socketPath },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin);
  });
}

function ok(r: Run): Run {
  expect(r.stderr, r.stderr).toBe('');
  expect(r.code).toBe(0);
  return r;
}

function json<T = Record<string, any>>(r: Run): T {
  ok(r);
  return JSON.parse(r.stdout) as T;
}

beforeAll(async () => {
  srv = await startAdminTestServer();
  for (const spiffeId of [AGENT, AGENT_2]) {
    await srv.datastore.agents.upsertAttested({
      spiffeId,
      attestor: 'x509pop',
      selectors: [{ type: 'x509pop', value: `subject:cn:${spiffeId.slice(-6)}` }],
      svidSerial: '0a0b',
      svidExpiresAt: Math.floor(Date.now() / 1000) + 3600,
      attestedAt: Math.floor(Date.now() / 1000),
    });
  }
  await srv.datastore.federation.create({ trustDomain: 'partner.test', bundleEndpointUrl: 'https://partner.test/', profile: 'https_web' });
});
afterAll(async () => srv?.close());

const base = (spiffeId: string, ...more: string[]) => [
  'entry',
  'create',
  '--spiffe-id',
  spiffeId,
  '--parent-id',
  AGENT,
  '--selector',
  'unix:uid:1000',
  ...more,
];

describe('entry commands', () => {
  let id: string;

  it('entry create (text) prints the entry block', async () => {
    const r = ok(
      await tessera([
        ...base('spiffe://acme.test/web'),
        '--selector',
        'unix:gid:1000',
        '--x509-ttl',
        '600',
        '--dns',
        'web.acme.test',
        '--hint',
        'web tier',
        '--federates-with',
        'partner.test',
        '--expires-at',
        '4000000000',
      ]),
    );
    expect(r.stdout).toMatch(/^Entry ID +: [0-9a-f-]{36}$/m);
    expect(r.stdout).toMatch(/^SPIFFE ID +: spiffe:\/\/acme\.test\/web$/m);
    expect(r.stdout).toMatch(/^Selectors +: unix:gid:1000\n +unix:uid:1000$/m);
    expect(r.stdout).toMatch(/^X509-SVID TTL +: 600s \(10m\)$/m);
    expect(r.stdout).toMatch(/^JWT-SVID TTL +: server policy default$/m);
    expect(r.stdout).toMatch(/^Federates with +: partner\.test$/m);
    id = /^Entry ID +: (\S+)$/m.exec(r.stdout)![1]!;
  });

  it('entry create --output json prints per-item results', async () => {
    const out = json(await tessera([...base('spiffe://acme.test/api/{instance}', '--role', 'supervisor', '--admin'), '-o', 'json']));
    expect(out.results).toHaveLength(1);
    expect(out.results[0].entry).toMatchObject({
      spiffeId: 'spiffe://acme.test/api/{instance}',
      parentId: AGENT,
      selectors: ['unix:uid:1000'],
      role: 'supervisor',
      admin: true,
      revision: 1,
    });
  });

  it('entry create --data creates a batch (also from stdin)', async () => {
    const file = join(srv.dir, 'batch.json');
    writeFileSync(
      file,
      JSON.stringify({
        entries: [
          { spiffeId: 'spiffe://acme.test/batch/a', parentId: AGENT, selectors: ['unix:uid:1'] },
          { spiffeId: 'spiffe://acme.test/batch/b', parentId: AGENT, selectors: [{ type: 'unix', value: 'uid:2' }], jwtSvidTtlSeconds: 60 },
        ],
      }),
    );
    const r = ok(await tessera(['entry', 'create', '--data', file]));
    expect(r.stdout).toMatch(/Created 2 of 2 entries\.\n$/);
    const viaStdin = json(
      await tessera(['entry', 'create', '--data', '-', '-o', 'json'], {
        stdin: JSON.stringify({ entries: [{ spiffeId: 'spiffe://acme.test/batch/c', parentId: AGENT, selectors: ['unix:uid:3'] }] }),
      }),
    );
    expect(viaStdin.results[0].entry.spiffeId).toBe('spiffe://acme.test/batch/c');
  });

  it('entry create --data with good and bad items: stores the good, one stderr line per bad, exit 1', async () => {
    const before = await srv.datastore.entries.count();
    const file = join(srv.dir, 'mixed.json');
    writeFileSync(
      file,
      JSON.stringify({
        entries: [
          { spiffeId: 'spiffe://acme.test/mixed/ok', parentId: AGENT, selectors: ['unix:uid:1'] },
          { spiffeId: 'spiffe://acme.test/mixed/bad', parentId: AGENT, selectors: ['k8s:ns:x'] },
          { spiffeId: 'spiffe://acme.test/web', parentId: AGENT, selectors: ['unix:gid:1000', 'unix:uid:1000'] },
        ],
      }),
    );
    const r = await tessera(['entry', 'create', '--data', file]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/Created 1 of 3 entries\./);
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^tessera: entry 2 \(spiffe:\/\/acme\.test\/mixed\/bad\): .*unknown type "k8s"/);
    expect(lines[1]).toMatch(/^tessera: entry 3 \(spiffe:\/\/acme\.test\/web\): .*already exists/);
    expect(await srv.datastore.entries.count()).toBe(before + 1);

    const j = await tessera(['entry', 'create', '--data', file, '-o', 'json']);
    expect(j.code).toBe(1);
    const codes = (JSON.parse(j.stdout) as { results: { entry?: unknown; error?: { code: string } }[] }).results.map(
      (x) => x.error?.code ?? 'OK',
    );
    expect(codes).toEqual(['ALREADY_EXISTS', 'INVALID_ARGUMENT', 'ALREADY_EXISTS']);
  });

  it('entry show --id / --spiffe-id (text and json)', async () => {
    const r = ok(await tessera(['entry', 'show', '--id', id]));
    expect(r.stdout).toMatch(new RegExp(`^Entry ID +: ${id}$`, 'm'));
    const j = json(await tessera(['entry', 'show', '--spiffe-id', 'spiffe://acme.test/web', '--output=json']));
    expect(j.entries.map((e: { id: string }) => e.id)).toEqual([id]);
  });

  it('entry list with filters (text table and json)', async () => {
    const r = ok(await tessera(['entry', 'list']));
    expect(r.stdout).toMatch(/^ENTRY ID +SPIFFE ID +PARENT ID +ROLE +SELECTORS$/m);
    expect(r.stdout).toMatch(/^\d+ entries$/m);
    const j = json(await tessera(['entry', 'list', '--spiffe-id', 'spiffe://acme.test/batch/a', '-o', 'json']));
    expect(j.entries.map((e: { spiffeId: string }) => e.spiffeId)).toEqual(['spiffe://acme.test/batch/a']);
    const none = ok(await tessera(['entry', 'list', '--parent-id', 'spiffe://acme.test/nobody']));
    expect(none.stdout).toBe('No entries found.\n');
  });

  it('entry count (text and json)', async () => {
    const n = await srv.datastore.entries.count();
    expect(ok(await tessera(['entry', 'count'])).stdout).toBe(`${n} entries\n`);
    expect(json(await tessera(['entry', 'count', '-o', 'json']))).toEqual({ count: n });
  });

  it('entry update merges the given fields over the current entry', async () => {
    const r = ok(await tessera(['entry', 'update', '--id', id, '--hint', 'changed']));
    expect(r.stdout).toMatch(/^Hint +: changed$/m);
    expect(r.stdout).toMatch(/^Revision +: 2$/m);
    const j = json(await tessera(['entry', 'update', '--id', id, '--selector', 'unix:uid:42', '-o', 'json']));
    expect(j.entry).toMatchObject({
      id,
      selectors: ['unix:uid:42'],
      hint: 'changed',
      x509SvidTtlSeconds: 600,
      dnsNames: ['web.acme.test'],
      revision: 3,
    });
  });

  it('entry delete (text and json)', async () => {
    expect(ok(await tessera(['entry', 'delete', '--id', id])).stdout).toBe(`Deleted entry ${id}\n`);
    expect(await srv.datastore.entries.get(id)).toBeNull();
    const [other] = await srv.datastore.entries.list({ spiffeId: 'spiffe://acme.test/batch/c' });
    expect(json(await tessera(['entry', 'delete', '--id', other!.id, '-o', 'json']))).toEqual({ deleted: other!.id });
  });
});

describe('agent commands', () => {
  it('agent list (text and json)', async () => {
    const r = ok(await tessera(['agent', 'list']));
    expect(r.stdout).toMatch(/^SPIFFE ID +ATTESTOR +STATUS +SVID EXPIRES +LAST SEEN$/m);
    expect(r.stdout).toContain(AGENT);
    const j = json(await tessera(['agent', 'list', '-o', 'json']));
    expect(j.agents.map((a: { spiffeId: string }) => a.spiffeId)).toEqual([AGENT, AGENT_2]);
  });

  it('agent show (text and json)', async () => {
    const r = ok(await tessera(['agent', 'show', '--spiffe-id', AGENT]));
    expect(r.stdout).toMatch(/^Attestor +: x509pop$/m);
    expect(r.stdout).toMatch(/^Status +: attested$/m);
    expect(json(await tessera(['agent', 'show', '--spiffe-id', AGENT, '-o', 'json'])).agent).toMatchObject({
      spiffeId: AGENT,
      banned: false,
      svidSerial: '0a0b',
    });
  });

  it('agent ban then evict (text and json)', async () => {
    expect(ok(await tessera(['agent', 'ban', '--spiffe-id', AGENT])).stdout).toMatch(/^Banned agent /);
    expect((await srv.datastore.agents.get(AGENT))?.banned).toBe(true);
    expect(json(await tessera(['agent', 'ban', '--spiffe-id', AGENT, '-o', 'json']))).toEqual({ spiffeId: AGENT, banned: true });
    expect(ok(await tessera(['agent', 'evict', '--spiffe-id', AGENT])).stdout).toMatch(/^Evicted agent /);
    expect(await srv.datastore.agents.get(AGENT)).toBeNull();
    expect(json(await tessera(['agent', 'evict', '--spiffe-id', AGENT_2, '-o', 'json']))).toEqual({
      spiffeId: AGENT_2,
      evicted: true,
    });
  });
});

describe('token, bundle, healthcheck, audit', () => {
  it('token generate (text and json, with a node alias)', async () => {
    const r = ok(await tessera(['token', 'generate']));
    expect(r.stdout).toMatch(/^Token +: [A-Za-z0-9_-]{43}$/m);
    expect(r.stdout).toMatch(/^Expires +: \S+ \(in (9m\d+s|10m)\)$/m);
    expect(r.stdout).toMatch(/^Agent ID +: spiffe:\/\/acme\.test\/tessera\/agent\/join_token\/[0-9a-f]{32}$/m);
    const j = json(await tessera(['token', 'generate', '--ttl', '60', '--spiffe-id', 'spiffe://acme.test/nodes/n1', '-o', 'json']));
    expect(j).toMatchObject({ token: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/), aliasSpiffeId: 'spiffe://acme.test/nodes/n1' });
    expect(j.expiresAt - Date.now() / 1000).toBeLessThanOrEqual(60);
    expect(await srv.datastore.entries.list({ spiffeId: 'spiffe://acme.test/nodes/n1' })).toHaveLength(1);
  });

  it('bundle show: pem (default), spiffe, json', async () => {
    const pem = ok(await tessera(['bundle', 'show'])).stdout;
    expect(pem).toMatch(/^-----BEGIN CERTIFICATE-----\n[\s\S]+-----END CERTIFICATE-----\n$/);
    const spiffe = ok(await tessera(['bundle', 'show', '--format', 'spiffe'])).stdout;
    expect(SpiffeBundle.parse('acme.test', spiffe).x509Bundle.x509Authorities).toHaveLength(1);
    const j = json(await tessera(['bundle', 'show', '-o', 'json']));
    expect(j).toMatchObject({ trustDomain: 'acme.test', sequenceNumber: 7, x509Pem: pem, spiffeBundle: { spiffe_sequence: 7 } });
  });

  it('healthcheck: exit 0 when ready, 1 with one line when not', async () => {
    const r = ok(await tessera(['healthcheck']));
    expect(r.stdout).toMatch(/^Server is ready \(trust domain acme\.test, version 0\.0\.0-test, CA valid until .+\)\.\n$/);
    expect(json(await tessera(['healthcheck', '-o', 'json']))).toMatchObject({ ready: true, trustDomain: 'acme.test' });
    srv.ca.setBroken(true);
    try {
      const bad = await tessera(['healthcheck']);
      expect(bad.code).toBe(1);
      expect(bad.stdout).toBe('');
      expect(bad.stderr).toMatch(/^tessera: server for acme\.test is not ready: [^\n]+\n$/);
      const badJson = await tessera(['healthcheck', '-o', 'json']);
      expect(badJson.code).toBe(1);
      expect(JSON.parse(badJson.stdout)).toMatchObject({ ready: false });
    } finally {
      srv.ca.setBroken(false);
    }
  });

  it('audit list with filters (text and json)', async () => {
    await srv.datastore.audit.append({
      atMs: Date.parse('2030-01-02T03:04:05Z'),
      kind: 'x509_svid.issued',
      spiffeId: 'spiffe://acme.test/w',
      instanceId: 'inst-9',
      serial: 'ff01',
    });
    const r = ok(await tessera(['audit', 'list']));
    expect(r.stdout).toMatch(/^TIME +KIND +SPIFFE ID +INSTANCE +DETAILS$/m);
    expect(r.stdout).toMatch(/entry\.created/);
    expect(r.stdout).toMatch(/agent\.banned/);
    expect(r.stdout).toMatch(/join_token\.created/);
    const j = json(await tessera(['audit', 'list', '--since', '2030-01-01T00:00:00Z', '--instance', 'inst-9', '-o', 'json']));
    expect(j.events).toHaveLength(1);
    expect(j.events[0]).toMatchObject({ kind: 'x509_svid.issued', serial: 'ff01', at: '2030-01-02T03:04:05.000Z' });
    const bySpiffe = json(await tessera(['audit', 'list', '--spiffe-id', 'spiffe://acme.test/w', '-o', 'json']));
    expect(bySpiffe.events.map((e: { instanceId: string }) => e.instanceId)).toEqual(['inst-9']);
    const since = json(await tessera(['audit', 'list', '--since', String(Date.parse('2031-01-01T00:00:00Z')), '-o', 'json']));
    expect(since.events).toEqual([]);
  });

  it('audit list after many large events: pages cut by size, a cursor to continue, oversized details omitted', async () => {
    // What unbounded audiences left behind (issue 10 item 5): 40 events of ~60 KB and one of 3 MB. Before paging,
    // one response held them all and the CLI failed with "Received message larger than max".
    const spiffeId = 'spiffe://acme.test/w/big-audit';
    const base = Date.parse('2032-01-01T00:00:00Z');
    const audience = (n: number, i: number) => [`https://rp-${i}.example.test/${'a'.repeat(n)}`];
    for (let i = 0; i < 40; i++) {
      await srv.datastore.audit.append({ atMs: base + i, kind: 'jwt_svid.issued', spiffeId, jti: `j${i}`, details: { audience: audience(60_000, i) } });
    }
    await srv.datastore.audit.append({ atMs: base + 40, kind: 'jwt_svid.issued', spiffeId, jti: 'huge', details: { audience: audience(3_000_000, 40) } });

    const seen: { jti: string; details: unknown; detailsOmittedBytes?: number }[] = [];
    const pageSizes: number[] = [];
    let token = '';
    do {
      const page = json(await tessera(['audit', 'list', '--spiffe-id', spiffeId, '-o', 'json', ...(token ? ['--page-token', token] : [])]));
      pageSizes.push(page.events.length);
      seen.push(...page.events);
      token = page.nextPageToken;
    } while (token !== '');
    expect(seen.map((e) => e.jti)).toEqual([...Array.from({ length: 40 }, (_, i) => `j${i}`), 'huge']);
    expect(pageSizes.length).toBeGreaterThan(2); // 1 MiB pages of ~60 KB events
    expect(Math.max(...pageSizes)).toBeLessThanOrEqual(17);
    expect(seen[0]!.details).toEqual({ audience: audience(60_000, 0) });
    expect(seen[40]).toMatchObject({ details: null, detailsOmittedBytes: JSON.stringify({ audience: audience(3_000_000, 40) }).length });

    const text = ok(await tessera(['audit', 'list', '--spiffe-id', spiffeId]));
    expect(text.stdout).toMatch(/more events match: add --page-token \d+ \(with the same filters\) for the next page/);
    const last = ok(await tessera(['audit', 'list', '--spiffe-id', spiffeId, '--limit', '1', '--page-token', String(Number.MAX_SAFE_INTEGER)]));
    expect(last.stdout).toBe('No audit events found.\n');
    const bad = await tessera(['audit', 'list', '--page-token', 'abc']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/page_token "abc" is not a token from a previous response/);
  });

  it('--socket overrides the environment', async () => {
    const r = await tessera(['entry', 'count', '--socket', srv.socketPath], { env: { TESSERA_ADMIN_SOCKET: '/nonexistent/x.sock' } });
    ok(r);
  });
});

describe('bad input: non-zero exit, one stderr line, nothing written', () => {
  let entryId: string;
  let supervisorId: string;

  beforeAll(async () => {
    const e = await srv.datastore.entries.create({
      spiffeId: 'spiffe://acme.test/bad/existing',
      parentId: AGENT,
      selectors: [{ type: 'unix', value: 'uid:7' }],
      role: 'worker',
      x509SvidTtlSeconds: 0,
      jwtSvidTtlSeconds: 0,
      dnsNames: [],
      federatesWith: [],
      hint: '',
      admin: false,
      expiresAt: null,
    });
    entryId = e.id;
    const s = await srv.datastore.entries.create({ ...e, spiffeId: 'spiffe://acme.test/bad/boss', role: 'supervisor' });
    supervisorId = s.spiffeId;
    await srv.datastore.agents.upsertAttested({
      spiffeId: AGENT,
      attestor: 'x509pop',
      selectors: [],
      svidSerial: '01',
      svidExpiresAt: 2_000_000_000,
      attestedAt: 1_700_000_000,
    });
  });

  const UNKNOWN = '00000000-0000-4000-8000-000000000000';
  const UNREACHABLE = { TESSERA_ADMIN_SOCKET: '/nonexistent-dir/admin.sock' };
  type Row = [name: string, args: () => string[], exit: 1 | 2, stderr: RegExp, env?: NodeJS.ProcessEnv];
  const rows: Row[] = [
    // entry create
    ['create: invalid SPIFFE ID', () => base('spiffe://acme.test/a//b'), 1, /^tessera: spiffe_id .* is not a valid SPIFFE ID: path cannot contain empty segments$/],
    ['create: foreign trust domain', () => base('spiffe://other.test/a'), 1, /not in trust domain "acme.test"/],
    ['create: unknown selector type', () => [...base('spiffe://acme.test/x').slice(0, 6), '--selector', 'k8s:ns:x'], 1, /unknown type "k8s"/],
    ['create: selector without colon', () => [...base('spiffe://acme.test/x').slice(0, 6), '--selector', 'uid1000'], 2, /--selector "uid1000" must be "type:value"/],
    ['create: TTL over the worker ceiling', () => base('spiffe://acme.test/x', '--x509-ttl', '90000'), 1, /^tessera: x509_svid_ttl_seconds 90000 exceeds the worker ceiling of 86400 \(policy\.worker\.maxX509TtlSeconds\)$/],
    ['create: TTL over the supervisor ceiling', () => base('spiffe://acme.test/x', '--role', 'supervisor', '--jwt-ttl', '301'), 1, /supervisor ceiling of 300/],
    ['create: negative TTL', () => base('spiffe://acme.test/x', '--x509-ttl=-1'), 2, /--x509-ttl must be between 0 and/],
    ['create: negative TTL as its own argument', () => base('spiffe://acme.test/x', '--x509-ttl', '-5'), 2, /^tessera: --x509-ttl must be between 0 and \d+, not -5$/],
    ['create: repeated single-valued option', () => base('spiffe://acme.test/x', '--hint', 'a', '--hint', 'b'), 2, /^tessera: --hint is given more than once \(give it once\)$/],
    ['create: TTL not a number', () => base('spiffe://acme.test/x', '--jwt-ttl', '1h'), 2, /--jwt-ttl must be a whole number/],
    ['create: duplicate entry', () => [...base('spiffe://acme.test/bad/existing').slice(0, 6), '--selector', 'unix:uid:7'], 1, /already exists/],
    ['create: worker with a supervisor identity', () => base('spiffe://acme.test/bad/boss'), 1, /already a supervisor identity \(entry "[0-9a-f-]+"\)/],
    ['create: bad role', () => base('spiffe://acme.test/x', '--role', 'boss'), 2, /--role must be "worker" or "supervisor"/],
    ['create: bad DNS name', () => base('spiffe://acme.test/x', '--dns', 'bad name'), 1, /dns_names\[0\] "bad name" is not a valid DNS name/],
    ['create: own trust domain federated', () => base('spiffe://acme.test/x', '--federates-with', 'acme.test'), 1, /own trust domain/],
    ['create: federates with an unknown trust domain', () => base('spiffe://acme.test/x', '--federates-with', 'nope.test'), 1, /^tessera: federates_with\[0\] "nope\.test" has no federation relationship or bundle on this server; create one first/],
    ['create: malformed uid', () => ['entry', 'create', '--spiffe-id', 'spiffe://acme.test/x', '--parent-id', AGENT, '--selector', 'unix:uid:abc'], 1, /^tessera: selectors\[0\] "unix:uid:abc": unix:uid takes a decimal uid/],
    ['create: unknown key', () => ['entry', 'create', '--spiffe-id', 'spiffe://acme.test/x', '--parent-id', AGENT, '--selector', 'unix:uidd:0'], 1, /^tessera: selectors\[0\] "unix:uidd:0": unknown key for type "unix"; valid forms: unix:uid:<decimal uid>/],
    ['create: type the agent never emits', () => ['entry', 'create', '--spiffe-id', 'spiffe://acme.test/x', '--parent-id', AGENT, '--selector', 'proc:name:python'], 1, /^tessera: selectors\[0\] "proc:name:python": unknown type "proc"/],
    ['create: missing --spiffe-id', () => ['entry', 'create', '--parent-id', AGENT, '--selector', 'unix:uid:1'], 2, /--spiffe-id is required/],
    ['create: missing --parent-id', () => ['entry', 'create', '--spiffe-id', 'spiffe://acme.test/x', '--selector', 'unix:uid:1'], 2, /--parent-id is required/],
    ['create: missing --selector', () => ['entry', 'create', '--spiffe-id', 'spiffe://acme.test/x', '--parent-id', AGENT], 2, /--selector is required/],
    ['create: --data with flags', () => ['entry', 'create', '--data', 'x.json', '--hint', 'h'], 2, /--data cannot be combined with --hint/],
    ['create: --data missing file', () => ['entry', 'create', '--data', '/nonexistent/x.json'], 2, /cannot read --data/],
    ['create: unknown option', () => [...base('spiffe://acme.test/x'), '--ttl', '5'], 2, /unknown option '--ttl'/],
    ['create: unreachable socket', () => base('spiffe://acme.test/x'), 1, /^tessera: cannot reach the server admin socket at \/nonexistent-dir\/admin\.sock: no such socket/, UNREACHABLE],
    // entry update
    ['update: unknown ID', () => ['entry', 'update', '--id', UNKNOWN, '--hint', 'x'], 1, /^tessera: entry "00000000-0000-4000-8000-000000000000" not found$/],
    ['update: malformed ID', () => ['entry', 'update', '--id', 'nope', '--hint', 'x'], 1, /is not an entry ID/],
    ['update: missing --id', () => ['entry', 'update', '--hint', 'x'], 2, /--id is required/],
    ['update: nothing to change', () => ['entry', 'update', '--id', entryId], 2, /nothing to change/],
    ['update: invalid SPIFFE ID', () => ['entry', 'update', '--id', entryId, '--spiffe-id', 'web'], 1, /not a valid SPIFFE ID/],
    ['update: unknown selector type', () => ['entry', 'update', '--id', entryId, '--selector', 'docker:x:y'], 1, /unknown type "docker"/],
    ['update: federates with an unknown trust domain', () => ['entry', 'update', '--id', entryId, '--federates-with', 'nope.test'], 1, /federates_with\[0\] "nope\.test" has no federation relationship or bundle/],
    ['update: TTL out of bounds', () => ['entry', 'update', '--id', entryId, '--jwt-ttl', '3601'], 1, /exceeds the worker ceiling of 3600/],
    ['update: to a supervisor identity', () => ['entry', 'update', '--id', entryId, '--spiffe-id', supervisorId], 1, /already a supervisor identity/],
    ['update: --admin and --no-admin', () => ['entry', 'update', '--id', entryId, '--admin', '--no-admin'], 2, /cannot be used together/],
    ['update: unreachable socket', () => ['entry', 'update', '--id', entryId, '--hint', 'x'], 1, /cannot reach the server admin socket/, UNREACHABLE],
    // entry delete
    ['delete: unknown ID', () => ['entry', 'delete', '--id', UNKNOWN], 1, /not found/],
    ['delete: malformed ID', () => ['entry', 'delete', '--id', 'x'], 1, /is not an entry ID/],
    ['delete: missing --id', () => ['entry', 'delete'], 2, /--id is required/],
    ['delete: stray argument', () => ['entry', 'delete', entryId], 2, /unexpected argument/],
    ['delete: unreachable socket', () => ['entry', 'delete', '--id', entryId], 1, /cannot reach the server admin socket/, UNREACHABLE],
    // entry show
    ['show: unknown ID', () => ['entry', 'show', '--id', UNKNOWN], 1, /not found/],
    ['show: unknown SPIFFE ID', () => ['entry', 'show', '--spiffe-id', 'spiffe://acme.test/none'], 1, /^tessera: no entry has SPIFFE ID "spiffe:\/\/acme\.test\/none"$/],
    ['show: invalid SPIFFE ID', () => ['entry', 'show', '--spiffe-id', 'acme.test/web'], 1, /not a valid SPIFFE ID/],
    ['show: neither flag', () => ['entry', 'show'], 2, /exactly one of --id or --spiffe-id/],
    ['show: both flags', () => ['entry', 'show', '--id', entryId, '--spiffe-id', 'spiffe://acme.test/x'], 2, /exactly one/],
    ['show: unreachable socket', () => ['entry', 'show', '--id', entryId], 1, /cannot reach/, UNREACHABLE],
    // entry list / count
    ['list: invalid filter', () => ['entry', 'list', '--parent-id', 'spiffe://acme.test/x/'], 1, /parent_id .* not a valid SPIFFE ID/],
    ['list: bad --output', () => ['entry', 'list', '-o', 'yaml'], 2, /--output must be "text" or "json"/],
    ['list: unreachable socket', () => ['entry', 'list'], 1, /cannot reach/, UNREACHABLE],
    ['count: stray argument', () => ['entry', 'count', 'all'], 2, /unexpected argument/],
    ['count: unreachable socket', () => ['entry', 'count'], 1, /cannot reach/, UNREACHABLE],
    ['entry: unknown verb', () => ['entry', 'frob'], 2, /unknown command "entry frob"/],
    // agent
    ['agent show: unknown agent', () => ['agent', 'show', '--spiffe-id', 'spiffe://acme.test/tessera/agent/x/none'], 1, /^tessera: agent "spiffe:\/\/acme\.test\/tessera\/agent\/x\/none" not found$/],
    ['agent show: invalid SPIFFE ID', () => ['agent', 'show', '--spiffe-id', 'node-1'], 1, /not a valid SPIFFE ID/],
    ['agent show: missing --spiffe-id', () => ['agent', 'show'], 2, /--spiffe-id is required/],
    ['agent ban: unknown agent', () => ['agent', 'ban', '--spiffe-id', 'spiffe://acme.test/tessera/agent/x/none'], 1, /not found/],
    ['agent ban: invalid SPIFFE ID', () => ['agent', 'ban', '--spiffe-id', 'spiffe://ACME/x'], 1, /not a valid SPIFFE ID/],
    ['agent ban: missing --spiffe-id', () => ['agent', 'ban'], 2, /--spiffe-id is required/],
    ['agent evict: unknown agent', () => ['agent', 'evict', '--spiffe-id', 'spiffe://acme.test/tessera/agent/x/none'], 1, /not found/],
    ['agent evict: foreign trust domain', () => ['agent', 'evict', '--spiffe-id', 'spiffe://x.test/tessera/agent/a/b'], 1, /not in trust domain/],
    ['agent evict: unreachable socket', () => ['agent', 'evict', '--spiffe-id', AGENT], 1, /cannot reach/, UNREACHABLE],
    ['agent list: unreachable socket', () => ['agent', 'list'], 1, /cannot reach/, UNREACHABLE],
    // token
    ['token: TTL over the maximum', () => ['token', 'generate', '--ttl', '86401'], 1, /^tessera: ttl_seconds 86401 is out of range; use 1 to 86400/],
    ['token: TTL zero', () => ['token', 'generate', '--ttl', '0'], 2, /--ttl must be between 1 and/],
    ['token: invalid alias', () => ['token', 'generate', '--spiffe-id', 'spiffe://acme.test/a b'], 1, /not a valid SPIFFE ID/],
    ['token: reserved alias', () => ['token', 'generate', '--spiffe-id', 'spiffe://acme.test/tessera/x'], 1, /reserved/],
    ['token: alias = supervisor identity', () => ['token', 'generate', '--spiffe-id', supervisorId], 1, /already a supervisor identity/],
    ['token: unreachable socket', () => ['token', 'generate'], 1, /cannot reach/, UNREACHABLE],
    // bundle
    ['bundle: bad --format', () => ['bundle', 'show', '--format', 'der'], 2, /--format must be "pem" or "spiffe"/],
    ['bundle: unreachable socket', () => ['bundle', 'show'], 1, /cannot reach/, UNREACHABLE],
    // healthcheck
    ['healthcheck: unreachable socket', () => ['healthcheck'], 1, /^tessera: cannot reach the server admin socket at/, UNREACHABLE],
    ['healthcheck: unknown option', () => ['healthcheck', '--verbose'], 2, /unknown option/],
    // audit
    ['audit: bad --since', () => ['audit', 'list', '--since', 'yesterday'], 2, /--since "yesterday" must be Unix milliseconds/],
    ['audit: invalid --spiffe-id', () => ['audit', 'list', '--spiffe-id', 'web'], 1, /spiffe_id "web" is not a valid SPIFFE ID/],
    ['audit: bad --limit', () => ['audit', 'list', '--limit', '0'], 2, /--limit must be between 1 and 10000/],
    ['audit: unreachable socket', () => ['audit', 'list'], 1, /cannot reach/, UNREACHABLE],
  ];

  it.for(rows)('%s', async ([, args, exit, stderr, env], { expect }) => {
    const before = srv.rowCounts();
    const r = await tessera(args(), env ? { env } : {});
    expect(r.code, r.stderr).toBe(exit);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^[^\n]+\n$/);
    expect(r.stderr).toMatch(/^tessera: /);
    expect(r.stderr.trimEnd()).toMatch(stderr);
    expect(srv.rowCounts()).toEqual(before);
  });

  it('under --output json a server refusal is one JSON line on stderr with its gRPC status name, exit 1', async () => {
    const before = srv.rowCounts();
    const r = await tessera(['entry', 'update', '--id', UNKNOWN, '--hint', 'x', '-o', 'json']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(JSON.stringify({ error: { code: 'NOT_FOUND', message: `entry "${UNKNOWN}" not found` } }) + '\n');
    const usage = await tessera(['entry', 'update', '--id', UNKNOWN, '--hint', 'x', '--hint', 'y', '--output=json']);
    expect(usage.code).toBe(2);
    expect(JSON.parse(usage.stderr)).toEqual({ error: { code: 'USAGE', message: '--hint is given more than once (give it once)' } });
    expect(srv.rowCounts()).toEqual(before);
  });
});

describe('the built binary (smoke)', () => {
  it('dist/cli/main.js creates entries from its real standard input, with the socket from TESSERA_ADMIN_SOCKET', async () => {
    expect(existsSync(BIN), `${BIN} missing: run "npm run build" first`).toBe(true);
    const before = await srv.datastore.entries.count();
    const data = { entries: [{ spiffeId: 'spiffe://acme.test/smoke', parentId: AGENT, selectors: ['unix:uid:7'] }] };
    const out = json(await tesseraBinary(['entry', 'create', '--data', '-', '-o', 'json'], JSON.stringify(data)));
    expect(out.results[0].entry.spiffeId).toBe('spiffe://acme.test/smoke');
    expect(await srv.datastore.entries.count()).toBe(before + 1);
    const bad = await tesseraBinary(['entry', 'create', '--data', '-'], '{');
    expect(bad.code).toBe(2);
    expect(bad.stdout).toBe('');
    expect(bad.stderr).toMatch(/^tessera: [^\n]+\n$/);
  });
});
