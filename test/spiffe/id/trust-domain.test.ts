import { describe, expect, it } from 'vitest';
import { TrustDomain, MAX_TRUST_DOMAIN_BYTES } from '../../../src/spiffe/id/index.js';
import { SpiffeError } from '../../../src/spiffe/errors.js';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    expect(err).toBeInstanceOf(SpiffeError);
    return (err as SpiffeError).code;
  }
}

function ruleOf(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    return (err as SpiffeError).rule;
  }
}

const TD_CHARS = new Set('abcdefghijklmnopqrstuvwxyz0123456789.-_'.split('').map((c) => c.charCodeAt(0)));

describe('TrustDomain.parse', () => {
  it('accepts exactly lowercase letters, digits, dot, dash and underscore: every byte 0-255 probed', () => {
    for (let b = 0; b < 256; b++) {
      const name = 'trustdomain' + String.fromCharCode(b) + 'x';
      const code = codeOf(() => TrustDomain.parse(name));
      if (TD_CHARS.has(b)) {
        expect(code, `byte ${b}`).toBeUndefined();
        expect(TrustDomain.parse(name).name).toBe(name);
      } else if (b === 0x2f) {
        // '/' alone is not "a SPIFFE ID containing :/", so it is a character error
        expect(code, `byte ${b}`).toBe('ERR_TRUST_DOMAIN_INVALID');
      } else {
        expect(code, `byte ${b}`).toBe('ERR_TRUST_DOMAIN_INVALID');
        expect(ruleOf(() => TrustDomain.parse(name)), `byte ${b}`).toBe('charset');
      }
    }
  });

  it('refuses non-ASCII code points given as UTF-16 strings', () => {
    for (const s of ['é.test', 'domain\u2024test', 'dömain.test', 'ex\u{1F600}.test']) {
      expect(codeOf(() => TrustDomain.parse(s))).toBe('ERR_TRUST_DOMAIN_INVALID');
    }
  });

  it.each([
    ['', 'missing'],
    ['.example.org', 'empty-label'],
    ['example.org.', 'empty-label'],
    ['example..org', 'empty-label'],
    ['.', 'empty-label'],
    ['Example.org', 'charset'],
    ['example.org:8080', 'charset'],
    ['user@example.org', 'charset'],
  ])('refuses %j (%s)', (input, rule) => {
    expect(codeOf(() => TrustDomain.parse(input))).toBe('ERR_TRUST_DOMAIN_INVALID');
    expect(ruleOf(() => TrustDomain.parse(input))).toBe(rule);
  });

  it('accepts up to 255 bytes and refuses 256', () => {
    const label = 'a'.repeat(63);
    const max = [label, label, label, 'b'.repeat(MAX_TRUST_DOMAIN_BYTES - 3 * 64)].join('.');
    expect(max.length).toBe(255);
    expect(TrustDomain.parse(max).name).toBe(max);
    expect(ruleOf(() => TrustDomain.parse(max + 'c'))).toBe('length');
  });

  it('takes the trust domain of a SPIFFE ID', () => {
    expect(TrustDomain.parse('spiffe://example.org/a/b').name).toBe('example.org');
    expect(TrustDomain.parse('spiffe://example.org').name).toBe('example.org');
    expect(codeOf(() => TrustDomain.parse('https://example.org/a'))).toBe('ERR_TRUST_DOMAIN_INVALID');
    expect(codeOf(() => TrustDomain.parse('spiffe:///a'))).toBe('ERR_TRUST_DOMAIN_INVALID');
  });

  it('treats dotted-quad names as plain names and compares byte-exactly', () => {
    expect(TrustDomain.parse('10.0.0.1').name).toBe('10.0.0.1');
    expect(TrustDomain.parse('a.test').equals(TrustDomain.parse('a.test'))).toBe(true);
    expect(TrustDomain.parse('a.test').equals(TrustDomain.parse('b.test'))).toBe(false);
    expect(TrustDomain.parse('a.test').idString()).toBe('spiffe://a.test');
  });

  it('throws TypeError on a non-string', () => {
    expect(() => TrustDomain.parse(42 as unknown as string)).toThrow(TypeError);
  });
});
