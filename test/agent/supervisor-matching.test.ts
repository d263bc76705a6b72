import { describe, expect, it } from 'vitest';
import { conflictMessage, matchInstance, refusalMessage } from '../../src/agent/manager/matching.js';
import type { AgentEntry } from '../../src/agent/state.js';
import { parseStatAncestry, readAncestry } from '../../src/agent/workloadattestor/ancestry.js';

function entry(id: string, spiffeId: string, selectors: string[], role: 'worker' | 'supervisor' = 'worker', createdAt = 1): AgentEntry {
  return {
    id,
    spiffeId,
    parentId: 'spiffe://td/agent',
    selectors: selectors.map((s) => {
      const i = s.indexOf(':');
      return { type: s.slice(0, i), value: s.slice(i + 1) };
    }),
    role,
    x509SvidTtlSeconds: 0,
    jwtSvidTtlSeconds: 0,
    dnsNames: [],
    federatesWith: [],
    hint: '',
    admin: false,
    expiresAt: 0,
    revision: 1,
    createdAt,
  };
}

const sel = (...s: string[]) => s.map((x) => ({ type: x.slice(0, x.indexOf(':')), value: x.slice(x.indexOf(':') + 1) }));
const SUP = entry('sup', 'spiffe://td/sup/{instance}', ['unix:path:/sup'], 'supervisor');
const WORK = entry('work', 'spiffe://td/work', ['tessera:supervisor:spiffe://td/sup/aaaa', 'unix:path:/work']);
const WORK_T = entry('work-t', 'spiffe://td/work-t', ['tessera:supervisor:spiffe://td/sup/{instance}', 'unix:path:/work']);
const OTHER = entry('other', 'spiffe://td/other', ['tessera:other:x', 'unix:path:/work']);

describe('matchInstance (supervisor rules)', () => {
  it('serves a supervisor; never its descendants (rule 2)', () => {
    expect(matchInstance([SUP], sel('unix:path:/sup'), []).entries.map((e) => e.id)).toEqual(['sup']);
    expect(matchInstance([SUP], sel('unix:path:/sup'), [{ instanceId: 'aaaa', supervisorEntries: [SUP] }]).entries).toEqual([]);
  });

  it('matches tessera:supervisor only below a live supervisor instance, by issued ID or template (rule 3)', () => {
    const all = [SUP, WORK, WORK_T, OTHER];
    expect(matchInstance(all, sel('unix:path:/work'), []).entries).toEqual([]);
    const m = matchInstance(all, sel('unix:path:/work'), [{ instanceId: 'aaaa', supervisorEntries: [SUP] }]);
    expect(m.entries.map((e) => e.id).sort()).toEqual(['work', 'work-t']);
    expect(m.supervisorOf.get('work')).toBe('aaaa');
    expect(m.supervisorOf.get('work-t')).toBe('aaaa');
    expect(matchInstance(all, sel('unix:path:/work'), [{ instanceId: 'bbbb', supervisorEntries: [SUP] }]).entries.map((e) => e.id)).toEqual(['work-t']);
  });

  it('refuses a process matching both roles, naming the entries (rule 1)', () => {
    const w = entry('w', 'spiffe://td/w', ['unix:path:/sup']);
    const m = matchInstance([SUP, w], sel('unix:path:/sup'), []);
    expect(m.entries).toEqual([]);
    expect(m.conflict).toEqual({ supervisorEntryIds: ['sup'], workerEntryIds: ['w'] });
    expect(conflictMessage(m.conflict!)).toMatch(/supervisor entries \(sup\) and worker entries \(w\)/);
  });
});

describe('matchInstance (issue 10: lineage, one role for life)', () => {
  it('keeps a process from the supervisor entries an ancestor without an instance matches, and names no worker after it', () => {
    const all = [SUP, WORK_T];
    const matcher = [{ instanceId: undefined, supervisorEntries: [SUP] }];
    expect(matchInstance(all, sel('unix:path:/sup'), matcher).entries).toEqual([]);
    expect(matchInstance(all, sel('unix:path:/work'), matcher).entries).toEqual([]);
  });

  it('refuses supervisor entries, and only those, when the lineage is unknown', () => {
    const m = matchInstance([SUP], sel('unix:path:/sup'), [], { lineageKnown: false });
    expect(m.entries).toEqual([]);
    expect(m.lineageRefused).toEqual(['sup']);
    expect(refusalMessage(m)).toMatch(/does not know the caller's fork lineage.*\(sup\)/);
    const w = entry('w', 'spiffe://td/w', ['unix:path:/w']);
    expect(matchInstance([SUP, w], sel('unix:path:/w'), [], { lineageKnown: false }).entries.map((e) => e.id)).toEqual(['w']);
  });

  it('never gives an instance the other role than the one it was served first', () => {
    const m = matchInstance([SUP], sel('unix:path:/sup'), [], { role: 'worker' });
    expect(m.entries).toEqual([]);
    expect(m.roleRefused).toEqual({ role: 'worker', entryIds: ['sup'] });
    expect(refusalMessage(m)).toMatch(/served worker identities and keeps that role for life/);
    expect(matchInstance([SUP], sel('unix:path:/sup'), [], { role: 'supervisor' }).entries.map((e) => e.id)).toEqual(['sup']);
  });
});

describe('readAncestry', () => {
  it('parses ppid and start time after the last ")"', () => {
    const rest = Array.from({ length: 50 }, (_, i) => String(i));
    rest[0] = 'S';
    rest[1] = '77';
    rest[19] = '123456';
    expect(parseStatAncestry(`9 (a) (b) ${rest.join(' ')}`)).toEqual({ ppid: 77, startTime: 123456n });
    expect(parseStatAncestry('garbage')).toBeUndefined();
  });

  it('walks the real ppid chain of this process up to pid 1', () => {
    const chain = readAncestry(process.ppid, 2n ** 62n);
    expect(chain[0]?.pid).toBe(process.ppid);
    for (let i = 1; i < chain.length; i++) expect(chain[i]!.startTime <= chain[i - 1]!.startTime).toBe(true);
  });

  it('stops at an ancestor that started after its child (a reused pid)', () => {
    expect(readAncestry(process.ppid, 0n)).toEqual([]);
  });
});
