import { describe, expect, it } from 'vitest';
import { explainMatch, NO_MATCH_REFUSAL } from '../../src/agent/manager/explain.js';
import type { AgentEntry } from '../../src/agent/state.js';

function entry(id: string, selectors: string[], role: 'worker' | 'supervisor' = 'worker'): AgentEntry {
  return {
    id,
    spiffeId: `spiffe://td/${id}`,
    parentId: 'spiffe://td/agent',
    selectors: selectors.map((s) => ({ type: s.slice(0, s.indexOf(':')), value: s.slice(s.indexOf(':') + 1) })),
    role,
    x509SvidTtlSeconds: 0,
    jwtSvidTtlSeconds: 0,
    dnsNames: [],
    federatesWith: [],
    hint: '',
    admin: false,
    expiresAt: 0,
    revision: 1,
    createdAt: 1,
  };
}
const sel = (...s: string[]) => s.map((x) => ({ type: x.slice(0, x.indexOf(':')), value: x.slice(x.indexOf(':') + 1) }));

describe('explainMatch (why each entry does or does not apply)', () => {
  const SUP = entry('sup', ['unix:path:/sup'], 'supervisor');

  it('names a supervisor entry a live ancestor holds as not inherited', () => {
    const e = explainMatch([SUP], sel('unix:path:/sup'), [{ instanceId: 'aaaa', supervisorEntries: [SUP] }]);
    expect(e.applies).toEqual([]);
    expect(e.refusal).toBe(NO_MATCH_REFUSAL);
    expect(e.entries[0]).toMatchObject({ verdict: 'no_match', missing: [], reason: expect.stringMatching(/supervisor identities are not inherited/) });
  });

  it('says unknown lineage refuses supervisor entries whose selectors match', () => {
    const e = explainMatch([SUP], sel('unix:path:/sup'), [], { lineageKnown: false });
    expect(e.entries[0]).toMatchObject({ verdict: 'refused', reason: expect.stringMatching(/does not know the caller's fork lineage/) });
    expect(e.refusal).toBe(e.entries[0]!.reason);
  });

  it('says the role for life refuses entries of the other role', () => {
    const e = explainMatch([SUP], sel('unix:path:/sup'), [], { role: 'worker' });
    expect(e.entries[0]).toMatchObject({ verdict: 'refused', reason: expect.stringMatching(/keeps that role for life/) });
  });

  it('explains a tessera selector other than supervisor, and an entry without selectors', () => {
    const e = explainMatch([entry('odd', ['tessera:other:x']), entry('none', [])], sel('unix:uid:1'), []);
    expect(e.entries.find((x) => x.entryId === 'odd')).toMatchObject({ verdict: 'no_match', reason: expect.stringMatching(/"tessera:other:x" never matches/) });
    expect(e.entries.find((x) => x.entryId === 'none')).toMatchObject({ verdict: 'no_match', reason: 'the entry has no selectors' });
  });

  it('orders applying, then refused, then no_match by fewest missing selectors', () => {
    const far = entry('far', ['unix:uid:2', 'unix:gid:2']);
    const near = entry('near', ['unix:uid:2']);
    const ok = entry('ok', ['unix:uid:1']);
    const e = explainMatch([far, near, ok], sel('unix:uid:1', 'unix:gid:1'), []);
    expect(e.entries.map((x) => [x.entryId, x.verdict, x.missing])).toEqual([
      ['ok', 'applies', []],
      ['near', 'no_match', ['unix:uid:2']],
      ['far', 'no_match', ['unix:uid:2', 'unix:gid:2']],
    ]);
    expect(e.applies).toEqual(['spiffe://td/ok']);
    expect(e.refusal).toBeUndefined();
  });
});
