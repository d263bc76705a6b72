import { describe, expect, it } from 'vitest';
import { SpiffeId, TrustDomain, MAX_SPIFFE_ID_BYTES } from '../../../src/spiffe/id/index.js';
import { SpiffeError } from '../../../src/spiffe/errors.js';

function fail(fn: () => unknown): SpiffeError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(SpiffeError);
    return err as SpiffeError;
  }
  throw new Error('expected a SpiffeError');
}

const TD_CHARS = new Set('abcdefghijklmnopqrstuvwxyz0123456789.-_'.split('').map((c) => c.charCodeAt(0)));
const PATH_CHARS = new Set(
  'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_'.split('').map((c) => c.charCodeAt(0)),
);

describe('SpiffeId.parse', () => {
  it('probes every byte 0-255 in trust-domain position', () => {
    for (let b = 0; b < 256; b++) {
      const input = 'spiffe://trustdomain' + String.fromCharCode(b) + 'x/path';
      if (TD_CHARS.has(b)) {
        expect(SpiffeId.parse(input).toString(), `byte ${b}`).toBe(input);
      } else if (b === 0x2f) {
        // '/' ends the trust domain: "trustdomain" then path "/x/path"
        expect(SpiffeId.parse(input).trustDomain.name).toBe('trustdomain');
      } else {
        const err = fail(() => SpiffeId.parse(input));
        expect(err.code, `byte ${b}`).toBe('ERR_SPIFFE_ID_INVALID');
        expect(err.rule, `byte ${b}`).toBe('trust-domain-charset');
      }
    }
  });

  it('probes every byte 0-255 in path position', () => {
    for (let b = 0; b < 256; b++) {
      const input = 'spiffe://trustdomain/path' + String.fromCharCode(b) + 'x';
      if (PATH_CHARS.has(b) || b === 0x2f) {
        expect(SpiffeId.parse(input).toString(), `byte ${b}`).toBe(input);
      } else {
        const err = fail(() => SpiffeId.parse(input));
        expect(err.code, `byte ${b}`).toBe('ERR_SPIFFE_ID_INVALID');
        expect(err.rule, `byte ${b}`).toBe('path-charset');
      }
    }
  });

  it.each([
    ['', 'empty'],
    ['s', 'scheme'],
    ['spiffe:/x', 'scheme'],
    ['Spiffe://example.org/x', 'scheme'],
    ['SPIFFE://example.org/x', 'scheme'],
    ['https://example.org/x', 'scheme'],
    ['spiffe://', 'trust-domain-missing'],
    ['spiffe:///', 'trust-domain-missing'],
    ['spiffe:///path', 'trust-domain-missing'],
    ['spiffe://Example.org/x', 'trust-domain-charset'],
    ['spiffe://user@example.org/x', 'trust-domain-charset'],
    ['spiffe://example.org:443/x', 'trust-domain-charset'],
    ['spiffe://example.org?q=1', 'trust-domain-charset'],
    ['spiffe://example.org#frag', 'trust-domain-charset'],
    ['spiffe://a..b/x', 'trust-domain-empty-label'],
    ['spiffe://.a/x', 'trust-domain-empty-label'],
    ['spiffe://a./x', 'trust-domain-empty-label'],
    ['spiffe://example.org/', 'trailing-slash'],
    ['spiffe://example.org/path/', 'trailing-slash'],
    ['spiffe://example.org//', 'empty-segment'],
    ['spiffe://example.org//path', 'empty-segment'],
    ['spiffe://example.org/a//b', 'empty-segment'],
    ['spiffe://example.org/.', 'dot-segment'],
    ['spiffe://example.org/./path', 'dot-segment'],
    ['spiffe://example.org/path/./other', 'dot-segment'],
    ['spiffe://example.org/..', 'dot-segment'],
    ['spiffe://example.org/path/..', 'dot-segment'],
    ['spiffe://example.org/../path', 'dot-segment'],
    ['spiffe://example.org/p%41th', 'path-charset'],
    ['spiffe://example.org/path?x=1', 'path-charset'],
    ['spiffe://example.org/path#f', 'path-charset'],
    ['spiffe://example.org/a:b', 'path-charset'],
    ['spiffe://example.org/a b', 'path-charset'],
    ['spiffe://example.org/ü', 'path-charset'],
  ])('refuses %j (%s)', (input, rule) => {
    const err = fail(() => SpiffeId.parse(input));
    expect(err.code).toBe('ERR_SPIFFE_ID_INVALID');
    expect(err.rule).toBe(rule);
    expect(err.message).toMatch(/^[a-zS]/); // lowercase sentence (may start with "SPIFFE")
  });

  it.each([
    'spiffe://example.org',
    'spiffe://example.org/path',
    'spiffe://example.org/.path',
    'spiffe://example.org/..path',
    'spiffe://example.org/...',
    'spiffe://example.org/Path/With-UPPER_case.and.dots',
    'spiffe://10.0.0.1/workload',
    'spiffe://a_b-c.d/e',
  ])('accepts %j and prints it back unchanged', (input) => {
    const id = SpiffeId.parse(input);
    expect(id.toString()).toBe(input);
    expect(JSON.stringify(id)).toBe(JSON.stringify(input));
  });

  it('splits trust domain and path', () => {
    const id = SpiffeId.parse('spiffe://example.org/ns/prod/sa/web');
    expect(id.trustDomain.name).toBe('example.org');
    expect(id.path).toBe('/ns/prod/sa/web');
    expect(id.isTrustDomainId()).toBe(false);
    expect(SpiffeId.parse('spiffe://example.org').isTrustDomainId()).toBe(true);
    expect(id.memberOf(TrustDomain.parse('example.org'))).toBe(true);
    expect(id.memberOf(TrustDomain.parse('example.com'))).toBe(false);
  });

  it('is case-sensitive in the path', () => {
    expect(SpiffeId.parse('spiffe://td/A').equals(SpiffeId.parse('spiffe://td/a'))).toBe(false);
    expect(SpiffeId.parse('spiffe://td/a').equals(SpiffeId.parse('spiffe://td/a'))).toBe(true);
  });

  it('accepts IDs of exactly 2048 bytes and refuses 2049', () => {
    const prefix = 'spiffe://example.org';
    let path = '';
    while (prefix.length + path.length + 101 <= MAX_SPIFFE_ID_BYTES) path += '/' + 'x'.repeat(100);
    path += '/' + 'y'.repeat(MAX_SPIFFE_ID_BYTES - prefix.length - path.length - 1);
    const max = prefix + path;
    expect(max.length).toBe(2048);
    expect(SpiffeId.parse(max).toString()).toBe(max);
    const err = fail(() => SpiffeId.parse(max + 'z'));
    expect(err.rule).toBe('length');
    expect(fail(() => SpiffeId.fromPath(TrustDomain.parse('example.org'), path + 'z')).rule).toBe('length');
  });

  it('refuses trust domains over 255 bytes inside an ID', () => {
    const td = Array.from({ length: 4 }, () => 'a'.repeat(63)).join('.') + '.bb'; // 255 + 3
    expect(fail(() => SpiffeId.parse(`spiffe://${td}/x`)).rule).toBe('trust-domain-length');
  });
});

describe('SpiffeId builders', () => {
  const td = TrustDomain.parse('example.org');

  it('fromPath validates the path', () => {
    expect(SpiffeId.fromPath(td, '/a/b').toString()).toBe('spiffe://example.org/a/b');
    expect(SpiffeId.fromPath(td, '').toString()).toBe('spiffe://example.org');
    expect(fail(() => SpiffeId.fromPath(td, 'a')).rule).toBe('leading-slash');
    expect(fail(() => SpiffeId.fromPath(td, '/a/')).rule).toBe('trailing-slash');
    expect(fail(() => SpiffeId.fromPath(td, '/a/../b')).rule).toBe('dot-segment');
  });

  it('fromSegments joins and validates segments', () => {
    expect(SpiffeId.fromSegments(td, 'agents', 'invoice').toString()).toBe('spiffe://example.org/agents/invoice');
    expect(fail(() => SpiffeId.fromSegments(td, 'a/b')).rule).toBe('segment-slash');
    expect(fail(() => SpiffeId.fromSegments(td, '')).rule).toBe('trailing-slash');
    expect(fail(() => SpiffeId.fromSegments(td, 'ok', '..')).rule).toBe('dot-segment');
  });

  it('forTrustDomain has no path', () => {
    expect(SpiffeId.forTrustDomain(td).toString()).toBe('spiffe://example.org');
  });
});
