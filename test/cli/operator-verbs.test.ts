/**
 * The SPIRE-style operator verbs (issue 15): `entry list|count` filters, `agent count|purge`, in-process through
 * main(argv, io) against a real admin API server in this process (Unix socket in a temp dir, real SQLite).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAdminTestServer, type AdminTestServer } from '../helpers/admin-server.js';
import { runTessera, type CliRun } from '../helpers/cli-in-process.js';

const AGENT = 'spiffe://acme.test/tessera/agent/x509pop/node-1';
const AGENT_2 = 'spiffe://acme.test/tessera/agent/x509pop/node-2';
const DAY = 86_400;
const now = () => Math.floor(Date.now() / 1000);

let srv: AdminTestServer;

function tessera(args: string[]): Promise<CliRun> {
  return runTessera(args, { env: { TESSERA_ADMIN_SOCKET: srv.socketPath } });
}

function ok(r: CliRun): CliRun {
  expect(r.stderr, r.stderr).toBe('');
  expect(r.code).toBe(0);
  return r;
}

function json<T = Record<string, any>>(r: CliRun): T {
  return JSON.parse(ok(r).stdout) as T;
}

async function create(spiffeId: string, selectors: string[], more: string[] = [], parent = AGENT): Promise<void> {
  ok(
    await tessera([
      'entry', 'create', '--spiffe-id', spiffeId, '--parent-id', parent,
      ...selectors.flatMap((s) => ['--selector', s]), ...more,
    ]),
  );
}

async function listIds(filter: string[]): Promise<string[]> {
  const out = json<{ entries: { spiffeId: string }[] }>(await tessera(['entry', 'list', ...filter, '-o', 'json']));
  return out.entries.map((e) => e.spiffeId).sort();
}

async function count(filter: string[]): Promise<number> {
  return json<{ count: number }>(await tessera(['entry', 'count', ...filter, '-o', 'json'])).count;
}

beforeAll(async () => {
  srv = await startAdminTestServer();
  await create('spiffe://acme.test/web/a', ['unix:uid:1000']);
  await create('spiffe://acme.test/web/b', ['unix:uid:1000', 'unix:gid:50'], ['--hint', 'blue', '--federates-with', 'b.test']);
  await create('spiffe://acme.test/web/c', ['unix:uid:1000', 'unix:gid:50', 'systemd:unit:c.service'], [
    '--federates-with', 'b.test', '--federates-with', 'c.test',
  ]);
  await create('spiffe://acme.test/db', ['unix:gid:50'], ['--hint', 'blue'], AGENT_2);
});
afterAll(async () => srv?.close());

describe('entry list and count filters', () => {
  it.each([
    ['exact', ['unix:uid:1000', 'unix:gid:50'], ['spiffe://acme.test/web/b']],
    ['subset', ['unix:uid:1000', 'unix:gid:50'], ['spiffe://acme.test/db', 'spiffe://acme.test/web/a', 'spiffe://acme.test/web/b']],
    ['superset', ['unix:uid:1000', 'unix:gid:50'], ['spiffe://acme.test/web/b', 'spiffe://acme.test/web/c']],
    ['any', ['systemd:unit:c.service', 'unix:gid:50'], ['spiffe://acme.test/db', 'spiffe://acme.test/web/b', 'spiffe://acme.test/web/c']],
  ])('--match-selectors-on %s', async (mode, selectors, expected) => {
    const filter = [...selectors.flatMap((s) => ['--selector', s]), '--match-selectors-on', mode];
    expect(await listIds(filter)).toEqual(expected);
    expect(await count(filter)).toBe(expected.length);
  });

  it('--selector alone means superset', async () => {
    expect(await listIds(['--selector', 'unix:gid:50'])).toEqual([
      'spiffe://acme.test/db',
      'spiffe://acme.test/web/b',
      'spiffe://acme.test/web/c',
    ]);
  });

  it.each([
    [['--federates-with', 'b.test'], ['spiffe://acme.test/web/b', 'spiffe://acme.test/web/c']],
    [['--federates-with', 'b.test', '--federates-with', 'c.test'], ['spiffe://acme.test/web/c']],
    [['--federates-with', 'nope.test'], []],
    [['--hint', 'blue'], ['spiffe://acme.test/db', 'spiffe://acme.test/web/b']],
    [['--spiffe-id', 'spiffe://acme.test/web/a'], ['spiffe://acme.test/web/a']],
    [['--spiffe-id-prefix', 'spiffe://acme.test/web/'], ['spiffe://acme.test/web/a', 'spiffe://acme.test/web/b', 'spiffe://acme.test/web/c']],
    [['--spiffe-id-prefix', 'spiffe://acme.test/d'], ['spiffe://acme.test/db']],
    [['--spiffe-id-prefix', 'spiffe://other.test/'], []],
    [['--parent-id', AGENT_2], ['spiffe://acme.test/db']],
    [['--parent-id', AGENT, '--hint', 'blue'], ['spiffe://acme.test/web/b']],
    [['--spiffe-id-prefix', 'spiffe://acme.test/web/', '--selector', 'unix:gid:50', '--federates-with', 'c.test'], ['spiffe://acme.test/web/c']],
  ])('%j', async (filter, expected) => {
    expect(await listIds(filter)).toEqual(expected);
    expect(await count(filter)).toBe(expected.length);
  });

  it('entry count with no filter counts every entry; text output', async () => {
    expect(ok(await tessera(['entry', 'count'])).stdout).toBe('4 entries\n');
    expect(ok(await tessera(['entry', 'count', '--hint', 'blue'])).stdout).toBe('2 entries\n');
    expect(ok(await tessera(['entry', 'list', '--hint', 'nothing'])).stdout).toBe('No entries found.\n');
  });

  it.each([
    [['--match-selectors-on', 'subset'], 2, /^tessera: --match-selectors-on needs at least one --selector\n$/],
    [['--selector', 'unix:uid:1', '--match-selectors-on', 'all'], 2, /--match-selectors-on must be one of exact, subset, superset, any, not "all"/],
    [['--selector', 'unix'], 2, /--selector "unix" must be "type:value"/],
    [['--hint', ''], 2, /--hint must not be empty/],
    [['--federates-with', ''], 2, /--federates-with must not be empty/],
    [['--spiffe-id-prefix', 'acme.test/web'], 1, /^error: spiffe_id_prefix "acme\.test\/web" is not the start of a SPIFFE ID/],
    [['--spiffe-id-prefix', 'spiffe://'], 1, /spiffe_id_prefix "spiffe:\/\/" is not the start of a SPIFFE ID/],
    [['--federates-with', 'Not A Domain'], 1, /^error: federates_with\[0\] "Not A Domain" is not a valid trust domain/],
    [['--parent-id', 'spiffe://acme.test/a//b'], 1, /^error: parent_id /],
    [['--hint', 'x'.repeat(3000)], 1, /^error: hint is 3000 bytes long; at most 2048 are allowed\n$/],
  ])('bad filter %j is refused (exit %i) for list and count', async (filter, exit, message) => {
    for (const verb of ['list', 'count']) {
      const r = await tessera(['entry', verb, ...filter]);
      expect(r.code).toBe(exit);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(message);
    }
  });

  it('the API refuses an unknown selector_match and a mode without selectors', async () => {
    const client = srv.client('EntryService');
    await expect(client.call('ListEntries', { selectors: [], selector_match: 'SELECTOR_MATCH_ANY' })).rejects.toMatchObject({
      code: 3,
      details: 'selector_match is set but no selectors are given',
    });
    await expect(
      client.call('CountEntries', { selectors: [{ type: 'unix', value: '' }], selector_match: 'SELECTOR_MATCH_ANY' }),
    ).rejects.toMatchObject({ code: 3, details: 'selectors[0] "unix:" has an empty value' });
  });
});

describe('agent count and purge', () => {
  const OLD = 'spiffe://acme.test/tessera/agent/x509pop/old';
  const OLDER = 'spiffe://acme.test/tessera/agent/x509pop/older';
  const BANNED = 'spiffe://acme.test/tessera/agent/x509pop/banned-old';
  const FRESH = 'spiffe://acme.test/tessera/agent/x509pop/fresh';

  beforeAll(async () => {
    const expiries: [string, number][] = [
      [OLD, now() - 10 * DAY],
      [OLDER, now() - 40 * DAY],
      [BANNED, now() - 40 * DAY],
      [FRESH, now() + 3600],
    ];
    for (const [spiffeId, svidExpiresAt] of expiries) {
      await srv.datastore.agents.upsertAttested({
        spiffeId,
        attestor: 'x509pop',
        selectors: [{ type: 'x509pop', value: `subject:cn:${spiffeId.slice(-5)}` }],
        svidSerial: '0a0b',
        svidExpiresAt,
        attestedAt: svidExpiresAt - 3600,
      });
    }
    await srv.datastore.agents.setBanned(BANNED, true);
  });

  it('agent count counts every record, banned ones included', async () => {
    expect(json(await tessera(['agent', 'count', '-o', 'json']))).toEqual({ count: 4 });
    expect(ok(await tessera(['agent', 'count'])).stdout).toBe('4 agents\n');
  });

  it('--dry-run lists the agents expired long enough ago and deletes nothing', async () => {
    const before = srv.rowCounts();
    const out = json(await tessera(['agent', 'purge', '--expired-for', '7d', '--dry-run', '-o', 'json']));
    expect(out['dryRun']).toBe(true);
    expect(out['expiredForSeconds']).toBe(7 * DAY);
    expect(out['agents'].map((a: { spiffeId: string }) => a.spiffeId)).toEqual([OLD, OLDER]);
    expect(srv.rowCounts()).toEqual(before);
    const text = ok(await tessera(['agent', 'purge', '--expired-for', '30d', '--dry-run'])).stdout;
    expect(text).toContain(OLDER);
    expect(text).not.toContain(OLD + '\n');
    expect(text).toMatch(/Would purge 1 agent\.\n$/);
  });

  it('purges only non-banned agents whose SVID expired at least that long ago, and audits each', async () => {
    const text = ok(await tessera(['agent', 'purge', '--expired-for', '30d'])).stdout;
    expect(text).toMatch(/Purged 1 agent\.\n$/);
    expect(await srv.datastore.agents.get(OLDER)).toBeNull();
    expect(await srv.datastore.agents.get(OLD)).not.toBeNull();
    expect((await srv.datastore.agents.get(BANNED))?.banned).toBe(true);
    const out = json(await tessera(['agent', 'purge', '--expired-for', '1d', '-o', 'json']));
    expect(out['agents'].map((a: { spiffeId: string }) => a.spiffeId)).toEqual([OLD]);
    expect(await srv.datastore.agents.get(FRESH)).not.toBeNull();
    const events = await srv.datastore.audit.list({ kind: 'agent.purged' });
    expect(events.map((e) => e.agentId).sort()).toEqual([OLD, OLDER]);
    expect(ok(await tessera(['agent', 'purge', '--expired-for', '1d'])).stdout).toMatch(/nothing to purge/);
    expect(json(await tessera(['agent', 'count', '-o', 'json']))).toEqual({ count: 2 });
  });

  it.each([
    [[], /^tessera: --expired-for is required/],
    [['--expired-for', ''], /^tessera: --expired-for is required/],
    [['--expired-for', '30'], /^tessera: --expired-for must be a duration such as "30d".*not "30"\n$/],
    [['--expired-for', '-5d'], /--expired-for/],
    [['--expired-for', '1w'], /--expired-for must be a duration/],
    [['--expired-for', '0s'], /--expired-for must be between 1s and 315360000s, not "0s"/],
    [['--expired-for', '99999d'], /--expired-for must be between 1s and 315360000s, not "99999d"/],
    [['--expired-for', '1d', '--dry-run=yes'], /dry-run/],
  ])('agent purge %j is a usage error', async (args, message) => {
    const before = srv.rowCounts();
    const r = await tessera(['agent', 'purge', ...args]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(message);
    expect(srv.rowCounts()).toEqual(before);
  });

  it('the API refuses expired_for_seconds below 1', async () => {
    const client = srv.client('AgentAdminService');
    await expect(client.call('PurgeAgents', { expired_for_seconds: 0 })).rejects.toMatchObject({
      code: 3,
      details: 'expired_for_seconds must be a whole number of seconds, at least 1, not 0',
    });
  });
});
