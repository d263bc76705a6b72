import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfigFile } from '../../../src/common/config/index.js';

const dir = mkdtempSync(join(tmpdir(), 'tessera-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

function fail(path: string): ConfigError {
  try {
    loadConfigFile(path);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfigFile', () => {
  it('reads YAML by extension (.yaml and .yml)', () => {
    const text = 'trustDomain: acme.test\nserver:\n  port: 8081\n  enabled: true\nlist: [a, b]\n';
    const expected = { trustDomain: 'acme.test', server: { port: 8081, enabled: true }, list: ['a', 'b'] };
    expect(loadConfigFile(file('server.yaml', text))).toEqual(expected);
    expect(loadConfigFile(file('server.YML', text))).toEqual(expected);
  });

  it('uses YAML 1.2: "yes" stays a string', () => {
    expect(loadConfigFile(file('yes.yaml', 'flag: yes\n'))).toEqual({ flag: 'yes' });
  });

  it('reads JSON for any other name', () => {
    expect(loadConfigFile(file('server.json', '{"trustDomain":"acme.test"}'))).toEqual({ trustDomain: 'acme.test' });
    expect(loadConfigFile(file('server.conf', '{"a":1}'))).toEqual({ a: 1 });
  });

  it('refuses a missing file', () => {
    const err = fail(join(dir, 'nope.yaml'));
    expect(err.reason).toBe('read');
    expect(err.code).toBe('INVALID_ARGUMENT');
  });

  it.each([
    ['bad.json', '{"a":'],
    ['bad.yaml', 'a: [1, 2\n'],
    ['dup.yaml', 'a: 1\na: 2\n'],
  ])('refuses unparsable %s', (name, text) => {
    const err = fail(file(name, text));
    expect(err.reason).toBe('parse');
    expect(err.message).toContain(name);
  });
});
