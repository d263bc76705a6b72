/**
 * The SPIRE-style operator verbs (issue 15): `entry list|count` filters, `agent count|purge`, in-process through
 * main(argv, io) against a real admin API server in this process (Unix socket in a temp dir, real SQLite).
 */
import { createPrivateKey, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SpiffeBundle } from '../../src/spiffe/bundle/index.js';
import { TrustDomain } from '../../src/spiffe/id/index.js';
import { parseAndValidateJwtSvid } from '../../src/spiffe/jwtsvid/index.js';
import { decodePem, encodePem } from '../../src/spiffe/pem.js';
import { createCaCertificate, verifyX509Svid } from '../../src/spiffe/x509svid/index.js';
import { startAdminTestServer, type AdminTestServer } from '../helpers/admin-server.js';
import { runTessera, type CliRun } from '../helpers/cli-in-process.js';
import { fakeFederationControl, type FakeFederationControl } from '../helpers/fake-federation-control.js';

const AGENT = 'spiffe://acme.test/tessera/agent/x509pop/node-1';
const AGENT_2 = 'spiffe://acme.test/tessera/agent/x509pop/node-2';
const DAY = 86_400;
const now = () => Math.floor(Date.now() / 1000);

let srv: AdminTestServer;
let control: FakeFederationControl;

function tessera(args: string[], stdin?: string): Promise<CliRun> {
  return runTessera(args, { env: { TESSERA_ADMIN_SOCKET: srv.socketPath }, ...(stdin !== undefined ? { stdin } : {}) });
}

async function rootCa(trustDomain: string): Promise<Uint8Array> {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return createCaCertificate({
    trustDomain: TrustDomain.parse(trustDomain),
    publicKey,
    signer: { key: privateKey },
    now: new Date(),
    ttlSeconds: 3600,
  });
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

async function storeBundle(td: string): Promise<void> {
  const der = await rootCa(td);
  const doc = SpiffeBundle.fromParts({ trustDomain: TrustDomain.parse(td), x509Authorities: [der], jwtAuthorities: [] }).marshal();
  await srv.datastore.bundles.put(td, doc, 1);
}

beforeAll(async () => {
  control = fakeFederationControl();
  srv = await startAdminTestServer({ federationControl: control });
  // An entry may federate only with a trust domain the server knows: b.test and c.test get stored bundles, put in the
  // datastore directly (the bundle tests below start from none and count audit events and refresher reloads).
  for (const td of ['b.test', 'c.test']) await storeBundle(td);
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
    [['--spiffe-id-prefix', 'acme.test/web'], 1, /^tessera: spiffe_id_prefix "acme\.test\/web" is not the start of a SPIFFE ID/],
    [['--spiffe-id-prefix', 'spiffe://'], 1, /spiffe_id_prefix "spiffe:\/\/" is not the start of a SPIFFE ID/],
    [['--federates-with', 'Not A Domain'], 1, /^tessera: federates_with\[0\] "Not A Domain" is not a valid trust domain/],
    [['--parent-id', 'spiffe://acme.test/a//b'], 1, /^tessera: parent_id /],
    [['--hint', 'x'.repeat(3000)], 1, /^tessera: hint is 3000 bytes long; at most 2048 are allowed\n$/],
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
    const mixed = json(await tessera(['agent', 'purge', '--expired-for', '1d2h30m5s', '--dry-run', '-o', 'json']));
    expect(mixed['expiredForSeconds']).toBe(DAY + 2 * 3600 + 30 * 60 + 5);
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

describe('bundle list, show, set and delete (federated bundles)', () => {
  let dPem: string;
  let dDer: Uint8Array;
  let eJson: string;
  let wrongTdPem: string;

  beforeAll(async () => {
    // The filter tests' bundles go (their entries keep naming b.test and c.test): these tests start with none.
    for (const td of ['b.test', 'c.test']) await srv.datastore.bundles.delete(td);
    dDer = await rootCa('d.test');
    dPem = join(srv.dir, 'd.pem');
    writeFileSync(dPem, encodePem('CERTIFICATE', dDer));
    const jwt = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    eJson = SpiffeBundle.fromParts({
      trustDomain: TrustDomain.parse('e.test'),
      x509Authorities: [await rootCa('e.test')],
      jwtAuthorities: [{ kid: 'e-kid', key: jwt.publicKey }],
      sequenceNumber: 12n,
    }).marshal();
    wrongTdPem = join(srv.dir, 'wrong.pem');
    writeFileSync(wrongTdPem, encodePem('CERTIFICATE', await rootCa('other.test')));
    writeFileSync(join(srv.dir, 'empty.pem'), '');
    writeFileSync(join(srv.dir, 'junk.pem'), 'not a bundle');
  });

  it('starts with no federated bundles (our own bundle is not listed)', async () => {
    expect(ok(await tessera(['bundle', 'list'])).stdout).toBe('No federated bundles.\n');
    expect(json(await tessera(['bundle', 'list', '-o', 'json']))).toEqual({ bundles: [] });
  });

  it('bundle set stores a static bundle from PEM (file) or SPIFFE JSON (stdin) and tells the refresher', async () => {
    const out = ok(await tessera(['bundle', 'set', '--trust-domain', 'd.test', '--bundle', dPem])).stdout;
    expect(out).toBe('Stored the bundle of d.test (1 X.509, 0 JWT authorities; static).\n');
    const e = json(await tessera(['bundle', 'set', '--trust-domain', 'e.test', '--bundle', '-', '-o', 'json'], eJson));
    expect(e).toMatchObject({ trustDomain: 'e.test', source: 'static', sequenceNumber: '12', x509Authorities: 1, jwtAuthorities: 1 });
    expect(control.reloads).toEqual(['d.test', 'e.test']);
    const stored = await srv.datastore.bundles.get('d.test');
    expect(SpiffeBundle.parse('d.test', stored!.document).x509Bundle.x509Authorities.map((a) => Buffer.from(a).toString('hex'))).toEqual([
      Buffer.from(dDer).toString('hex'),
    ]);
    const events = await srv.datastore.audit.list({ kind: 'federated_bundle.set' });
    expect(events.map((ev) => ev.spiffeId)).toEqual(['spiffe://d.test', 'spiffe://e.test']);
  });

  it('bundle list and bundle show --trust-domain show them', async () => {
    const list = json(await tessera(['bundle', 'list', '-o', 'json']));
    expect(list['bundles'].map((b: { trustDomain: string; source: string }) => [b.trustDomain, b.source])).toEqual([
      ['d.test', 'static'],
      ['e.test', 'static'],
    ]);
    const text = ok(await tessera(['bundle', 'list'])).stdout;
    expect(text).toMatch(/^d\.test +static +1 +0 +0 /m);
    expect(text).toMatch(/^e\.test +static +1 +1 +12 /m);
    expect(text).toMatch(/2 federated bundles\n$/);
    const pem = ok(await tessera(['bundle', 'show', '--trust-domain', 'd.test'])).stdout;
    expect(pem).toBe(encodePem('CERTIFICATE', dDer).replace(/\n?$/, '\n'));
    const doc = JSON.parse(ok(await tessera(['bundle', 'show', '--trust-domain', 'e.test', '--format', 'spiffe'])).stdout);
    expect(doc['spiffe_sequence']).toBe(12);
  });

  it('bundle set replaces a stored bundle', async () => {
    const next = await rootCa('d.test');
    const file = join(srv.dir, 'd2.pem');
    writeFileSync(file, encodePem('CERTIFICATE', next));
    const before = (await srv.datastore.bundles.get('d.test'))!.sequence;
    ok(await tessera(['bundle', 'set', '--trust-domain', 'd.test', '--bundle', file]));
    expect(ok(await tessera(['bundle', 'show', '--trust-domain', 'd.test'])).stdout).toBe(encodePem('CERTIFICATE', next).replace(/\n?$/, '\n'));
    expect((await srv.datastore.bundles.get('d.test'))!.sequence).toBe(before + 1);
  });

  it.each([
    [['bundle', 'set', '--bundle', 'x.pem'], 2, /^tessera: --trust-domain is required/],
    [['bundle', 'set', '--trust-domain', 'x.test'], 2, /^tessera: --bundle is required/],
    [['bundle', 'set', '--trust-domain', 'x.test', '--bundle', '/nonexistent/x.pem'], 2, /^tessera: cannot read --bundle \/nonexistent\/x\.pem: ENOENT\n$/],
    [['bundle', 'set', '--trust-domain', 'x.test', '--bundle', 'EMPTY'], 2, /--bundle \S+empty\.pem is empty/],
    [['bundle', 'set', '--trust-domain', 'x.test', '--bundle', 'JUNK'], 1, /^tessera: bundle was refused: X\.509 bund/],
    [['bundle', 'set', '--trust-domain', 'x.test', '--bundle', 'WRONG'], 1, /^tessera: bundle was refused: .*other\.test/],
    [['bundle', 'set', '--trust-domain', 'acme.test', '--bundle', 'WRONG'], 1, /^tessera: trust_domain "acme\.test" is this server's own trust domain/],
    [['bundle', 'set', '--trust-domain', 'Not Valid', '--bundle', 'WRONG'], 1, /^tessera: trust_domain "Not Valid" is not a valid trust domain name/],
    [['bundle', 'show', '--trust-domain', ''], 2, /^tessera: --trust-domain must not be empty/],
    [['bundle', 'show', '--trust-domain', 'nobody.test'], 1, /^tessera: no bundle stored for trust domain "nobody\.test"\n$/],
    [['bundle', 'delete'], 2, /^tessera: --trust-domain is required/],
    [['bundle', 'delete', '--trust-domain', 'd.test', '--mode', 'force'], 2, /--mode must be one of restrict, dissociate, delete, not "force"/],
    [['bundle', 'delete', '--trust-domain', 'nobody.test'], 1, /^tessera: no bundle stored for trust domain "nobody\.test"\n$/],
    [['bundle', 'delete', '--trust-domain', 'acme.test'], 1, /own trust domain/],
  ])('%j is refused (exit %i) and writes nothing', async (args, exit, message) => {
    const files: Record<string, string> = {
      EMPTY: join(srv.dir, 'empty.pem'),
      JUNK: join(srv.dir, 'junk.pem'),
      WRONG: wrongTdPem,
    };
    const before = srv.rowCounts();
    const r = await tessera(args.map((a) => files[a] ?? a));
    expect(r.code).toBe(exit);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(message);
    expect(srv.rowCounts()).toEqual(before);
  });

  it('bundle delete: restrict refuses while an entry federates with it; dissociate removes the trust domain', async () => {
    await storeBundle('b.test');
    await create('spiffe://acme.test/partner/d', ['unix:uid:4000'], ['--federates-with', 'd.test', '--federates-with', 'b.test']);
    const before = srv.rowCounts();
    const refused = await tessera(['bundle', 'delete', '--trust-domain', 'd.test']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^tessera: 1 entry federates with "d\.test" \(e\.g\. "[0-9a-f-]{36}"\): use mode dissociate/);
    expect(srv.rowCounts()).toEqual(before);

    const out = json(await tessera(['bundle', 'delete', '--trust-domain', 'd.test', '--mode', 'dissociate', '-o', 'json']));
    expect(out).toMatchObject({ trustDomain: 'd.test', deleted: true, mode: 'dissociate' });
    expect(out['entryIds']).toHaveLength(1);
    const entry = await srv.datastore.entries.get(out['entryIds'][0]);
    expect(entry?.federatesWith).toEqual(['b.test']);
    expect(entry?.revision).toBe(2);
    expect(await srv.datastore.bundles.get('d.test')).toBeNull();
    expect(control.reloads.at(-1)).toBe('d.test');
    await srv.datastore.bundles.delete('b.test');
  });

  it('bundle delete --mode delete deletes the entries federating with it; a bundle with no entry just goes', async () => {
    await create('spiffe://acme.test/partner/e', ['unix:uid:4001'], ['--federates-with', 'e.test']);
    const text = ok(await tessera(['bundle', 'delete', '--trust-domain', 'e.test', '--mode', 'delete'])).stdout;
    expect(text).toBe('Deleted the bundle of e.test; deleted 1 entry.\n');
    expect(await listIds(['--spiffe-id', 'spiffe://acme.test/partner/e'])).toEqual([]);
    ok(await tessera(['bundle', 'set', '--trust-domain', 'd.test', '--bundle', dPem]));
    expect(ok(await tessera(['bundle', 'delete', '--trust-domain', 'd.test'])).stdout).toBe('Deleted the bundle of d.test.\n');
    expect(json(await tessera(['bundle', 'list', '-o', 'json']))).toEqual({ bundles: [] });
    const events = await srv.datastore.audit.list({ kind: 'federated_bundle.deleted' });
    expect(events.map((e) => e.details?.['mode'])).toEqual(['dissociate', 'delete', 'restrict']);
  });

  it('bundle set on a trust domain with a relationship is listed as "federation"; delete refuses it', async () => {
    ok(
      await tessera([
        'federation', 'create', '--trust-domain', 'g.test', '--bundle-endpoint-url', 'https://g.example/', '--profile', 'https_web',
      ]),
    );
    const gPem = join(srv.dir, 'g.pem');
    writeFileSync(gPem, encodePem('CERTIFICATE', await rootCa('g.test')));
    const set = ok(await tessera(['bundle', 'set', '--trust-domain', 'g.test', '--bundle', gPem])).stdout;
    expect(set).toMatch(/its federation relationship replaces it at the next fetch/);
    const list = json(await tessera(['bundle', 'list', '-o', 'json']));
    expect(list['bundles'].map((b: { trustDomain: string; source: string }) => [b.trustDomain, b.source])).toEqual([
      ['g.test', 'federation'],
    ]);
    const before = srv.rowCounts();
    const r = await tessera(['bundle', 'delete', '--trust-domain', 'g.test', '--mode', 'delete']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      'tessera: a federation relationship with "g.test" fetches this bundle: delete the relationship ' +
        '(tessera federation delete --trust-domain g.test), which deletes its bundle too\n',
    );
    expect(srv.rowCounts()).toEqual(before);
  });
});

describe('x509 mint and jwt mint', () => {
  const ID = 'spiffe://acme.test/ops/debug';

  it('x509 mint prints an SVID for a fresh key, verifying against the bundle, and audits it', async () => {
    const out = json(await tessera(['x509', 'mint', '--spiffe-id', ID, '--ttl', '600', '--dns', 'debug.acme.test', '-o', 'json']));
    const chain = decodePem(out['svidPem']).map((b) => b.der);
    const verified = verifyX509Svid(chain, srv.ca.currentBundle(), { now: new Date() });
    expect(verified.spiffeId.toString()).toBe(ID);
    const cert = new X509Certificate(chain[0]!);
    expect(cert.subjectAltName).toContain('DNS:debug.acme.test');
    expect(cert.checkPrivateKey(createPrivateKey(out['keyPem']))).toBe(true);
    expect(out['bundlePem']).toBe(srv.ca.currentBundle().x509Bundle.toPem());
    expect(out['expiresAt']).toBe(Math.floor(new Date(cert.validTo).getTime() / 1000));
    expect(out['expiresAt'] - now()).toBeLessThanOrEqual(600);
    expect(out['expiresAt'] - now()).toBeGreaterThan(500);
    const [event] = await srv.datastore.audit.list({ kind: 'x509_svid.minted' });
    expect(event).toMatchObject({ spiffeId: ID, serial: out['serial'], expiresAt: out['expiresAt'] });
    const text = ok(await tessera(['x509', 'mint', '--spiffe-id', ID])).stdout;
    expect(text).toMatch(/^X509-SVID:\n-----BEGIN CERTIFICATE-----\n[\s\S]+Private key:\n-----BEGIN PRIVATE KEY-----[\s\S]+Root CAs:\n-----BEGIN CERTIFICATE-----/);
  });

  it('x509 mint --write DIR writes svid.pem, key.pem (0600) and bundle.pem; the default TTL is an hour', async () => {
    const dir = join(srv.dir, 'minted');
    const out = json(await tessera(['x509', 'mint', '--spiffe-id', ID, '--write', dir, '-o', 'json']));
    expect(out['files']).toEqual({ svid: join(dir, 'svid.pem'), key: join(dir, 'key.pem'), bundle: join(dir, 'bundle.pem') });
    expect(statSync(join(dir, 'key.pem')).mode & 0o777).toBe(0o600);
    chmodSync(join(dir, 'key.pem'), 0o644);
    const cert = new X509Certificate(readFileSync(join(dir, 'svid.pem')));
    expect(cert.checkPrivateKey(createPrivateKey(readFileSync(join(dir, 'key.pem'))))).toBe(true);
    expect(cert.subjectAltName).toBe(`URI:${ID}`);
    expect(readFileSync(join(dir, 'bundle.pem'), 'utf8')).toBe(srv.ca.currentBundle().x509Bundle.toPem());
    const ttl = out['expiresAt'] - now();
    expect(ttl).toBeLessThanOrEqual(3600);
    expect(ttl).toBeGreaterThan(3500);
    const text = ok(await tessera(['x509', 'mint', '--spiffe-id', ID, '--write', dir])).stdout;
    expect(statSync(join(dir, 'key.pem')).mode & 0o777).toBe(0o600);
    expect(text).toMatch(/^Minted an X509-SVID for spiffe:\/\/acme\.test\/ops\/debug \(serial [0-9a-f]+, expires .+\)\.\nWrote /);
  });

  it('jwt mint prints a token that validates against the bundle for its audience, and audits its jti', async () => {
    const token = ok(await tessera(['jwt', 'mint', '--spiffe-id', ID, '--audience', 'db', '--audience', 'cache'])).stdout.trim();
    const svid = await parseAndValidateJwtSvid(token, srv.ca.currentBundle(), ['cache'], { now: new Date() });
    expect(svid.spiffeId.toString()).toBe(ID);
    expect(svid.audience).toEqual(['db', 'cache']);
    const ttl = Math.floor(svid.expiry.getTime() / 1000) - now();
    expect(ttl).toBeLessThanOrEqual(300);
    expect(ttl).toBeGreaterThan(200);
    const out = json(await tessera(['jwt', 'mint', '--spiffe-id', ID, '--audience', 'db', '--ttl', '60', '-o', 'json']));
    const second = await parseAndValidateJwtSvid(out['token'], srv.ca.currentBundle(), ['db'], { now: new Date() });
    expect(Math.floor(second.expiry.getTime() / 1000)).toBe(out['expiresAt']);
    expect(out['expiresAt'] - now()).toBeLessThanOrEqual(60);
    const events = await srv.datastore.audit.list({ kind: 'jwt_svid.minted' });
    expect(events.map((e) => e.jti)).toEqual([svid.claims['jti'], second.claims['jti']]);
    expect(JSON.stringify(events)).not.toContain(token);
  });

  it.each([
    [['x509', 'mint'], 2, /^tessera: --spiffe-id is required/],
    [['x509', 'mint', '--spiffe-id', ID, '--ttl=-5'], 2, /^tessera: --ttl must be between 1 and 2147483647, not -5\n$/],
    [['x509', 'mint', '--spiffe-id', ID, '--ttl', '1h'], 2, /^tessera: --ttl must be a whole number, not "1h"\n$/],
    [['x509', 'mint', '--spiffe-id', ID, '--write', ''], 2, /^tessera: --write must name a directory\n$/],
    [['x509', 'mint', '--spiffe-id', ID, '--write', 'FILE'], 2, /^tessera: cannot write to --write \S+: (EEXIST|ENOTDIR)\n$/],
    [['x509', 'mint', '--spiffe-id', ID, '--ttl', '86401'], 1, /^tessera: ttl_seconds 86401 is above the X509-SVID ceiling of 86400 seconds/],
    [['x509', 'mint', '--spiffe-id', 'spiffe://other.test/x'], 1, /^tessera: spiffe_id "spiffe:\/\/other\.test\/x" is not in trust domain "acme\.test"\n$/],
    [['x509', 'mint', '--spiffe-id', 'spiffe://acme.test/tessera/server'], 1, /^tessera: spiffe_id .* is in the reserved \/tessera\/ namespace/],
    [['x509', 'mint', '--spiffe-id', 'spiffe://acme.test/a/{instance}'], 1, /^tessera: spiffe_id .* is a template: give the SPIFFE ID to mint\n$/],
    [['x509', 'mint', '--spiffe-id', 'acme.test/x'], 1, /^tessera: spiffe_id "acme\.test\/x"/],
    [['x509', 'mint', '--spiffe-id', ID, '--dns', 'not a name!'], 1, /^tessera: /],
    [['jwt', 'mint', '--spiffe-id', ID], 2, /^tessera: --audience is required/],
    [['jwt', 'mint', '--audience', 'db'], 2, /^tessera: --spiffe-id is required/],
    [['jwt', 'mint', '--spiffe-id', ID, '--audience', ''], 2, /^tessera: --audience must not be empty\n$/],
    [['jwt', 'mint', '--spiffe-id', ID, '--audience', 'db', '--ttl', '0'], 2, /^tessera: --ttl must be between 1 and/],
    [['jwt', 'mint', '--spiffe-id', ID, '--audience', 'db', '--ttl', '3601'], 1, /^tessera: ttl_seconds 3601 is above the JWT-SVID ceiling of 3600 seconds/],
    [['jwt', 'mint', '--spiffe-id', 'spiffe://acme.test/tessera/agent/x', '--audience', 'db'], 1, /reserved \/tessera\/ namespace/],
  ])('%j is refused (exit %i), minting and auditing nothing', async (args, exit, message) => {
    const file = join(srv.dir, 'a-file');
    writeFileSync(file, '');
    const before = srv.rowCounts();
    const r = await tessera(args.map((a) => (a === 'FILE' ? file : a)));
    expect(r.code).toBe(exit);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(message);
    expect(srv.rowCounts()).toEqual(before);
  });

  it('the API refuses a missing or malformed public key', async () => {
    const client = srv.client('SvidService');
    await expect(client.call('MintX509Svid', { spiffe_id: ID })).rejects.toMatchObject({
      code: 3,
      details: 'public_key is required (SubjectPublicKeyInfo, DER)',
    });
    await expect(client.call('MintX509Svid', { spiffe_id: ID, public_key: Buffer.from('junk') })).rejects.toMatchObject({
      code: 3,
      details: 'public_key is not a SubjectPublicKeyInfo (DER) public key',
    });
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'der', type: 'spki' });
    await expect(client.call('MintX509Svid', { spiffe_id: ID, public_key: rsa })).rejects.toMatchObject({ code: 3 });
  });
});
