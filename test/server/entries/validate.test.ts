import { describe, expect, it } from 'vitest';
import { isTesseraError } from '../../../src/common/errors.js';
import { SpiffeId, TrustDomain } from '../../../src/spiffe/id/index.js';
import type { Entry, EntryFilter } from '../../../src/server/datastore/index.js';
import {
  checkRoleDisjoint,
  MAX_HINT_BYTES,
  parseIdFilter,
  validateEntryInput,
  type EntryValidationContext,
  type RawEntry,
} from '../../../src/server/entries/validate.js';
import { joinTokenAgentId, joinTokenId } from '../../../src/server/nodeattestation/join-token-id.js';

const td = TrustDomain.parse('acme.test');
const ctx: EntryValidationContext = {
  trustDomain: td,
  policy: {
    worker: { maxX509TtlSeconds: 86_400, maxJwtTtlSeconds: 3600 },
    supervisor: { maxX509TtlSeconds: 900, maxJwtTtlSeconds: 300 },
  },
  serverId: SpiffeId.parse('spiffe://acme.test/tessera/server'),
};

const AGENT = 'spiffe://acme.test/tessera/agent/join_token/0123456789abcdef0123456789abcdef';

const good: RawEntry = {
  spiffe_id: 'spiffe://acme.test/web',
  parent_id: AGENT,
  selectors: [{ type: 'unix', value: 'uid:1000' }],
  role: 'ROLE_UNSPECIFIED',
  x509_svid_ttl_seconds: 0,
  jwt_svid_ttl_seconds: 0,
  dns_names: [],
  federates_with: [],
  hint: '',
  admin: false,
  expires_at: 0,
};

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (isTesseraError(err)) return err.code;
    throw err;
  }
  return 'OK';
}

function messageOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return (err as Error).message;
  }
  return '';
}

describe('validateEntryInput', () => {
  it('normalizes a good entry (defaults, role, expires_at 0 → null)', () => {
    expect(validateEntryInput(good, ctx)).toEqual({
      spiffeId: 'spiffe://acme.test/web',
      parentId: AGENT,
      selectors: [{ type: 'unix', value: 'uid:1000' }],
      role: 'worker',
      x509SvidTtlSeconds: 0,
      jwtSvidTtlSeconds: 0,
      dnsNames: [],
      federatesWith: [],
      hint: '',
      admin: false,
      expiresAt: null,
    });
  });

  it('takes missing fields as proto defaults', () => {
    const v = validateEntryInput({ spiffe_id: good.spiffe_id, parent_id: AGENT, selectors: good.selectors }, ctx);
    expect(v.role).toBe('worker');
    expect(v.expiresAt).toBeNull();
  });

  it.each<[string, RawEntry]>([
    ['a supervisor at its ceilings', { role: 'ROLE_SUPERVISOR', x509_svid_ttl_seconds: 900, jwt_svid_ttl_seconds: 300 }],
    ['a worker at its ceilings', { role: 'ROLE_WORKER', x509_svid_ttl_seconds: 86_400, jwt_svid_ttl_seconds: 3600 }],
    ['an {instance} template', { spiffe_id: 'spiffe://acme.test/agents/{instance}' }],
    ['an {instance} template in the middle', { spiffe_id: 'spiffe://acme.test/a/{instance}/b' }],
    ['a node alias parent', { parent_id: 'spiffe://acme.test/nodes/rack-1' }],
    ['several selector families', { selectors: [{ type: 'unix', value: 'uid:1' }, { type: 'systemd', value: 'unit:x.service' }] }],
    ['a supervisor requirement', { selectors: [{ type: 'tessera', value: 'supervisor:spiffe://acme.test/boss' }] }],
    ['DNS names', { dns_names: ['web.acme.test', '*.svc.acme.test'] }],
    ['federation', { federates_with: ['other.test', 'spiffe://third.test'] }],
    ['a hint of 1024 bytes', { hint: 'h'.repeat(MAX_HINT_BYTES) }],
    ['admin and expiry', { admin: true, expires_at: 4_000_000_000 }],
    ['node selectors under the server', { parent_id: 'spiffe://acme.test/tessera/server', selectors: [{ type: 'x509pop', value: 'subject:cn:n7' }] }],
    ['join_token selector under an agent', { selectors: [{ type: 'join_token', value: '0123456789abcdef0123456789abcdef' }] }],
  ])('accepts %s', (_name, patch) => {
    expect(codeOf(() => validateEntryInput({ ...good, ...patch }, ctx))).toBe('OK');
  });

  const sel = (...s: string[]) => s.map((t) => ({ type: t.split(':')[0]!, value: t.slice(t.indexOf(':') + 1) }));

  it.each<[string, RawEntry, RegExp]>([
    ['missing spiffe_id', { spiffe_id: '' }, /^spiffe_id is required$/],
    ['spiffe_id not a string', { spiffe_id: 7 }, /^spiffe_id must be a string/],
    ['spiffe_id without scheme', { spiffe_id: 'acme.test/web' }, /^spiffe_id "acme.test\/web" is not a valid SPIFFE ID/],
    ['spiffe_id with uppercase trust domain', { spiffe_id: 'spiffe://ACME.test/web' }, /not a valid SPIFFE ID/],
    ['spiffe_id with a trailing slash', { spiffe_id: 'spiffe://acme.test/web/' }, /trailing slash/],
    ['spiffe_id in another trust domain', { spiffe_id: 'spiffe://other.test/web' }, /not in trust domain "acme.test"/],
    ['spiffe_id without a path', { spiffe_id: 'spiffe://acme.test' }, /must have a path/],
    ['spiffe_id in /tessera/', { spiffe_id: 'spiffe://acme.test/tessera/agent/x/y' }, /reserved \/tessera\/ namespace/],
    ['spiffe_id = /tessera', { spiffe_id: 'spiffe://acme.test/tessera' }, /reserved/],
    ['{instance} twice', { spiffe_id: 'spiffe://acme.test/{instance}/{instance}' }, /at most once/],
    ['{instance} inside a segment', { spiffe_id: 'spiffe://acme.test/a-{instance}' }, /whole path segment/],
    ['{instance} as the trust domain', { spiffe_id: 'spiffe://{instance}/a' }, /whole path segment/],
    ['other braces', { spiffe_id: 'spiffe://acme.test/{pid}' }, /brace outside/],
    ['missing parent_id', { parent_id: '' }, /^parent_id is required$/],
    ['invalid parent_id', { parent_id: 'spiffe://acme.test//x' }, /^parent_id .* is not a valid SPIFFE ID/],
    ['parent_id in another trust domain', { parent_id: 'spiffe://other.test/tessera/agent/a/b' }, /not in trust domain/],
    ['parent_id template', { parent_id: 'spiffe://acme.test/{instance}' }, /cannot hold "{instance}"/],
    ['parent_id root', { parent_id: 'spiffe://acme.test' }, /must have a path/],
    ['parent_id reserved non-agent', { parent_id: 'spiffe://acme.test/tessera/other' }, /neither the server/],
    ['parent_id agent without id', { parent_id: 'spiffe://acme.test/tessera/agent/join_token' }, /neither the server/],
    ['no selectors', { selectors: [] }, /^selectors must hold at least one selector/],
    ['selectors not a list', { selectors: 'unix:uid:1' }, /^selectors must be a list$/],
    ['unknown selector type', { selectors: sel('k8s:ns:default') }, /^selectors\[0\] "k8s:ns:default": unknown type "k8s"; known types: unix, cgroup, systemd, tessera, join_token, x509pop/],
    ['empty selector type', { selectors: [{ type: '', value: 'x' }] }, /^selectors\[0\] has no type$/],
    ['empty selector value', { selectors: [{ type: 'unix', value: '' }] }, /^selectors\[0\] "unix:" has an empty value$/],
    ['duplicate selector', { selectors: sel('unix:uid:1', 'unix:uid:1') }, /^selectors\[1\] "unix:uid:1" is repeated$/],
    ['control character', { selectors: sel('unix:uid:1\n') }, /control character/],
    ['tessera other than supervisor', { selectors: sel('tessera:worker:x') }, /takes only "supervisor:<spiffe id>"/],
    ['tessera supervisor invalid id', { selectors: sel('tessera:supervisor:nope') }, /supervisor ID "nope" is not a valid SPIFFE ID/],
    ['tessera supervisor foreign id', { selectors: sel('tessera:supervisor:spiffe://x.test/a') }, /not in trust domain/],
    ['mixed workload and node selectors', { selectors: sel('unix:uid:1', 'join_token:0123456789abcdef0123456789abcdef') }, /mix workload/],
    ['workload selectors under the server', { parent_id: 'spiffe://acme.test/tessera/server' }, /node alias entry/],
    ['unknown role', { role: 'ROLE_KING' }, /^role "ROLE_KING" is unknown/],
    ['negative x509 ttl', { x509_svid_ttl_seconds: -5 }, /^x509_svid_ttl_seconds -5 is negative/],
    ['fractional ttl', { jwt_svid_ttl_seconds: 1.5 }, /^jwt_svid_ttl_seconds must be an integer$/],
    ['worker x509 ttl over ceiling', { x509_svid_ttl_seconds: 86_401 }, /^x509_svid_ttl_seconds 86401 exceeds the worker ceiling of 86400 \(policy\.worker\.maxX509TtlSeconds\)$/],
    ['worker jwt ttl over ceiling', { jwt_svid_ttl_seconds: 3601 }, /^jwt_svid_ttl_seconds 3601 exceeds the worker ceiling of 3600 \(policy\.worker\.maxJwtTtlSeconds\)$/],
    ['supervisor x509 ttl over ceiling', { role: 'ROLE_SUPERVISOR', x509_svid_ttl_seconds: 7200 }, /^x509_svid_ttl_seconds 7200 exceeds the supervisor ceiling of 900 \(policy\.supervisor\.maxX509TtlSeconds\)$/],
    ['supervisor jwt ttl over ceiling', { role: 'ROLE_SUPERVISOR', jwt_svid_ttl_seconds: 301 }, /supervisor ceiling of 300 \(policy\.supervisor\.maxJwtTtlSeconds\)/],
    ['bad dns name', { dns_names: ['bad name'] }, /^dns_names\[0\] "bad name" is not a valid DNS name/],
    ['empty dns name', { dns_names: ['ok.test', ''] }, /^dns_names\[1\] "" is not a valid DNS name/],
    ['duplicate dns name', { dns_names: ['a.test', 'A.test'] }, /^dns_names\[1\] "A.test" is repeated$/],
    ['dns_names not strings', { dns_names: [3] }, /^dns_names\[0\] must be a string$/],
    ['bad federated trust domain', { federates_with: ['Other.Test'] }, /^federates_with\[0\] "Other.Test" is not a valid trust domain/],
    ['own trust domain federated', { federates_with: ['acme.test'] }, /own trust domain/],
    ['duplicate federated trust domain', { federates_with: ['o.test', 'spiffe://o.test'] }, /is repeated/],
    ['hint too long', { hint: 'é'.repeat(513) }, /^hint is 1026 bytes long; at most 1024 are allowed$/],
    ['admin not a boolean', { admin: 'yes' }, /^admin must be true or false$/],
    ['negative expires_at', { expires_at: -1 }, /^expires_at -1 is negative/],
  ])('refuses %s with INVALID_ARGUMENT', (_name, patch, message) => {
    const fn = () => validateEntryInput({ ...good, ...patch }, ctx);
    expect(codeOf(fn)).toBe('INVALID_ARGUMENT');
    expect(messageOf(fn)).toMatch(message);
    expect(messageOf(fn)).not.toMatch(/\.$/);
  });

  it('refuses a non-object entry', () => {
    expect(codeOf(() => validateEntryInput(null as unknown as RawEntry, ctx))).toBe('INVALID_ARGUMENT');
  });
});

describe('parseIdFilter', () => {
  it('passes templates and any trust domain, refuses invalid IDs', () => {
    expect(parseIdFilter('spiffe_id', '')).toBeUndefined();
    expect(parseIdFilter('spiffe_id', 'spiffe://x.test/{instance}')).toBe('spiffe://x.test/{instance}');
    expect(codeOf(() => parseIdFilter('spiffe_id', 'nope'))).toBe('INVALID_ARGUMENT');
  });
});

describe('checkRoleDisjoint (architecture §5 rule 6)', () => {
  const stored = (id: string, spiffeId: string, role: 'worker' | 'supervisor') =>
    ({ id, spiffeId, role }) as unknown as Entry;
  const store = (entries: Entry[]) => ({
    list: async (f?: EntryFilter) => entries.filter((e) => f?.spiffeId === undefined || e.spiffeId === f.spiffeId),
  });
  const existing = [stored('e-sup', 'spiffe://acme.test/boss', 'supervisor')];

  it('refuses a worker with a supervisor identity, naming the entry', async () => {
    const p = checkRoleDisjoint({ spiffeId: 'spiffe://acme.test/boss', role: 'worker' }, store(existing));
    await expect(p).rejects.toMatchObject({ code: 'FAILED_PRECONDITION', message: expect.stringContaining('"e-sup"') });
  });

  it('allows the same role, another ID, and the entry itself on update', async () => {
    await checkRoleDisjoint({ spiffeId: 'spiffe://acme.test/boss', role: 'supervisor' }, store(existing));
    await checkRoleDisjoint({ spiffeId: 'spiffe://acme.test/other', role: 'worker' }, store(existing));
    await checkRoleDisjoint({ spiffeId: 'spiffe://acme.test/boss', role: 'worker' }, store(existing), {
      excludeId: 'e-sup',
    });
  });

  it('sees items pending earlier in the same batch', async () => {
    const p = checkRoleDisjoint({ spiffeId: 'spiffe://acme.test/x', role: 'supervisor' }, store([]), {
      pending: [{ spiffeId: 'spiffe://acme.test/x', role: 'worker' }],
    });
    await expect(p).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
  });
});

describe('joinTokenAgentId', () => {
  it('is spiffe://<td>/tessera/agent/join_token/<first 32 hex of sha256(token)>', () => {
    // sha256("abc") = ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad
    expect(joinTokenId('abc')).toBe('ba7816bf8f01cfea414140de5dae2223');
    expect(joinTokenAgentId(td, 'abc').toString()).toBe(
      'spiffe://acme.test/tessera/agent/join_token/ba7816bf8f01cfea414140de5dae2223',
    );
  });
});

describe('selectors against the registry (issue 15)', () => {
  const withSelector = (text: string): RawEntry => {
    const at = text.indexOf(':');
    const type = text.slice(0, at);
    const node = type === 'join_token' || type === 'x509pop';
    return {
      ...good,
      ...(node && { parent_id: 'spiffe://acme.test/tessera/server' }),
      selectors: [{ type, value: text.slice(at + 1) }],
    };
  };

  it.each<[string, RegExp]>([
    ['unix:uid:abc', /^selectors\[0\] "unix:uid:abc": unix:uid takes a decimal uid \(0 to 4294967294\), e.g. "unix:uid:1000"$/],
    ['unix:uid:-1', /unix:uid takes a decimal uid/],
    ['unix:uid:01', /unix:uid takes a decimal uid/],
    ['unix:uid:4294967295', /unix:uid takes a decimal uid/],
    ['unix:gid:1.5', /unix:gid takes a decimal gid/],
    ['unix:supplementary_gid:x', /unix:supplementary_gid takes a decimal gid/],
    ['unix:user:a:b', /unix:user takes a user name as \/etc\/passwd lists it/],
    ['unix:group:', /unix:group takes a non-empty value/],
    ['unix:uidd:0', /^selectors\[0\] "unix:uidd:0": unknown key for type "unix"; valid forms: unix:uid:<decimal uid>, unix:user:<user name>, .*unix:sha256:<64 lowercase hex digits>$/],
    ['unix:uid', /unknown key for type "unix"/],
    ['proc:name:python', /^selectors\[0\] "proc:name:python": unknown type "proc"; known types: unix, cgroup, systemd, tessera, join_token, x509pop \(see "tessera selectors"\)$/],
    ['unix:path:bin/python', /unix:path takes an absolute, normalized path/],
    ['unix:path:/usr/bin/../bin/python', /unix:path takes an absolute, normalized path/],
    ['unix:path:/usr/bin/', /unix:path takes an absolute, normalized path/],
    ['unix:sha256:ABCD', /unix:sha256 takes the sha256 of the binary: 64 lowercase hex digits/],
    [`unix:sha256:${'AB'.repeat(32)}`, /64 lowercase hex digits/],
    ['cgroup:path:system.slice/x.service', /cgroup:path takes an absolute, normalized cgroup v2 path/],
    ['systemd:unit:nginx', /systemd:unit takes a unit name ending in ".service" or ".scope"/],
    ['systemd:unit:a/b.service', /systemd:unit takes a unit name/],
    ['systemd:name:nginx.service', /unknown key for type "systemd"; valid forms: systemd:unit:<unit>.service or <unit>.scope$/],
    ['join_token:abc', /join_token takes a join token ID: 32 lowercase hex digits/],
    ['x509pop:ca:fingerprint:zz', /x509pop:ca:fingerprint takes a sha-1 fingerprint: 40 lowercase hex digits/],
    ['x509pop:subject:o:acme', /unknown key for type "x509pop"; valid forms: x509pop:subject:cn:<common name>, x509pop:ca:fingerprint/],
  ])('refuses %s with INVALID_ARGUMENT naming the valid forms', (text, message) => {
    const fn = () => validateEntryInput(withSelector(text), ctx);
    expect(codeOf(fn)).toBe('INVALID_ARGUMENT');
    expect(messageOf(fn)).toMatch(message);
  });

  it.each([
    'unix:uid:0',
    'unix:uid:4294967294',
    'unix:user:svc-invoice',
    'unix:gid:1000',
    'unix:group:agents',
    'unix:supplementary_gid:27',
    'unix:supplementary_group:docker',
    'unix:path:/usr/bin/python3',
    `unix:sha256:${'0f'.repeat(32)}`,
    'cgroup:path:/',
    'cgroup:path:/system.slice/invoice.service',
    'systemd:unit:invoice.service',
    'systemd:unit:session-3.scope',
    'join_token:0123456789abcdef0123456789abcdef',
    'x509pop:subject:cn:node 1',
    `x509pop:ca:fingerprint:${'ab'.repeat(20)}`,
    'x509pop:san:dns:node-1.acme.test',
    'x509pop:san:uri:spiffe://acme.test/node-1',
  ])('accepts %s', (text) => {
    expect(codeOf(() => validateEntryInput(withSelector(text), ctx))).toBe('OK');
  });
});
