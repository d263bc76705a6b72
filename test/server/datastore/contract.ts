/**
 * The contract every Datastore implementation must meet (SQLite now, PostgreSQL next). Run it from an
 * implementation's test file:
 *
 *   runDatastoreContract('sqlite', () => openSqliteDatastore({ path }), { child: {...} });
 *
 * `open` must return a new connection to the SAME database on every call: the suite opens several to race them and
 * to check that data survives close + reopen. Tests share that database, so each one works on its own fresh names
 * (random SPIFFE IDs, trust domains, server ids) and never assumes the database is empty.
 *
 * `options.child` says how a child process opens the same database; the suite then races `node -e` processes on it.
 */
import { spawn } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TesseraError, type TesseraErrorCode } from '../../../src/common/errors.js';
import type {
  AgentAttestation,
  Datastore,
  EntryChange,
  EntryInput,
  NewKeyRecord,
} from '../../../src/server/datastore/index.js';
import type { FederationRelationshipInput } from '../../../src/server/federation/types.js';

export interface ChildOpener {
  /** URL or absolute path of the module to import in the child. */
  module: string;
  /** Its export that opens the datastore, called with `options`. */
  exportName: string;
  /** JSON-serializable argument of the opener. */
  options: unknown;
  /** Extra node arguments, e.g. ['--import', <tsx loader URL>] to load TypeScript. */
  nodeArgs?: string[];
}

export interface DatastoreContractOptions {
  child?: ChildOpener;
}

type Open = () => Promise<Datastore> | Datastore;

export async function expectCode(promise: Promise<unknown>, code: TesseraErrorCode): Promise<TesseraError> {
  let caught: unknown;
  try {
    await promise;
  } catch (err) {
    caught = err;
  }
  expect(caught, `expected a rejection with ${code}`).toBeInstanceOf(TesseraError);
  expect((caught as TesseraError).code).toBe(code);
  return caught as TesseraError;
}

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

function uniq(): string {
  return randomUUID().slice(0, 8);
}

function entryInput(overrides: Partial<EntryInput> = {}): EntryInput {
  const n = uniq();
  return {
    spiffeId: `spiffe://acme.test/workload/${n}`,
    parentId: `spiffe://acme.test/tessera/agent/join_token/${n}`,
    selectors: [
      { type: 'unix', value: `uid:${n}` },
      { type: 'unix', value: 'gid:1000' },
    ],
    role: 'worker',
    x509SvidTtlSeconds: 3600,
    jwtSvidTtlSeconds: 300,
    dnsNames: ['a.example'],
    federatesWith: ['other.test'],
    hint: 'internal',
    admin: false,
    expiresAt: null,
    ...overrides,
  };
}

function attestation(overrides: Partial<AgentAttestation> = {}): AgentAttestation {
  return {
    spiffeId: `spiffe://acme.test/tessera/agent/join_token/${uniq()}`,
    attestor: 'join_token',
    selectors: [{ type: 'join_token', value: 'node-1' }],
    svidSerial: '01ab',
    svidExpiresAt: 2_000_000_000,
    attestedAt: 1_800_000_000,
    ...overrides,
  };
}

function key(serverId: string, overrides: Partial<NewKeyRecord> = {}): NewKeyRecord {
  return {
    id: `key-${uniq()}`,
    kind: 'x509_ca',
    serverId,
    publicMaterial: new Uint8Array([0x30, 0x82, 0x01, 0x0a, 0, 255]),
    privateKeyFile: `keys/${uniq()}.key`,
    notAfter: 2_000_000_000,
    ...overrides,
  };
}

/** Spawns `node -e` children that open the datastore, wait for "go" on stdin together, then run `op`. */
async function raceChildren(child: ChildOpener, count: number, op: unknown): Promise<unknown[]> {
  const script = `
    const [moduleUrl, exportName, optionsJson, opJson] = process.argv.slice(1);
    const mod = await import(moduleUrl);
    const ds = await mod[exportName](JSON.parse(optionsJson));
    const op = JSON.parse(opJson);
    process.stdout.write('ready\\n');
    await new Promise((resolve) => process.stdin.once('data', resolve));
    const results = [];
    for (const item of op.items) {
      try {
        if (op.kind === 'consume') results.push(await ds.joinTokens.consume(item, op.now));
        else results.push({ ok: true, id: (await ds.entries.create(item)).id });
      } catch (err) {
        results.push({ ok: false, code: err && err.code, message: String(err && err.message) });
      }
    }
    await ds.close();
    process.stdout.write(JSON.stringify(results) + '\\n');
  `;
  const args = [JSON.stringify(child.options), JSON.stringify(op)];
  const children = Array.from({ length: count }, () => {
    const proc = spawn(
      process.execPath,
      [...(child.nodeArgs ?? []), '--input-type=module', '-e', script, child.module, child.exportName, ...args],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    const ready = new Promise<void>((resolve, reject) => {
      proc.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
        if (stdout.startsWith('ready\n')) resolve();
      });
      proc.on('close', () => reject(new Error(`child ended before it was ready: ${stderr}`)));
    });
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const done = new Promise<unknown>((resolve, reject) => {
      proc.on('error', reject);
      proc.on('close', (code) => {
        if (code !== 0) return reject(new Error(`child exited with ${code}: ${stderr}`));
        const lines = stdout.trim().split('\n');
        resolve(JSON.parse(lines[lines.length - 1]!));
      });
    });
    return { proc, ready, done };
  });
  try {
    // Every child has opened the datastore before any of them is released.
    await Promise.all(children.map((c) => c.ready));
    for (const c of children) c.proc.stdin.end('go\n');
    return await Promise.all(children.map((c) => c.done));
  } finally {
    for (const c of children) if (c.proc.exitCode === null) c.proc.kill();
  }
}

export function runDatastoreContract(name: string, open: Open, options: DatastoreContractOptions = {}): void {
  describe(`Datastore contract: ${name}`, () => {
    let ds: Datastore;
    beforeAll(async () => {
      ds = await open();
    });
    afterAll(async () => {
      await ds.close();
    });

    describe('entries', () => {
      it('creates an entry with a uuid, revision 1 and its selectors as a sorted set', async () => {
        const input = entryInput({
          selectors: [
            { type: 'unix', value: 'uid:1' },
            { type: 'systemd', value: 'unit:a.service' },
            { type: 'unix', value: 'uid:1' },
          ],
          expiresAt: 1_900_000_000,
          admin: true,
          role: 'supervisor',
        });
        const entry = await ds.entries.create(input);
        expect(entry.id).toMatch(UUID_V4);
        expect(entry.revision).toBe(1);
        expect(Number.isInteger(entry.createdAt)).toBe(true);
        expect(entry).toMatchObject({ ...input, selectors: expect.any(Array) });
        expect(entry.selectors).toEqual([
          { type: 'systemd', value: 'unit:a.service' },
          { type: 'unix', value: 'uid:1' },
        ]);
        expect(await ds.entries.get(entry.id)).toEqual(entry);
      });

      it('returns null for an unknown id', async () => {
        expect(await ds.entries.get(randomUUID())).toBeNull();
      });

      it('keeps no reference to the caller arrays', async () => {
        const dnsNames = ['x.example'];
        const entry = await ds.entries.create(entryInput({ dnsNames }));
        dnsNames.push('y.example');
        expect(entry.dnsNames).toEqual(['x.example']);
        expect((await ds.entries.get(entry.id))?.dnsNames).toEqual(['x.example']);
      });

      it('refuses the same spiffeId + parentId + selector set in any order with ALREADY_EXISTS, writing nothing', async () => {
        const input = entryInput();
        await ds.entries.create(input);
        const before = await ds.entries.count();
        await expectCode(
          ds.entries.create({ ...input, selectors: [...input.selectors].reverse(), hint: 'other', admin: true }),
          'ALREADY_EXISTS',
        );
        expect(await ds.entries.count()).toBe(before);
        expect(await ds.entries.list({ spiffeId: input.spiffeId })).toHaveLength(1);
      });

      it('accepts the same SPIFFE ID under another parent or with another selector set', async () => {
        const input = entryInput();
        await ds.entries.create(input);
        await ds.entries.create({ ...input, parentId: `${input.parentId}-2` });
        await ds.entries.create({ ...input, selectors: [...input.selectors, { type: 'unix', value: 'user:x' }] });
        await ds.entries.create({ ...input, selectors: input.selectors.slice(0, 1) });
        expect(await ds.entries.list({ spiffeId: input.spiffeId })).toHaveLength(4);
      });

      it('refuses a record its schema cannot hold with INVALID_ARGUMENT and writes nothing of it', async () => {
        const before = await ds.entries.count();
        const bad = entryInput();
        await expectCode(ds.entries.create({ ...bad, role: 'boss' as never }), 'INVALID_ARGUMENT');
        await expectCode(ds.entries.create({ ...bad, x509SvidTtlSeconds: 1.5 }), 'INVALID_ARGUMENT');
        await expectCode(ds.entries.create({ ...bad, jwtSvidTtlSeconds: -1 }), 'INVALID_ARGUMENT');
        expect(await ds.entries.count()).toBe(before);
        expect(await ds.entries.list({ matchingSelectors: bad.selectors })).toEqual([]);
      });

      it('createMany gives each item its own result and keeps the successes', async () => {
        const existing = await ds.entries.create(entryInput());
        const a = entryInput();
        const b = entryInput();
        const changes: EntryChange[] = [];
        const off = ds.entries.onChange((c) => changes.push(c));
        const results = await ds.entries.createMany([a, existing, b, { ...a }]);
        off();
        expect(results.map((r) => (r.ok ? 'ok' : r.error.code))).toEqual([
          'ok',
          'ALREADY_EXISTS',
          'ok',
          'ALREADY_EXISTS',
        ]);
        for (const r of results) if (!r.ok) expect(r.error).toBeInstanceOf(TesseraError);
        const created = results.flatMap((r) => (r.ok ? [r.entry] : []));
        for (const e of created) expect(await ds.entries.get(e.id)).toEqual(e);
        expect(changes).toEqual(created.map((entry) => ({ kind: 'created', entry })));
        expect(await ds.entries.createMany([])).toEqual([]);
      });

      it('update replaces the fields, bumps the revision and keeps id and createdAt', async () => {
        const entry = await ds.entries.create(entryInput());
        const next = entryInput({ role: 'supervisor', dnsNames: [], federatesWith: [], expiresAt: 1_950_000_000 });
        const updated = await ds.entries.update(entry.id, next);
        expect(updated).toMatchObject({
          ...next,
          selectors: [...next.selectors].sort((x, y) => (x.value < y.value ? -1 : 1)),
          id: entry.id,
          revision: 2,
          createdAt: entry.createdAt,
        });
        expect(await ds.entries.get(entry.id)).toEqual(updated);
        // the old selectors no longer find it, the new ones do
        expect(await ds.entries.list({ matchingSelectors: entry.selectors })).toEqual([]);
        expect((await ds.entries.list({ matchingSelectors: next.selectors })).map((e) => e.id)).toEqual([entry.id]);
        const again = await ds.entries.update(entry.id, next, { expectedRevision: 2 });
        expect(again.revision).toBe(3);
      });

      it('update fails with NOT_FOUND, FAILED_PRECONDITION on a stale revision, ALREADY_EXISTS on a taken identity', async () => {
        await expectCode(ds.entries.update(randomUUID(), entryInput()), 'NOT_FOUND');
        const one = await ds.entries.create(entryInput());
        const two = await ds.entries.create(entryInput());
        await expectCode(ds.entries.update(one.id, entryInput(), { expectedRevision: 7 }), 'FAILED_PRECONDITION');
        await expectCode(
          ds.entries.update(two.id, { ...one, selectors: [...one.selectors].reverse() }),
          'ALREADY_EXISTS',
        );
        expect(await ds.entries.get(one.id)).toEqual(one);
        expect(await ds.entries.get(two.id)).toEqual(two);
      });

      it('delete returns the record, removes it and its selectors; NOT_FOUND after', async () => {
        const entry = await ds.entries.create(entryInput());
        expect(await ds.entries.delete(entry.id)).toEqual(entry);
        expect(await ds.entries.get(entry.id)).toBeNull();
        expect(await ds.entries.list({ matchingSelectors: entry.selectors })).toEqual([]);
        await expectCode(ds.entries.delete(entry.id), 'NOT_FOUND');
      });

      it('lists by spiffeId, parentId or both, ordered by createdAt then id', async () => {
        const base = entryInput();
        const a = await ds.entries.create(base);
        const b = await ds.entries.create({ ...base, selectors: [{ type: 'unix', value: `uid:${uniq()}` }] });
        const c = await ds.entries.create({ ...entryInput(), parentId: base.parentId });
        const sorted = (xs: typeof a[]) =>
          [...xs].sort((x, y) => x.createdAt - y.createdAt || (x.id < y.id ? -1 : x.id > y.id ? 1 : 0));
        expect(await ds.entries.list({ spiffeId: base.spiffeId })).toEqual(sorted([a, b]));
        expect(await ds.entries.list({ parentId: base.parentId })).toEqual(sorted([a, b, c]));
        expect(await ds.entries.list({ spiffeId: c.spiffeId, parentId: base.parentId })).toEqual([c]);
        expect(await ds.entries.list({ spiffeId: 'spiffe://acme.test/none' })).toEqual([]);
        const all = await ds.entries.list();
        expect(all.map((e) => e.id)).toEqual(expect.arrayContaining([a.id, b.id, c.id]));
      });

      it('filters by selector match mode, SPIFFE ID prefix, federates-with and hint; count takes the same filter', async () => {
        const n = uniq();
        const s1 = { type: 'unix', value: `uid:${n}` };
        const s2 = { type: 'cgroup', value: `path:/${n}` };
        const s3 = { type: 'systemd', value: `unit:${n}.service` };
        const prefix = `spiffe://acme.test/f${n}/`;
        const one = await ds.entries.create(
          entryInput({ spiffeId: `${prefix}one`, selectors: [s1], federatesWith: [`a${n}.test`], hint: `h${n}` }),
        );
        const two = await ds.entries.create(
          entryInput({ spiffeId: `${prefix}two`, selectors: [s1, s2], federatesWith: [`a${n}.test`, `b${n}.test`] }),
        );
        const three = await ds.entries.create(entryInput({ spiffeId: `spiffe://acme.test/g${n}`, selectors: [s2, s3] }));
        const ids = async (filter: Parameters<typeof ds.entries.list>[0]) => {
          const found = (await ds.entries.list(filter)).map((e) => e.id).sort();
          expect(await ds.entries.count(filter)).toBe(found.length);
          return found;
        };
        const sorted = (...xs: { id: string }[]) => xs.map((x) => x.id).sort();
        expect(await ids({ selectors: { list: [s1, s2], match: 'exact' } })).toEqual(sorted(two));
        expect(await ids({ selectors: { list: [s1, s2], match: 'subset' } })).toEqual(sorted(one, two));
        expect(await ids({ selectors: { list: [s1], match: 'superset' } })).toEqual(sorted(one, two));
        expect(await ids({ selectors: { list: [s1, s3], match: 'any' } })).toEqual(sorted(one, two, three));
        expect(await ids({ selectors: { list: [s3, s3, s2], match: 'exact' } })).toEqual(sorted(three));
        expect(await ids({ spiffeIdPrefix: prefix })).toEqual(sorted(one, two));
        // a prefix holding LIKE wildcards matches literally
        expect(await ids({ spiffeIdPrefix: `spiffe://acme.test/_${n.slice(1)}` })).toEqual([]);
        expect(await ids({ spiffeIdPrefix: 'spiffe://acme.test/%' })).toEqual([]);
        expect(await ids({ federatesWith: [`a${n}.test`] })).toEqual(sorted(one, two));
        expect(await ids({ federatesWith: [`a${n}.test`, `b${n}.test`] })).toEqual(sorted(two));
        expect(await ids({ hint: `h${n}` })).toEqual(sorted(one));
        expect(await ids({ spiffeIdPrefix: prefix, selectors: { list: [s2], match: 'any' } })).toEqual(sorted(two));
      });

      it('lists entries whose selectors are all among the given ones', async () => {
        const n = uniq();
        const s1 = { type: 'unix', value: `uid:${n}` };
        const s2 = { type: 'cgroup', value: `path:/${n}` };
        const s3 = { type: 'systemd', value: `unit:${n}.service` };
        const both = await ds.entries.create(entryInput({ selectors: [s1, s2] }));
        const one = await ds.entries.create(entryInput({ selectors: [s1] }));
        const ids = async (sel: typeof s1[], parentId?: string) =>
          (await ds.entries.list({ matchingSelectors: sel, ...(parentId ? { parentId } : {}) })).map((e) => e.id).sort();
        expect(await ids([s1])).toEqual([one.id]);
        expect(await ids([s2])).toEqual([]);
        expect(await ids([s2, s1])).toEqual([both.id, one.id].sort());
        expect(await ids([s3, s2, s1, s1])).toEqual([both.id, one.id].sort());
        expect(await ids([])).toEqual([]);
        expect(await ids([s1, s2], one.parentId)).toEqual([one.id]);
      });

      it('counts and lists everything', async () => {
        const before = await ds.entries.count();
        const created = await ds.entries.create(entryInput());
        expect(await ds.entries.count()).toBe(before + 1);
        const all = await ds.entries.listAll();
        expect(all.length).toBe(before + 1);
        expect(all.find((e) => e.id === created.id)).toEqual(created);
      });

      it('fires created, updated and deleted after commit, before the call resolves', async () => {
        const seen: EntryChange[] = [];
        const off = ds.entries.onChange((change) => seen.push(change));
        const created = await ds.entries.create(entryInput());
        expect(seen).toHaveLength(1);
        const updated = await ds.entries.update(created.id, entryInput());
        const deleted = await ds.entries.delete(created.id);
        off();
        await ds.entries.create(entryInput());
        expect(seen).toEqual([
          { kind: 'created', entry: created },
          { kind: 'updated', entry: updated },
          { kind: 'deleted', entry: updated },
        ]);
        expect(deleted).toEqual(updated);
      });

      it('sees the committed state from a listener, and fires nothing for failed writes', async () => {
        const input = entryInput();
        const stored: unknown[] = [];
        const changes: EntryChange[] = [];
        const off = ds.entries.onChange((c) => {
          changes.push(c);
          stored.push(ds.entries.get(c.entry.id));
        });
        const created = await ds.entries.create(input);
        await expectCode(ds.entries.create(input), 'ALREADY_EXISTS');
        await expectCode(ds.entries.delete(randomUUID()), 'NOT_FOUND');
        off();
        expect(changes).toHaveLength(1);
        expect(await stored[0]).toEqual(created);
      });

      it('isolates a throwing listener from the write and from other listeners', async () => {
        const got: string[] = [];
        const offBad = ds.entries.onChange(() => {
          throw new Error('listener bug');
        });
        const offGood = ds.entries.onChange((c) => got.push(c.entry.id));
        const entry = await ds.entries.create(entryInput());
        offBad();
        offGood();
        expect(got).toEqual([entry.id]);
        expect(await ds.entries.get(entry.id)).toEqual(entry);
      });
    });

    describe('agents', () => {
      it('creates on first attestation and replaces on re-attestation', async () => {
        const a = attestation();
        const first = await ds.agents.upsertAttested(a);
        expect(first).toEqual({ ...a, banned: false, lastSeenAt: a.attestedAt });
        expect(await ds.agents.get(a.spiffeId)).toEqual(first);
        const again = await ds.agents.upsertAttested({
          ...a,
          attestor: 'x509pop',
          selectors: [{ type: 'x509pop', value: 'subject:cn:node-7' }],
          svidSerial: '02cd',
          attestedAt: a.attestedAt + 10,
        });
        expect(again).toMatchObject({ attestor: 'x509pop', svidSerial: '02cd', attestedAt: a.attestedAt + 10 });
        expect(again.selectors).toEqual([{ type: 'x509pop', value: 'subject:cn:node-7' }]);
        expect((await ds.agents.list()).filter((x) => x.spiffeId === a.spiffeId)).toEqual([again]);
        expect(await ds.agents.get('spiffe://acme.test/tessera/agent/none')).toBeNull();
      });

      it('records a renewed SVID, optionally only over the expected previous serial', async () => {
        const a = attestation();
        await ds.agents.upsertAttested(a);
        const renewed = await ds.agents.updateSvid(a.spiffeId, { serial: '03', expiresAt: 2_100_000_000 });
        expect(renewed).toMatchObject({ svidSerial: '03', svidExpiresAt: 2_100_000_000 });
        await expectCode(
          ds.agents.updateSvid(a.spiffeId, { serial: '04', expiresAt: 1, previousSerial: a.svidSerial }),
          'FAILED_PRECONDITION',
        );
        const next = await ds.agents.updateSvid(a.spiffeId, { serial: '04', expiresAt: 2, previousSerial: '03' });
        expect(next.svidSerial).toBe('04');
        await expectCode(ds.agents.updateSvid(`${a.spiffeId}-x`, { serial: '1', expiresAt: 1 }), 'NOT_FOUND');
      });

      it('keeps banned agents listed and refuses their attestation and renewal', async () => {
        const a = attestation();
        await ds.agents.upsertAttested(a);
        expect((await ds.agents.setBanned(a.spiffeId, true)).banned).toBe(true);
        expect((await ds.agents.list()).find((x) => x.spiffeId === a.spiffeId)?.banned).toBe(true);
        await expectCode(ds.agents.upsertAttested({ ...a, svidSerial: 'ff' }), 'PERMISSION_DENIED');
        await expectCode(ds.agents.updateSvid(a.spiffeId, { serial: 'ff', expiresAt: 1 }), 'PERMISSION_DENIED');
        expect((await ds.agents.get(a.spiffeId))?.svidSerial).toBe(a.svidSerial);
        await ds.agents.setBanned(a.spiffeId, false);
        expect((await ds.agents.upsertAttested({ ...a, svidSerial: 'ff' })).svidSerial).toBe('ff');
        await expectCode(ds.agents.setBanned(`${a.spiffeId}-x`, true), 'NOT_FOUND');
      });

      it('evicts: delete removes the record (banned or not) and the agent may attest again', async () => {
        const a = attestation();
        await ds.agents.upsertAttested(a);
        await ds.agents.setBanned(a.spiffeId, true);
        await ds.agents.delete(a.spiffeId);
        expect(await ds.agents.get(a.spiffeId)).toBeNull();
        await expectCode(ds.agents.delete(a.spiffeId), 'NOT_FOUND');
        expect((await ds.agents.upsertAttested(a)).banned).toBe(false);
      });

      it('touch moves lastSeenAt forward only', async () => {
        const a = attestation();
        await ds.agents.upsertAttested(a);
        await ds.agents.touch(a.spiffeId, a.attestedAt + 100);
        await ds.agents.touch(a.spiffeId, a.attestedAt + 50);
        expect((await ds.agents.get(a.spiffeId))?.lastSeenAt).toBe(a.attestedAt + 100);
        await expectCode(ds.agents.touch(`${a.spiffeId}-x`, 1), 'NOT_FOUND');
      });
    });

    describe('join tokens', () => {
      const now = 1_800_000_000;

      it('stores the SHA-256 of the token, never the token', async () => {
        const token = randomUUID();
        const record = await ds.joinTokens.create(token, { expiresAt: now + 600, aliasSpiffeId: 'spiffe://acme.test/node' });
        expect(record.tokenHash).toBe(createHash('sha256').update(token).digest('hex'));
        expect(JSON.stringify(record)).not.toContain(token);
        expect(record).toMatchObject({ expiresAt: now + 600, aliasSpiffeId: 'spiffe://acme.test/node', usedAt: null });
      });

      it('is consumed once; a second consume, an unknown or an expired token fail with distinct reasons', async () => {
        const token = randomUUID();
        await ds.joinTokens.create(token, { expiresAt: now + 600 });
        const first = await ds.joinTokens.consume(token, now);
        expect(first).toMatchObject({ ok: true, token: { usedAt: now, aliasSpiffeId: null } });
        expect(await ds.joinTokens.consume(token, now)).toEqual({ ok: false, reason: 'already_used' });
        expect(await ds.joinTokens.consume(randomUUID(), now)).toEqual({ ok: false, reason: 'not_found' });
        const old = randomUUID();
        await ds.joinTokens.create(old, { expiresAt: now });
        expect(await ds.joinTokens.consume(old, now)).toEqual({ ok: false, reason: 'expired' });
        expect(await ds.joinTokens.consume(old, now - 1)).toMatchObject({ ok: true });
      });

      it('refuses a duplicate token with ALREADY_EXISTS', async () => {
        const token = randomUUID();
        await ds.joinTokens.create(token, { expiresAt: now + 1 });
        const err = await expectCode(ds.joinTokens.create(token, { expiresAt: now + 1 }), 'ALREADY_EXISTS');
        expect(err.message).not.toContain(token);
      });

      it('prunes expired tokens, used or not, and keeps the others', async () => {
        const far = 4_000_000_000; // after every other test's tokens
        const [gone, used, kept] = [randomUUID(), randomUUID(), randomUUID()];
        await ds.joinTokens.create(gone, { expiresAt: far + 10 });
        await ds.joinTokens.create(used, { expiresAt: far + 10 });
        await ds.joinTokens.create(kept, { expiresAt: far + 11 });
        await ds.joinTokens.consume(used, far);
        expect(await ds.joinTokens.prune(far + 10)).toBeGreaterThanOrEqual(2);
        expect(await ds.joinTokens.consume(gone, far)).toEqual({ ok: false, reason: 'not_found' });
        expect(await ds.joinTokens.consume(used, far)).toEqual({ ok: false, reason: 'not_found' });
        expect(await ds.joinTokens.consume(kept, far)).toMatchObject({ ok: true });
      });

      it('lets exactly one of two connections consume a token', async () => {
        const other = await open();
        try {
          for (let i = 0; i < 20; i++) {
            const token = randomUUID();
            await ds.joinTokens.create(token, { expiresAt: now + 600 });
            const results = await Promise.all([ds.joinTokens.consume(token, now), other.joinTokens.consume(token, now)]);
            expect(results.filter((r) => r.ok)).toHaveLength(1);
            expect(results.filter((r) => !r.ok)).toEqual([{ ok: false, reason: 'already_used' }]);
          }
        } finally {
          await other.close();
        }
      });

      it.runIf(options.child !== undefined)('lets exactly one of several processes consume each token', async () => {
        const tokens = Array.from({ length: 25 }, () => randomUUID());
        for (const t of tokens) await ds.joinTokens.create(t, { expiresAt: now + 600 });
        const perChild = (await raceChildren(options.child!, 4, { kind: 'consume', items: tokens, now })) as {
          ok: boolean;
          reason?: string;
        }[][];
        tokens.forEach((_, i) => {
          const results = perChild.map((r) => r[i]!);
          expect(results.filter((r) => r.ok), `token ${i}`).toHaveLength(1);
          expect(results.filter((r) => !r.ok).map((r) => r.reason)).toEqual(['already_used', 'already_used', 'already_used']);
        });
        expect(await ds.joinTokens.consume(tokens[0]!, now)).toEqual({ ok: false, reason: 'already_used' });
      });
    });

    describe('instance roles', () => {
      const now = 1_800_000_000;
      const id = () => randomUUID().replaceAll('-', '');

      it('keeps the first claimed role of an instance for ever: a later claim of the other role gets the first', async () => {
        const instanceId = id();
        expect(await ds.instanceRoles.claim({ instanceId, role: 'worker', agentId: 'spiffe://acme.test/a', nowSeconds: now })).toEqual({
          instanceId,
          role: 'worker',
          agentId: 'spiffe://acme.test/a',
          claimedAt: now,
        });
        const later = await ds.instanceRoles.claim({ instanceId, role: 'supervisor', agentId: 'spiffe://acme.test/b', nowSeconds: now + 86_400 });
        expect(later).toEqual({ instanceId, role: 'worker', agentId: 'spiffe://acme.test/a', claimedAt: now });
        const other = id();
        expect((await ds.instanceRoles.claim({ instanceId: other, role: 'supervisor', agentId: 'a', nowSeconds: now })).role).toBe('supervisor');
      });

      it('keeps claims across connections, and of two racing claims exactly one role wins', async () => {
        const other = await open();
        try {
          const instanceId = id();
          await ds.instanceRoles.claim({ instanceId, role: 'supervisor', agentId: 'a', nowSeconds: now });
          expect((await other.instanceRoles.claim({ instanceId, role: 'worker', agentId: 'a', nowSeconds: now })).role).toBe('supervisor');
          for (let i = 0; i < 10; i++) {
            const raced = id();
            const results = await Promise.all([
              ds.instanceRoles.claim({ instanceId: raced, role: 'worker', agentId: 'a', nowSeconds: now }),
              other.instanceRoles.claim({ instanceId: raced, role: 'supervisor', agentId: 'a', nowSeconds: now }),
            ]);
            expect(results[0]!.role).toBe(results[1]!.role);
          }
        } finally {
          await other.close();
        }
      });
    });

    describe('entries across processes', () => {
      it.runIf(options.child !== undefined)('lets exactly one of several processes create the same entry', async () => {
        const inputs = Array.from({ length: 10 }, () => entryInput());
        const perChild = (await raceChildren(options.child!, 4, { kind: 'create', items: inputs })) as {
          ok: boolean;
          code?: string;
        }[][];
        inputs.forEach((input, i) => {
          const results = perChild.map((r) => r[i]!);
          expect(results.filter((r) => r.ok), `entry ${i}`).toHaveLength(1);
          expect(results.filter((r) => !r.ok).map((r) => r.code)).toEqual(['ALREADY_EXISTS', 'ALREADY_EXISTS', 'ALREADY_EXISTS']);
        });
        for (const input of inputs) expect(await ds.entries.list({ spiffeId: input.spiffeId })).toHaveLength(1);
      });
    });

    describe('keys', () => {
      it('inserts prepared by default, keeps the public material bytes, lists with filters', async () => {
        const server = `server-${uniq()}`;
        const ca = await ds.keys.insert(key(server));
        const jwk = new TextEncoder().encode(JSON.stringify({ kty: 'EC', crv: 'P-256', x: 'x', y: 'y' }));
        const jwt = await ds.keys.insert(key(server, { kind: 'jwt', publicMaterial: jwk, state: 'active' }));
        expect(ca).toMatchObject({ state: 'prepared', activatedAt: null, retiredAt: null, serverId: server });
        expect(ca.publicMaterial).toEqual(new Uint8Array([0x30, 0x82, 0x01, 0x0a, 0, 255]));
        expect(jwt.state).toBe('active');
        expect(jwt.activatedAt).toEqual(expect.any(Number));
        expect(new TextDecoder().decode(jwt.publicMaterial)).toContain('P-256');
        expect(await ds.keys.list({ serverId: server })).toEqual(
          [ca, jwt].sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1)),
        );
        expect(await ds.keys.list({ serverId: server, kind: 'jwt' })).toEqual([jwt]);
        expect(await ds.keys.list({ serverId: server, state: 'prepared' })).toEqual([ca]);
        expect((await ds.keys.list()).length).toBeGreaterThanOrEqual(2);
      });

      it('refuses a duplicate id and a second active key of a kind for one server', async () => {
        const server = `server-${uniq()}`;
        const first = await ds.keys.insert(key(server, { state: 'active' }));
        await expectCode(ds.keys.insert(key(server, { id: first.id })), 'ALREADY_EXISTS');
        await expectCode(ds.keys.insert(key(server, { state: 'active' })), 'FAILED_PRECONDITION');
        // another server or another kind may have its own active key
        await ds.keys.insert(key(`server-${uniq()}`, { state: 'active' }));
        await ds.keys.insert(key(server, { kind: 'jwt', state: 'active' }));
      });

      it('rotates in one transaction: activate the prepared key and retire the active one', async () => {
        const server = `server-${uniq()}`;
        const old = await ds.keys.insert(key(server, { state: 'active' }));
        const next = await ds.keys.insert(key(server));
        const [activated, retired] = await ds.keys.setState([
          { id: next.id, state: 'active' },
          { id: old.id, state: 'retired' },
        ]);
        expect(activated).toMatchObject({ id: next.id, state: 'active', activatedAt: expect.any(Number) });
        expect(retired).toMatchObject({ id: old.id, state: 'retired', retiredAt: expect.any(Number) });
        expect((await ds.keys.list({ serverId: server, state: 'active' })).map((k) => k.id)).toEqual([next.id]);
        // setting the same state again changes nothing
        expect(await ds.keys.setState([{ id: next.id, state: 'active' }])).toEqual([activated]);
      });

      it('undoes the whole batch on NOT_FOUND, a backward move or a second active key', async () => {
        const server = `server-${uniq()}`;
        const active = await ds.keys.insert(key(server, { state: 'active' }));
        const prepared = await ds.keys.insert(key(server));
        const retired = await ds.keys.insert(key(server));
        await ds.keys.setState([{ id: retired.id, state: 'retired' }]);
        const snapshot = await ds.keys.list({ serverId: server });

        await expectCode(
          ds.keys.setState([
            { id: active.id, state: 'retired' },
            { id: 'no-such-key', state: 'retired' },
          ]),
          'NOT_FOUND',
        );
        await expectCode(
          ds.keys.setState([
            { id: active.id, state: 'retired' },
            { id: retired.id, state: 'active' },
          ]),
          'FAILED_PRECONDITION',
        );
        await expectCode(ds.keys.setState([{ id: active.id, state: 'prepared' }]), 'FAILED_PRECONDITION');
        await expectCode(ds.keys.setState([{ id: prepared.id, state: 'active' }]), 'FAILED_PRECONDITION');
        expect(await ds.keys.list({ serverId: server })).toEqual(snapshot);
      });

      it('deletes only retired keys', async () => {
        const server = `server-${uniq()}`;
        const k = await ds.keys.insert(key(server));
        await expectCode(ds.keys.delete(k.id), 'FAILED_PRECONDITION');
        await ds.keys.setState([{ id: k.id, state: 'retired' }]);
        await ds.keys.delete(k.id);
        expect(await ds.keys.list({ serverId: server })).toEqual([]);
        await expectCode(ds.keys.delete(k.id), 'NOT_FOUND');
      });
    });

    describe('bundles', () => {
      it('puts, gets, lists and deletes by trust domain', async () => {
        const td = `${uniq()}.test`;
        const put = await ds.bundles.put(td, '{"keys":[]}', 1);
        expect(put).toMatchObject({ trustDomain: td, document: '{"keys":[]}', sequence: 1 });
        expect(await ds.bundles.get(td)).toEqual(put);
        expect((await ds.bundles.list()).filter((b) => b.trustDomain === td)).toEqual([put]);
        await ds.bundles.delete(td);
        expect(await ds.bundles.get(td)).toBeNull();
        await expectCode(ds.bundles.delete(td), 'NOT_FOUND');
      });

      it('never lets the sequence go down', async () => {
        const td = `${uniq()}.test`;
        await ds.bundles.put(td, '{"v":5}', 5);
        await expectCode(ds.bundles.put(td, '{"v":4}', 4), 'FAILED_PRECONDITION');
        expect((await ds.bundles.get(td))?.document).toBe('{"v":5}');
        expect((await ds.bundles.put(td, '{"v":"5b"}', 5)).document).toBe('{"v":"5b"}');
        expect((await ds.bundles.put(td, '{"v":6}', 6)).sequence).toBe(6);
        // another trust domain has its own sequence
        expect((await ds.bundles.put(`x${td}`, '{}', 0)).sequence).toBe(0);
      });

      it('lists in trust domain order', async () => {
        const list = await ds.bundles.list();
        expect(list.map((b) => b.trustDomain)).toEqual([...list.map((b) => b.trustDomain)].sort());
      });
    });

    describe('federation', () => {
      const web = (td: string): FederationRelationshipInput => ({
        trustDomain: td,
        bundleEndpointUrl: `https://${td}/bundle`,
        profile: 'https_web',
      });
      const spiffe = (td: string): FederationRelationshipInput => ({
        trustDomain: td,
        bundleEndpointUrl: `https://bundles.${td}:8443/b?x=1`,
        profile: 'https_spiffe',
        endpointSpiffeId: `spiffe://${td}/tessera/server`,
      });
      const doc = (n: number) => JSON.stringify({ keys: [], spiffe_sequence: n });

      it('creates, gets, lists, updates and deletes by trust domain', async () => {
        const td = `${uniq()}.test`;
        const created = await ds.federation.create(web(td));
        expect(created).toEqual({ ...web(td), createdAt: expect.any(Number), updatedAt: created.createdAt });
        expect(created).not.toHaveProperty('endpointSpiffeId');
        expect(await ds.federation.get(td)).toEqual(created);
        expect((await ds.federation.list()).filter((r) => r.trustDomain === td)).toEqual([created]);

        const updated = await ds.federation.update(spiffe(td));
        expect(updated).toEqual({ ...spiffe(td), createdAt: created.createdAt, updatedAt: expect.any(Number) });
        expect(updated.updatedAt).toBeGreaterThanOrEqual(created.updatedAt);
        expect(await ds.federation.get(td)).toEqual(updated);
        // and back: the endpoint ID goes away with the https_spiffe profile
        expect(await ds.federation.update(web(td))).not.toHaveProperty('endpointSpiffeId');

        expect(await ds.federation.delete(td)).toMatchObject(web(td));
        expect(await ds.federation.get(td)).toBeNull();
        expect((await ds.federation.list()).some((r) => r.trustDomain === td)).toBe(false);
      });

      it('refuses a second relationship for a trust domain with ALREADY_EXISTS and keeps the first', async () => {
        const td = `${uniq()}.test`;
        const first = await ds.federation.create(web(td), { document: doc(1), sequence: 1 });
        await expectCode(ds.federation.create(spiffe(td), { document: doc(9), sequence: 9 }), 'ALREADY_EXISTS');
        expect(await ds.federation.get(td)).toEqual(first);
        expect((await ds.federation.bundle(td))?.document).toBe(doc(1));
      });

      it('answers NOT_FOUND for update and delete of an unknown trust domain, null for get', async () => {
        const td = `${uniq()}.test`;
        await expectCode(ds.federation.update(web(td)), 'NOT_FOUND');
        await expectCode(ds.federation.update(web(td), { document: doc(1), sequence: 1 }), 'NOT_FOUND');
        expect(await ds.federation.bundle(td)).toBeNull();
        await expectCode(ds.federation.delete(td), 'NOT_FOUND');
        expect(await ds.federation.get(td)).toBeNull();
      });

      it('writes the bundle with the relationship, readable through BundleStore too', async () => {
        const td = `${uniq()}.test`;
        expect(await ds.federation.bundle(td)).toBeNull();
        await ds.federation.create(spiffe(td), { document: doc(4), sequence: 4 });
        const stored = await ds.federation.bundle(td);
        expect(stored).toMatchObject({ trustDomain: td, document: doc(4), sequence: 4 });
        expect(await ds.bundles.get(td)).toEqual(stored);
        // without a bundle, the stored one stays
        await ds.federation.update(web(td));
        expect(await ds.bundles.get(td)).toEqual(stored);
      });

      it('lets an operator bundle replace a stored one of any sequence, higher included', async () => {
        const td = `${uniq()}.test`;
        await ds.bundles.put(td, doc(50), 50);
        await ds.federation.create(web(td), { document: doc(0), sequence: 0 });
        expect(await ds.bundles.get(td)).toMatchObject({ document: doc(0), sequence: 0 });
        await ds.bundles.put(td, doc(70), 70);
        await ds.federation.update(web(td), { document: doc(3), sequence: 3 });
        expect(await ds.bundles.get(td)).toMatchObject({ document: doc(3), sequence: 3 });
        // the refresher's puts still never go below what is stored
        await expectCode(ds.bundles.put(td, doc(2), 2), 'FAILED_PRECONDITION');
      });

      it('deletes the stored bundle with the relationship, and only that one', async () => {
        const td = `${uniq()}.test`;
        const other = `${uniq()}.test`;
        await ds.federation.create(web(td), { document: doc(1), sequence: 1 });
        await ds.bundles.put(`${td}.other`, doc(1), 1);
        await ds.federation.create(web(other), { document: doc(2), sequence: 2 });
        await ds.federation.delete(td);
        expect(await ds.bundles.get(td)).toBeNull();
        expect(await ds.federation.bundle(td)).toBeNull();
        expect(await ds.bundles.get(`${td}.other`)).not.toBeNull();
        expect(await ds.federation.bundle(other)).toMatchObject({ sequence: 2 });
        // a relationship without a stored bundle deletes too
        const bare = `${uniq()}.test`;
        await ds.federation.create(web(bare));
        await ds.federation.delete(bare);
        expect(await ds.federation.get(bare)).toBeNull();
      });

      it('refuses an endpoint ID that does not match the profile with INVALID_ARGUMENT and writes nothing', async () => {
        const td = `${uniq()}.test`;
        const bad: FederationRelationshipInput[] = [
          { ...web(td), endpointSpiffeId: `spiffe://${td}/x` },
          { ...web(td), endpointSpiffeId: '' },
          { trustDomain: td, bundleEndpointUrl: `https://${td}/`, profile: 'https_spiffe' },
          { ...spiffe(td), endpointSpiffeId: '' },
          { ...web(td), profile: 'https_mtls' as never },
        ];
        for (const rel of bad) {
          await expectCode(ds.federation.create(rel, { document: doc(1), sequence: 1 }), 'INVALID_ARGUMENT');
        }
        expect(await ds.federation.get(td)).toBeNull();
        expect(await ds.bundles.get(td)).toBeNull();

        await ds.federation.create(web(td), { document: doc(1), sequence: 1 });
        for (const rel of bad) {
          await expectCode(ds.federation.update(rel, { document: doc(2), sequence: 2 }), 'INVALID_ARGUMENT');
        }
        expect(await ds.federation.get(td)).toMatchObject(web(td));
        expect(await ds.bundles.get(td)).toMatchObject({ document: doc(1), sequence: 1 });
      });

      it('writes neither the relationship nor the bundle when the bundle is refused', async () => {
        const td = `${uniq()}.test`;
        await expectCode(ds.federation.create(web(td), { document: doc(1), sequence: -1 }), 'INVALID_ARGUMENT');
        expect(await ds.federation.get(td)).toBeNull();
        expect(await ds.bundles.get(td)).toBeNull();
        await ds.federation.create(web(td));
        await expectCode(ds.federation.update(spiffe(td), { document: doc(1), sequence: 1.5 }), 'INVALID_ARGUMENT');
        expect(await ds.federation.get(td)).toMatchObject(web(td));
        expect(await ds.bundles.get(td)).toBeNull();
      });

      it('accepts every valid shape: both profiles, ports, paths, queries, foreign endpoint IDs, large sequences', async () => {
        const td = `${uniq()}_x-y.example.test`;
        const rels: FederationRelationshipInput[] = [
          { trustDomain: td, bundleEndpointUrl: 'https://[::1]:8443/', profile: 'https_web' },
          {
            trustDomain: td,
            bundleEndpointUrl: 'https://bundles.example.test/a/b?trust_domain=x&y=%20',
            profile: 'https_spiffe',
            // an endpoint served by a third trust domain
            endpointSpiffeId: 'spiffe://c.test/bundle/endpoint',
          },
        ];
        const sequence = Number.MAX_SAFE_INTEGER;
        const created = await ds.federation.create(rels[0]!, { document: doc(1), sequence });
        expect(created).toMatchObject(rels[0]!);
        expect(await ds.federation.update(rels[1]!)).toMatchObject(rels[1]!);
        expect((await ds.federation.bundle(td))?.sequence).toBe(sequence);
      });

      it('lists in trust domain order', async () => {
        for (const td of [`z${uniq()}.test`, `a${uniq()}.test`, `m${uniq()}.test`]) await ds.federation.create(web(td));
        const list = (await ds.federation.list()).map((r) => r.trustDomain);
        expect(list).toEqual([...list].sort());
      });

      it('keeps relationships and their bundles across connections', async () => {
        const td = `${uniq()}.test`;
        const other = await open();
        try {
          const created = await other.federation.create(spiffe(td), { document: doc(8), sequence: 8 });
          expect(await ds.federation.get(td)).toEqual(created);
          expect((await ds.federation.bundle(td))?.sequence).toBe(8);
          await ds.federation.delete(td);
          expect(await other.federation.get(td)).toBeNull();
          expect(await other.bundles.get(td)).toBeNull();
        } finally {
          await other.close();
        }
      });
    });

    describe('audit', () => {
      it('appends events with increasing ids and reads them back in id order', async () => {
        const instanceId = uniq();
        const a = await ds.audit.append({
          atMs: 1_000,
          kind: 'x509_svid.issued',
          spiffeId: 'spiffe://acme.test/w',
          entryId: 'e1',
          agentId: 'spiffe://acme.test/tessera/agent/x',
          instanceId,
          serial: 'abcd',
          expiresAt: 2_000,
          details: { pid: 42, ttl: 3600 },
        });
        const [b, c] = await ds.audit.appendMany([
          { atMs: 900, kind: 'jwt_svid.issued', instanceId, jti: 'j1' },
          { atMs: 1_100, kind: 'agent.banned', instanceId },
        ]);
        expect(a).toBeLessThan(b!);
        expect(b).toBeLessThan(c!);
        const events = await ds.audit.list({ instanceId });
        expect(events.map((e) => e.id)).toEqual([a, b, c]);
        expect(events[0]).toEqual({
          id: a,
          atMs: 1_000,
          kind: 'x509_svid.issued',
          spiffeId: 'spiffe://acme.test/w',
          entryId: 'e1',
          agentId: 'spiffe://acme.test/tessera/agent/x',
          instanceId,
          serial: 'abcd',
          jti: null,
          expiresAt: 2_000,
          details: { pid: 42, ttl: 3600 },
        });
        expect(events[1]).toMatchObject({ spiffeId: null, serial: null, jti: 'j1', expiresAt: null, details: null });
      });

      it('filters by time, SPIFFE ID, instance, kind and pages by id', async () => {
        const instanceId = uniq();
        const spiffeId = `spiffe://acme.test/${uniq()}`;
        const ids = await ds.audit.appendMany([
          { atMs: 10, kind: 'k.a', instanceId, spiffeId },
          { atMs: 20, kind: 'k.b', instanceId },
          { atMs: 30, kind: 'k.a', instanceId, spiffeId },
          { atMs: 40, kind: 'k.b', instanceId, spiffeId },
        ]);
        const ids_ = async (q: Parameters<typeof ds.audit.list>[0]) => (await ds.audit.list(q)).map((e) => e.id);
        expect(await ids_({ instanceId, sinceMs: 20 })).toEqual(ids.slice(1));
        expect(await ids_({ spiffeId })).toEqual([ids[0], ids[2], ids[3]]);
        expect(await ids_({ instanceId, kind: 'k.a' })).toEqual([ids[0], ids[2]]);
        expect(await ids_({ spiffeId, kind: 'k.b', sinceMs: 35 })).toEqual([ids[3]]);
        expect(await ids_({ instanceId, limit: 2 })).toEqual(ids.slice(0, 2));
        expect(await ids_({ instanceId, limit: 2, afterId: ids[1] })).toEqual(ids.slice(2));
        expect(await ids_({ instanceId: 'none' })).toEqual([]);
      });

      it('leaves details over maxDetailsBytes out of a listing and says their size', async () => {
        const instanceId = uniq();
        const big = { audience: ['x'.repeat(5000)] };
        const small = { audience: ['y'] };
        await ds.audit.appendMany([
          { atMs: 1, kind: 'k', instanceId, details: big },
          { atMs: 2, kind: 'k', instanceId, details: small },
          { atMs: 3, kind: 'k', instanceId },
        ]);
        const [a, b, c] = await ds.audit.list({ instanceId, maxDetailsBytes: 1000 });
        expect(a).toMatchObject({ details: null, detailsOmittedBytes: JSON.stringify(big).length });
        expect(b!.details).toEqual(small);
        expect(b!.detailsOmittedBytes).toBeUndefined();
        expect(c!.details).toBeNull();
        expect(c!.detailsOmittedBytes).toBeUndefined();
        expect((await ds.audit.list({ instanceId }))[0]!.details).toEqual(big);
      });

      it('refuses a limit outside 1..10000 with INVALID_ARGUMENT', async () => {
        await expectCode(ds.audit.list({ limit: 0 }), 'INVALID_ARGUMENT');
        await expectCode(ds.audit.list({ limit: 10_001 }), 'INVALID_ARGUMENT');
        await expectCode(ds.audit.list({ limit: 1.5 }), 'INVALID_ARGUMENT');
        expect((await ds.audit.list({ limit: 1 })).length).toBeLessThanOrEqual(1);
      });

      it('appendMany is all or nothing', async () => {
        const instanceId = uniq();
        await expectCode(
          ds.audit.appendMany([
            { atMs: 1, kind: 'ok', instanceId },
            { atMs: 1.5, kind: 'bad time', instanceId },
          ]),
          'INVALID_ARGUMENT',
        );
        expect(await ds.audit.list({ instanceId })).toEqual([]);
      });
    });

    describe('lifecycle', () => {
      it('answers ping', async () => {
        await expect(ds.ping()).resolves.toBeUndefined();
      });

      it('keeps data across close and reopen, and reopening again and again is harmless', async () => {
        const first = await open();
        const entry = await first.entries.create(entryInput());
        const agent = await first.agents.upsertAttested(attestation());
        const td = `${uniq()}.test`;
        const bundle = await first.bundles.put(td, '{}', 3);
        const keyRecord = await first.keys.insert(key(`server-${uniq()}`));
        const token = randomUUID();
        await first.joinTokens.create(token, { expiresAt: 1_800_000_600 });
        const auditId = await first.audit.append({ atMs: 5, kind: 'persist', instanceId: entry.id });
        await first.close();

        for (let i = 0; i < 3; i++) await (await open()).close();
        const [second, third] = await Promise.all([open(), open()]);
        try {
          expect(await second.entries.get(entry.id)).toEqual(entry);
          expect(await second.agents.get(agent.spiffeId)).toEqual(agent);
          expect(await second.bundles.get(td)).toEqual(bundle);
          expect(await second.keys.list({ serverId: keyRecord.serverId })).toEqual([keyRecord]);
          expect(await third.joinTokens.consume(token, 1_800_000_000)).toMatchObject({ ok: true });
          expect((await third.audit.list({ instanceId: entry.id })).map((e) => e.id)).toEqual([auditId]);
        } finally {
          await second.close();
          await third.close();
        }
      });

      it('fails with UNAVAILABLE after close; close is idempotent', async () => {
        const conn = await open();
        await conn.close();
        await conn.close();
        await expectCode(conn.ping(), 'UNAVAILABLE');
        await expectCode(conn.entries.get(randomUUID()), 'UNAVAILABLE');
        await expectCode(conn.entries.create(entryInput()), 'UNAVAILABLE');
        await expectCode(conn.audit.list(), 'UNAVAILABLE');
        await expectCode(conn.federation.list(), 'UNAVAILABLE');
      });
    });
  });
}
