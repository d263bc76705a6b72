import { describe, expect, expectTypeOf, it } from 'vitest';
import {
  ConfigError,
  configProblems,
  defineSchema,
  validateConfig,
  type ConfigErrorReason,
} from '../../../src/common/config/index.js';
import { changedSettings } from '../../../src/common/config/changes.js';

const schema = defineSchema({
  type: 'object',
  fields: {
    trustDomain: { type: 'string', nonEmpty: true },
    logLevel: { type: 'enum', values: ['error', 'warn', 'info', 'debug'], default: 'info' },
    server: {
      type: 'object',
      fields: {
        bind_address: { type: 'string', default: '127.0.0.1' },
        port: { type: 'int', min: 0, max: 65535, default: 8081 },
        tls: { type: 'object', optional: true, fields: { certFile: { type: 'string' }, keyFile: { type: 'string' } } },
      },
    },
    policy: {
      type: 'object',
      default: {},
      fields: {
        maxX509TtlSeconds: { type: 'int', min: 60, max: 2592000, default: 3600 },
        allowAdmin: { type: 'bool', default: false },
      },
    },
    upstreams: {
      type: 'array',
      optional: true,
      items: { type: 'object', fields: { host: { type: 'string' }, weight: { type: 'int', min: 1 } } },
    },
    federation: {
      type: 'map',
      optional: true,
      values: { type: 'object', fields: { endpoint: { type: 'string' } } },
    },
  },
});

function fail(input: unknown): ConfigError {
  try {
    validateConfig(schema, input);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

const minimal = { trustDomain: 'acme.test', server: {} };

describe('validateConfig', () => {
  it('applies defaults, including inside a defaulted object', () => {
    const config = validateConfig(schema, minimal);
    expect(config).toEqual({
      trustDomain: 'acme.test',
      logLevel: 'info',
      server: { bind_address: '127.0.0.1', port: 8081 },
      policy: { maxX509TtlSeconds: 3600, allowAdmin: false },
    });
    expect(config.server.tls).toBeUndefined();
    expect(config.upstreams).toBeUndefined();
  });

  it('infers the config type from the schema', () => {
    const config = validateConfig(schema, minimal);
    expectTypeOf(config.trustDomain).toEqualTypeOf<string>();
    expectTypeOf(config.logLevel).toEqualTypeOf<'error' | 'warn' | 'info' | 'debug'>();
    expectTypeOf(config.policy.maxX509TtlSeconds).toEqualTypeOf<number>();
    expectTypeOf(config.server.tls).toEqualTypeOf<{ certFile: string; keyFile: string } | undefined>();
    expectTypeOf(config.upstreams).toEqualTypeOf<{ host: string; weight: number }[] | undefined>();
    expectTypeOf(config.federation).toEqualTypeOf<Record<string, { endpoint: string }> | undefined>();
  });

  it('keeps given values over defaults and does not touch its input', () => {
    const input = { ...minimal, policy: { maxX509TtlSeconds: 600 }, logLevel: 'debug' };
    const frozen = structuredClone(input);
    const config = validateConfig(schema, input);
    expect(config.policy).toEqual({ maxX509TtlSeconds: 600, allowAdmin: false });
    expect(config.logLevel).toBe('debug');
    expect(input).toEqual(frozen);
  });

  it('reads nested arrays and maps', () => {
    const config = validateConfig(schema, {
      ...minimal,
      upstreams: [{ host: 'a', weight: 1 }],
      federation: { 'other.test': { endpoint: 'https://other.test/bundle' } },
    });
    expect(config.upstreams).toEqual([{ host: 'a', weight: 1 }]);
    expect(config.federation?.['other.test']?.endpoint).toBe('https://other.test/bundle');
  });

  it.each<[string, unknown, ConfigErrorReason, string, string]>([
    ['unknown key at the top', { ...minimal, trust_domain: 'x' }, 'unknown_key', 'trust_domain', 'unknown key "trust_domain"'],
    [
      'unknown key at depth',
      { ...minimal, server: { bind_adress: '0.0.0.0' } },
      'unknown_key',
      'server.bind_adress',
      'unknown key "server.bind_adress"',
    ],
    [
      'unknown key three levels down',
      { ...minimal, server: { tls: { certFile: 'a', keyFile: 'b', caFile: 'c' } } },
      'unknown_key',
      'server.tls.caFile',
      'unknown key "server.tls.caFile"',
    ],
    [
      'unknown key inside an array item',
      { ...minimal, upstreams: [{ host: 'a', weight: 1 }, { host: 'b', weight: 1, wieght: 2 }] },
      'unknown_key',
      'upstreams[1].wieght',
      'unknown key "upstreams[1].wieght"',
    ],
    [
      'unknown key inside a map value',
      { ...minimal, federation: { 'o.test': { endpoint: 'x', ep: 'y' } } },
      'unknown_key',
      'federation.o.test.ep',
      'unknown key "federation.o.test.ep"',
    ],
    ['missing required string', { server: {} }, 'missing', 'trustDomain', 'trustDomain must be configured'],
    ['null counts as missing', { trustDomain: null, server: {} }, 'missing', 'trustDomain', 'trustDomain must be configured'],
    ['missing required object', { trustDomain: 'a' }, 'missing', 'server', 'server must be configured'],
    [
      'missing field of an optional object that is present',
      { ...minimal, server: { tls: { certFile: 'a' } } },
      'missing',
      'server.tls.keyFile',
      'server.tls.keyFile must be configured',
    ],
    ['empty non-empty string', { ...minimal, trustDomain: '' }, 'type', 'trustDomain', 'trustDomain must be a non-empty string'],
    ['number for a string', { ...minimal, trustDomain: 5 }, 'type', 'trustDomain', 'trustDomain must be a string'],
    [
      'int out of range',
      { ...minimal, policy: { maxX509TtlSeconds: 30 } },
      'range',
      'policy.maxX509TtlSeconds',
      'policy.maxX509TtlSeconds must be an integer between 60 and 2592000',
    ],
    [
      'fraction for an int',
      { ...minimal, policy: { maxX509TtlSeconds: 90.5 } },
      'type',
      'policy.maxX509TtlSeconds',
      'policy.maxX509TtlSeconds must be an integer between 60 and 2592000',
    ],
    [
      'string for an int',
      { ...minimal, policy: { maxX509TtlSeconds: '3600' } },
      'type',
      'policy.maxX509TtlSeconds',
      'policy.maxX509TtlSeconds must be an integer between 60 and 2592000',
    ],
    [
      'int below a lone minimum',
      { ...minimal, upstreams: [{ host: 'a', weight: 0 }] },
      'range',
      'upstreams[0].weight',
      'upstreams[0].weight must be an integer of at least 1',
    ],
    [
      'string for a bool',
      { ...minimal, policy: { allowAdmin: 'yes' } },
      'type',
      'policy.allowAdmin',
      'policy.allowAdmin must be a boolean (true or false)',
    ],
    ['value outside an enum', { ...minimal, logLevel: 'verbose' }, 'enum', 'logLevel', 'logLevel must be one of "error", "warn", "info", "debug"'],
    ['object for an array', { ...minimal, upstreams: { host: 'a' } }, 'type', 'upstreams', 'upstreams must be a list'],
    ['array for an object', { ...minimal, server: [] }, 'type', 'server', 'server must be a mapping of keys to values'],
    ['scalar document', 'just text', 'type', '', 'configuration must be a mapping of keys to values'],
  ])('refuses %s', (_name, input, reason, path, message) => {
    const err = fail(input);
    expect(err.code).toBe('INVALID_ARGUMENT');
    expect(err.reason).toBe(reason);
    expect(err.path).toBe(path);
    expect(err.message).toBe(message);
  });

  it('reports an unknown key before a missing one (a typo causes both)', () => {
    const err = fail({ trustDomain: 'a', server: { bind_adress: 'x', port: 1 } });
    expect(err.reason).toBe('unknown_key');
  });

  it('validates defaults too', () => {
    const bad = defineSchema({ type: 'object', fields: { n: { type: 'int', min: 10, default: 1 } } });
    expect(() => validateConfig(bad, {})).toThrow('n must be an integer of at least 10');
  });
});

describe('configProblems (every problem, for tessera config validate)', () => {
  const schema = defineSchema({
    type: 'object',
    fields: {
      name: { type: 'string', nonEmpty: true },
      port: { type: 'int', min: 1, max: 65535, default: 80 },
      tags: { type: 'array', items: { type: 'string' }, default: [] },
      inner: { type: 'object', default: {}, fields: { level: { type: 'enum', values: ['a', 'b'], default: 'a' } } },
    },
  });

  it('lists each unknown key, wrong value and missing setting once, with its dotted path', () => {
    const problems = configProblems(schema, { nmae: 'x', port: 0, tags: ['ok', 5], inner: { level: 'c', extra: 1 } });
    expect(problems.map((p) => [p.reason, p.path])).toEqual([
      ['unknown_key', 'nmae'],
      ['missing', 'name'],
      ['range', 'port'],
      ['type', 'tags[1]'],
      ['unknown_key', 'inner.extra'],
      ['enum', 'inner.level'],
    ]);
  });

  it('is empty when validateConfig accepts the input, and reports a whole-file problem once', () => {
    expect(configProblems(schema, { name: 'x' })).toEqual([]);
    expect(configProblems(schema, ['not', 'a', 'mapping']).map((p) => p.message)).toEqual([
      'configuration must be a mapping of keys to values',
    ]);
  });
});

describe('changedSettings (what a SIGHUP changed)', () => {
  it('names the dotted paths that differ, comparing lists and non-plain values as a whole', () => {
    expect(changedSettings({ a: 1, b: { c: 'x', d: [1] }, e: 'same' }, { a: 2, b: { c: 'x', d: [1, 2] }, e: 'same', f: true })).toEqual([
      'a',
      'b.d',
      'f',
    ]);
    expect(changedSettings({ t: { certFile: 'a' } }, { t: undefined })).toEqual(['t']);
    expect(changedSettings({ a: 1 }, { a: 1 })).toEqual([]);
  });
});
