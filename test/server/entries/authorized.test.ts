import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSqliteDatastore, type Datastore, type Entry, type EntryChangeListener, type EntryInput } from '../../../src/server/datastore/index.js';
import { EntryIndex } from '../../../src/server/entries/index.js';
import { fakeClock } from '../../helpers/fake-clock.js';

const SERVER = 'spiffe://example.org/tessera/server';
const AGENT = 'spiffe://example.org/tessera/agent/x509pop/aaaa';
const OTHER = 'spiffe://example.org/tessera/agent/x509pop/bbbb';
const NODE = [{ type: 'x509pop', value: 'subject:cn:node-7' }, { type: 'x509pop', value: 'ca:fingerprint:ff' }];

function input(spiffeId: string, parentId: string, extra: Partial<EntryInput> = {}): EntryInput {
  return {
    spiffeId,
    parentId,
    selectors: [{ type: 'unix', value: 'uid:1000' }],
    role: 'worker',
    x509SvidTtlSeconds: 0,
    jwtSvidTtlSeconds: 0,
    dnsNames: [],
    federatesWith: [],
    hint: '',
    admin: false,
    expiresAt: null,
    ...extra,
  };
}

const ids = (entries: readonly Entry[]) => entries.map((e) => e.spiffeId).sort();
const tick = () => new Promise((r) => setTimeout(r, 0));

describe('EntryIndex', () => {
  let dir: string;
  let ds: Datastore;
  const clock = fakeClock(Date.UTC(2026, 0, 1));

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'tessera-index-'));
    ds = openSqliteDatastore({ path: join(dir, 'ds.sqlite3'), clock });
  });
  afterAll(async () => {
    await ds.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves direct children, node aliases and descendants, and nothing of other agents', async () => {
    const pre = await ds.entries.create(input('spiffe://example.org/pre-existing', AGENT));
    const index = await EntryIndex.create({ entries: ds.entries, serverId: SERVER, clock });
    try {
      expect(ids(index.entriesForAgent(AGENT, NODE))).toEqual([pre.spiffeId]);
      await ds.entries.create(input('spiffe://example.org/nodes/cn-node-7', SERVER, { selectors: [NODE[0]!] }));
      await ds.entries.create(input('spiffe://example.org/nodes/all', SERVER, { selectors: [...NODE, { type: 'x509pop', value: 'x' }] }));
      await ds.entries.create(input('spiffe://example.org/nodes/none', SERVER, { selectors: [] }));
      await ds.entries.create(input('spiffe://example.org/via-alias', 'spiffe://example.org/nodes/cn-node-7'));
      await ds.entries.create(input('spiffe://example.org/via-partial-alias', 'spiffe://example.org/nodes/all'));
      await ds.entries.create(input('spiffe://example.org/via-empty-alias', 'spiffe://example.org/nodes/none'));
      await ds.entries.create(input('spiffe://example.org/child', 'spiffe://example.org/via-alias'));
      await ds.entries.create(input('spiffe://example.org/grandchild', 'spiffe://example.org/child'));
      await ds.entries.create(input('spiffe://example.org/other', OTHER));
      // a cycle must not loop
      await ds.entries.create(input('spiffe://example.org/via-alias', 'spiffe://example.org/grandchild', { selectors: [{ type: 'unix', value: 'uid:1' }] }));
      const got = ids(index.entriesForAgent(AGENT, NODE));
      expect(got).toEqual(
        [
          pre.spiffeId,
          'spiffe://example.org/via-alias',
          'spiffe://example.org/via-alias',
          'spiffe://example.org/child',
          'spiffe://example.org/grandchild',
        ].sort(),
      );
      expect(ids(index.entriesForAgent(OTHER, []))).toEqual(['spiffe://example.org/other']);
      expect(index.entriesForAgent(OTHER, NODE).map((e) => e.spiffeId)).toContain('spiffe://example.org/child');
      expect(index.authorizedFor(AGENT, NODE).byId.get(pre.id)).toEqual(pre);
    } finally {
      index.close();
    }
  });

  it('follows updates and deletions, emits one change per burst, and ignores stale revisions', async () => {
    const index = await EntryIndex.create({ entries: ds.entries, serverId: SERVER, clock });
    let changes = 0;
    index.onChange(() => changes++);
    try {
      const a = 'spiffe://example.org/tessera/agent/join_token/cccc';
      const created = await ds.entries.createMany([input('spiffe://example.org/m1', a), input('spiffe://example.org/m2', a)]);
      await tick();
      expect(changes).toBe(1);
      expect(ids(index.entriesForAgent(a, []))).toEqual(['spiffe://example.org/m1', 'spiffe://example.org/m2']);
      const e1 = created[0]!.ok ? created[0]!.entry : undefined;
      const moved = await ds.entries.update(e1!.id, input('spiffe://example.org/m1', OTHER));
      expect(ids(index.entriesForAgent(a, []))).toEqual(['spiffe://example.org/m2']);
      expect(ids(index.entriesForAgent(OTHER, []))).toContain('spiffe://example.org/m1');
      await ds.entries.delete(moved.id);
      expect(ids(index.entriesForAgent(OTHER, []))).not.toContain('spiffe://example.org/m1');
      await tick();
      expect(changes).toBe(3);
    } finally {
      index.close();
    }

    // stale events from a feed: an older revision never replaces a newer one, a stale delete does not remove it
    let emit: EntryChangeListener = () => undefined;
    const entry = { ...input('spiffe://example.org/s', AGENT), id: 'e-1', revision: 3, createdAt: 1 } as Entry;
    const fake = await EntryIndex.create({
      serverId: SERVER,
      clock,
      entries: {
        listAll: async () => [entry],
        onChange: (l) => ((emit = l), () => undefined),
      },
    });
    emit({ kind: 'updated', entry: { ...entry, revision: 2, parentId: OTHER } });
    emit({ kind: 'deleted', entry: { ...entry, revision: 2 } });
    expect(ids(fake.entriesForAgent(AGENT, []))).toEqual(['spiffe://example.org/s']);
    emit({ kind: 'updated', entry: { ...entry, revision: 4, parentId: OTHER } });
    expect(fake.entriesForAgent(AGENT, [])).toEqual([]);
    fake.close();
  });

  it('leaves out expired entries (and what hangs below them) and aliases that expired', async () => {
    const index = await EntryIndex.create({ entries: ds.entries, serverId: SERVER, clock });
    try {
      const a = 'spiffe://example.org/tessera/agent/join_token/dddd';
      const nowS = Math.floor(clock.now().getTime() / 1000);
      await ds.entries.create(input('spiffe://example.org/soon', a, { expiresAt: nowS + 10 }));
      await ds.entries.create(input('spiffe://example.org/below-soon', 'spiffe://example.org/soon'));
      await ds.entries.create(input('spiffe://example.org/gone', a, { expiresAt: nowS - 1 }));
      await ds.entries.create(input('spiffe://example.org/alias-soon', SERVER, { selectors: [{ type: 'join_token', value: 'dddd' }], expiresAt: nowS + 20 }));
      await ds.entries.create(input('spiffe://example.org/under-alias', 'spiffe://example.org/alias-soon'));
      const sel = [{ type: 'join_token', value: 'dddd' }];
      expect(ids(index.entriesForAgent(a, sel))).toEqual([
        'spiffe://example.org/below-soon',
        'spiffe://example.org/soon',
        'spiffe://example.org/under-alias',
      ]);
      clock.advance(11_000);
      expect(ids(index.entriesForAgent(a, sel))).toEqual(['spiffe://example.org/under-alias']);
      clock.advance(10_000);
      expect(ids(index.entriesForAgent(a, sel))).toEqual([]);
    } finally {
      index.close();
    }
  });

  it('answers from its index for an agent among many entries', async () => {
    const index = await EntryIndex.create({ entries: ds.entries, serverId: SERVER, clock });
    try {
      const many = Array.from({ length: 5000 }, (_, i) => input(`spiffe://example.org/w/${i}`, `spiffe://example.org/tessera/agent/join_token/n${i % 500}`));
      await ds.entries.createMany(many);
      const mine = 'spiffe://example.org/tessera/agent/join_token/n7';
      expect(index.entriesForAgent(mine, [])).toHaveLength(10);
      expect(index.entriesForAgent('spiffe://example.org/tessera/agent/join_token/n499', [])).toHaveLength(10);
    } finally {
      index.close();
    }
  });
});
