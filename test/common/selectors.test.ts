import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { SELECTOR_FORMS, SELECTOR_TYPES, checkSelector, formName } from '../../src/common/selectors.js';
import { joinTokenId } from '../../src/server/nodeattestation/join-token-id.js';

describe('selector registry', () => {
  it.each(SELECTOR_FORMS.map((f) => [formName(f), f] as const))('the example of %s passes its own check', (_n, form) => {
    const at = form.example.indexOf(':');
    const got = checkSelector(form.example.slice(0, at), form.example.slice(at + 1));
    expect(got).toEqual({ ok: true, form });
  });

  it('names every type once, workload types before node types', () => {
    expect(SELECTOR_TYPES).toEqual(['unix', 'cgroup', 'systemd', 'tessera', 'join_token', 'x509pop']);
    expect(new Set(SELECTOR_FORMS.map(formName)).size).toBe(SELECTOR_FORMS.length);
  });

  it('accepts the join_token selector the server emits (joinTokenId)', () => {
    expect(checkSelector('join_token', joinTokenId('a-secret-token')).ok).toBe(true);
  });

  it('picks the longest key, so x509pop keys with a colon are told apart', () => {
    const got = checkSelector('x509pop', `ca:fingerprint:${'0'.repeat(40)}`);
    expect(got.ok && got.form.key).toBe('ca:fingerprint');
  });

  it.each([
    ['proc', 'name:python', 'unknown type "proc"; known types: unix, cgroup, systemd, tessera, join_token, x509pop (see "tessera selectors")'],
    ['unix', 'uid:abc', 'unix:uid takes a decimal uid (0 to 4294967294), e.g. "unix:uid:1000"'],
    ['unix', 'uid:', 'unix:uid takes a non-empty value, e.g. "unix:uid:1000"'],
    ['tessera', 'supervisor:nope', 'tessera:supervisor takes the SPIFFE ID of a supervisor entry ("spiffe://..."), e.g. "tessera:supervisor:spiffe://example.org/agents/planner"'],
  ])('refuses %s:%s saying %j', (type, value, problem) => {
    expect(checkSelector(type, value)).toEqual({ ok: false, problem });
  });
});

describe("the README's selector table", () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const section = readme.slice(readme.indexOf('### Selectors'), readme.indexOf('\n### ', readme.indexOf('### Selectors') + 1));
  const rows = section.split('\n').filter((l) => l.startsWith('| `'));
  // The first cell's selector prefixes (`type:key:` or `type:` before the <value>), e.g. `unix:uid:<decimal uid>`.
  const named = rows.flatMap((r) => [...r.split('|')[1]!.matchAll(/`([a-z0-9_]+(?::[a-z0-9_]+)*):</g)].map((m) => m[1]!));
  const prefix = (f: (typeof SELECTOR_FORMS)[number]) => (f.key === '' ? f.type : `${f.type}:${f.key}`);

  it('lists every form of the registry, and only those', () => {
    expect(rows.length).toBeGreaterThan(0);
    expect(new Set(named)).toEqual(new Set(SELECTOR_FORMS.map(prefix)));
  });

  it('gives each form the kind the registry does', () => {
    for (const form of SELECTOR_FORMS) {
      const row = rows.find((r) => r.split('|')[1]!.includes(`\`${prefix(form)}:<`));
      expect(row?.split('|')[2]?.trim(), prefix(form)).toBe(form.kind);
    }
  });
});
