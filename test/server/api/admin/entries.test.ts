import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EntryMessage, EntryResultMessage } from '../../../../src/server/api/admin/messages.js';
import { startAdminTestServer, type AdminTestClient, type AdminTestServer } from '../../../helpers/admin-server.js';

const AGENT = 'spiffe://acme.test/tessera/agent/join_token/0123456789abcdef0123456789abcdef';

const entry = (patch: Partial<EntryMessage> & Record<string, unknown> = {}) => ({
  spiffe_id: 'spiffe://acme.test/web',
  parent_id: AGENT,
  selectors: [{ type: 'unix', value: 'uid:1000' }],
  ...patch,
});

let srv: AdminTestServer;
let entries: AdminTestClient;

beforeAll(async () => {
  srv = await startAdminTestServer();
  entries = srv.client('EntryService');
  await srv.datastore.federation.create({ trustDomain: 'partner.test', bundleEndpointUrl: 'https://partner.test/', profile: 'https_web' });
});
afterAll(async () => srv?.close());

async function create(...items: object[]): Promise<EntryResultMessage[]> {
  return (await entries.call<{ results: EntryResultMessage[] }>('BatchCreateEntry', { entries: items })).results;
}

async function expectStatus(p: Promise<unknown>, code: status): Promise<string> {
  const err = await p.then(
    () => {
      throw new Error(`expected status ${status[code]}, the call succeeded`);
    },
    (e: { code: status; details: string }) => e,
  );
  expect(status[err.code], err.details).toBe(status[code]);
  return err.details;
}

describe('EntryService happy paths', () => {
  let created: EntryMessage;

  it('BatchCreateEntry creates an entry and records entry.created', async () => {
    const [r] = await create(
      entry({
        spiffe_id: 'spiffe://acme.test/happy/{instance}',
        role: 'ROLE_SUPERVISOR',
        x509_svid_ttl_seconds: 600,
        dns_names: ['happy.acme.test'],
        federates_with: ['partner.test'],
        hint: 'h',
        admin: true,
        expires_at: 4_000_000_000,
      }),
    );
    expect(r!.error_code).toBe(0);
    created = r!.entry!;
    expect(created).toMatchObject({
      spiffe_id: 'spiffe://acme.test/happy/{instance}',
      parent_id: AGENT,
      role: 'ROLE_SUPERVISOR',
      x509_svid_ttl_seconds: 600,
      jwt_svid_ttl_seconds: 0,
      dns_names: ['happy.acme.test'],
      federates_with: ['partner.test'],
      hint: 'h',
      admin: true,
      expires_at: 4_000_000_000,
      revision: 1,
    });
    expect(created.id).toMatch(/^[0-9a-f-]{36}$/);
    const events = await srv.datastore.audit.list({ kind: 'entry.created' });
    expect(events.at(-1)).toMatchObject({ entryId: created.id, spiffeId: created.spiffe_id });
  });

  it('GetEntry, ListEntries (filters) and CountEntries', async () => {
    expect((await entries.call<{ entry: EntryMessage }>('GetEntry', { id: created.id })).entry).toEqual(created);
    const all = (await entries.call<{ entries: EntryMessage[] }>('ListEntries', {})).entries;
    expect(all.map((e) => e.id)).toContain(created.id);
    const bySpiffe = await entries.call<{ entries: EntryMessage[] }>('ListEntries', { spiffe_id: created.spiffe_id });
    expect(bySpiffe.entries.map((e) => e.id)).toEqual([created.id]);
    const byParent = await entries.call<{ entries: EntryMessage[] }>('ListEntries', { parent_id: 'spiffe://acme.test/none' });
    expect(byParent.entries).toEqual([]);
    const { count } = await entries.call<{ count: number }>('CountEntries', {});
    expect(count).toBe(all.length);
  });

  it('UpdateEntry replaces the fields, bumps the revision and records entry.updated', async () => {
    const { entry: updated } = await entries.call<{ entry: EntryMessage }>('UpdateEntry', {
      entry: { ...created, hint: 'changed', x509_svid_ttl_seconds: 900 },
    });
    expect(updated).toMatchObject({ id: created.id, hint: 'changed', x509_svid_ttl_seconds: 900, revision: 2 });
    expect((await srv.datastore.audit.list({ kind: 'entry.updated' })).at(-1)).toMatchObject({ entryId: created.id });
    created = updated;
  });

  it('UpdateEntry with a stale revision is FailedPrecondition', async () => {
    await expectStatus(
      entries.call('UpdateEntry', { entry: { ...created, revision: 1 } }),
      status.FAILED_PRECONDITION,
    );
  });

  it('DeleteEntry removes it and records entry.deleted', async () => {
    await entries.call('DeleteEntry', { id: created.id });
    await expectStatus(entries.call('GetEntry', { id: created.id }), status.NOT_FOUND);
    expect((await srv.datastore.audit.list({ kind: 'entry.deleted' })).at(-1)).toMatchObject({ entryId: created.id });
  });
});

describe('BatchCreateEntry with good and bad items', () => {
  it('reports per item, in order, and stores only the good ones', async () => {
    const before = (await srv.datastore.entries.list()).length;
    const results = await create(
      entry({ spiffe_id: 'spiffe://acme.test/mix/a' }),
      entry({ spiffe_id: 'spiffe://other.test/mix/b' }),
      entry({ spiffe_id: 'spiffe://acme.test/mix/c', selectors: [{ type: 'k8s', value: 'ns:x' }] }),
      entry({ spiffe_id: 'spiffe://acme.test/mix/a' }),
      entry({ spiffe_id: 'spiffe://acme.test/mix/d', role: 'ROLE_SUPERVISOR', x509_svid_ttl_seconds: 7200 }),
      entry({ spiffe_id: 'spiffe://acme.test/mix/e', role: 'ROLE_SUPERVISOR' }),
      entry({ spiffe_id: 'spiffe://acme.test/mix/e', role: 'ROLE_WORKER', selectors: [{ type: 'unix', value: 'uid:2' }] }),
    );
    expect(results.map((r) => status[r.error_code])).toEqual([
      'OK',
      'INVALID_ARGUMENT',
      'INVALID_ARGUMENT',
      'ALREADY_EXISTS',
      'INVALID_ARGUMENT',
      'OK',
      'FAILED_PRECONDITION',
    ]);
    expect(results[1]!.error_message).toMatch(/not in trust domain "acme.test"/);
    expect(results[2]!.error_message).toMatch(/unknown type "k8s"/);
    expect(results[4]!.error_message).toBe(
      'x509_svid_ttl_seconds 7200 exceeds the supervisor ceiling of 900 (policy.supervisor.maxX509TtlSeconds)',
    );
    for (const r of results) expect(r.entry === null || r.entry === undefined).toBe(r.error_code !== 0);
    const after = await srv.datastore.entries.list();
    expect(after.length - before).toBe(2);
    expect(after.map((e) => e.spiffeId)).toEqual(expect.arrayContaining(['spiffe://acme.test/mix/a', 'spiffe://acme.test/mix/e']));
  });
});

describe('supervisor/worker disjointness (architecture §5 rule 6)', () => {
  it('refuses a worker entry with a supervisor entry\'s SPIFFE ID, naming that entry', async () => {
    const [sup] = await create(entry({ spiffe_id: 'spiffe://acme.test/boss/{instance}', role: 'ROLE_SUPERVISOR' }));
    const [worker] = await create(
      entry({ spiffe_id: 'spiffe://acme.test/boss/{instance}', selectors: [{ type: 'unix', value: 'uid:7' }] }),
    );
    expect(status[worker!.error_code]).toBe('FAILED_PRECONDITION');
    expect(worker!.error_message).toContain(JSON.stringify(sup!.entry!.id));
    // Switching an existing worker to that identity by update is refused too.
    const [w] = await create(entry({ spiffe_id: 'spiffe://acme.test/w1' }));
    const details = await expectStatus(
      entries.call('UpdateEntry', { entry: { ...w!.entry!, spiffe_id: 'spiffe://acme.test/boss/{instance}' } }),
      status.FAILED_PRECONDITION,
    );
    expect(details).toContain(sup!.entry!.id);
  });
});

describe('EntryService bad input writes nothing', () => {
  let existing: EntryMessage;
  let other: EntryMessage;

  beforeAll(async () => {
    const results = await create(
      entry({ spiffe_id: 'spiffe://acme.test/bad/existing' }),
      entry({ spiffe_id: 'spiffe://acme.test/bad/other' }),
    );
    [existing, other] = results.map((r) => r.entry!) as [EntryMessage, EntryMessage];
  });

  const UNKNOWN = '00000000-0000-4000-8000-000000000000';
  type Row = [string, string, keyof typeof status, () => object];
  const rows: Row[] = [
    ['BatchCreateEntry', 'no entries', 'INVALID_ARGUMENT', () => ({ entries: [] })],
    ['BatchCreateEntry', 'too many entries', 'INVALID_ARGUMENT', () => ({ entries: Array.from({ length: 1001 }, () => entry()) })],
    ['UpdateEntry', 'no entry', 'INVALID_ARGUMENT', () => ({})],
    ['UpdateEntry', 'no id', 'INVALID_ARGUMENT', () => ({ entry: { ...existing, id: '' } })],
    ['UpdateEntry', 'malformed id', 'INVALID_ARGUMENT', () => ({ entry: { ...existing, id: 'nope' } })],
    ['UpdateEntry', 'unknown id', 'NOT_FOUND', () => ({ entry: { ...existing, id: UNKNOWN } })],
    ['UpdateEntry', 'invalid SPIFFE ID', 'INVALID_ARGUMENT', () => ({ entry: { ...existing, spiffe_id: 'spiffe://acme.test/a//b' } })],
    ['UpdateEntry', 'unknown selector type', 'INVALID_ARGUMENT', () => ({ entry: { ...existing, selectors: [{ type: 'docker', value: 'x' }] } })],
    ['UpdateEntry', 'TTL out of bounds', 'INVALID_ARGUMENT', () => ({ entry: { ...existing, jwt_svid_ttl_seconds: 3601 } })],
    ['UpdateEntry', 'negative TTL', 'INVALID_ARGUMENT', () => ({ entry: { ...existing, x509_svid_ttl_seconds: -1 } })],
    ['UpdateEntry', 'duplicate of another entry', 'ALREADY_EXISTS', () => ({ entry: { ...existing, spiffe_id: other.spiffe_id } })],
    ['UpdateEntry', 'bad DNS name', 'INVALID_ARGUMENT', () => ({ entry: { ...existing, dns_names: ['-x-'] } })],
    ['UpdateEntry', 'hint too long', 'INVALID_ARGUMENT', () => ({ entry: { ...existing, hint: 'x'.repeat(1025) } })],
    ['UpdateEntry', 'own trust domain federated', 'INVALID_ARGUMENT', () => ({ entry: { ...existing, federates_with: ['acme.test'] } })],
    ['UpdateEntry', 'federates with an unknown trust domain', 'FAILED_PRECONDITION', () => ({ entry: { ...existing, federates_with: ['nope.test'] } })],
    ['UpdateEntry', 'malformed selector value', 'INVALID_ARGUMENT', () => ({ entry: { ...existing, selectors: [{ type: 'unix', value: 'uid:abc' }] } })],
    ['UpdateEntry', 'negative expires_at', 'INVALID_ARGUMENT', () => ({ entry: { ...existing, expires_at: -3 } })],
    ['DeleteEntry', 'no id', 'INVALID_ARGUMENT', () => ({})],
    ['DeleteEntry', 'malformed id', 'INVALID_ARGUMENT', () => ({ id: 'x; DROP TABLE entries' })],
    ['DeleteEntry', 'unknown id', 'NOT_FOUND', () => ({ id: UNKNOWN })],
    ['GetEntry', 'no id', 'INVALID_ARGUMENT', () => ({})],
    ['GetEntry', 'malformed id', 'INVALID_ARGUMENT', () => ({ id: '123' })],
    ['GetEntry', 'unknown id', 'NOT_FOUND', () => ({ id: UNKNOWN })],
    ['ListEntries', 'invalid spiffe_id filter', 'INVALID_ARGUMENT', () => ({ spiffe_id: 'http://acme.test/x' })],
    ['ListEntries', 'invalid parent_id filter', 'INVALID_ARGUMENT', () => ({ parent_id: 'spiffe://acme.test/x/' })],
  ];

  it.each(rows)('%s with %s → %s', async (method, _name, code, request) => {
    const before = srv.rowCounts();
    const details = await expectStatus(entries.call(method, request()), status[code]);
    expect(details).toMatch(/^[a-z]/);
    expect(details).not.toMatch(/\n/);
    expect(srv.rowCounts()).toEqual(before);
  });

  it('BatchCreateEntry with only bad items writes nothing', async () => {
    const before = srv.rowCounts();
    const results = await create(
      entry({ spiffe_id: 'not-an-id' }),
      entry({ spiffe_id: existing.spiffe_id }),
      entry({ x509_svid_ttl_seconds: 10 ** 6 }),
      entry({ parent_id: '' }),
      entry({ selectors: [] }),
    );
    expect(results.map((r) => status[r.error_code])).toEqual([
      'INVALID_ARGUMENT',
      'ALREADY_EXISTS',
      'INVALID_ARGUMENT',
      'INVALID_ARGUMENT',
      'INVALID_ARGUMENT',
    ]);
    expect(srv.rowCounts()).toEqual(before);
  });
});

describe('federates_with names a trust domain this server knows (issue 15)', () => {
  it('refuses nope.test (no relationship, no bundle) with FAILED_PRECONDITION naming it and what to do', async () => {
    const [r] = await create(entry({ spiffe_id: 'spiffe://acme.test/fed/nope', federates_with: ['partner.test', 'nope.test'] }));
    expect(status[r!.error_code]).toBe('FAILED_PRECONDITION');
    expect(r!.error_message).toBe(
      'federates_with[1] "nope.test" has no federation relationship or bundle on this server; ' +
        'create one first (tessera federation create --trust-domain nope.test ...)',
    );
    expect(await srv.datastore.entries.list({ spiffeId: 'spiffe://acme.test/fed/nope' })).toEqual([]);
  });

  it('accepts a trust domain with only a stored bundle (no relationship)', async () => {
    await srv.datastore.bundles.put('static.test', JSON.stringify({ keys: [], spiffe_sequence: 1 }), 1);
    const [r] = await create(entry({ spiffe_id: 'spiffe://acme.test/fed/static', federates_with: ['static.test'] }));
    expect(r!.error_message).toBe('');
    expect(r!.entry!.federates_with).toEqual(['static.test']);
  });
});
