import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseConfigText, type Schema } from '../../src/common/config/index.js';
import { agentConfigSchema } from '../../src/agent/config.js';
import { parseServerConfig, serverConfigSchema } from '../../src/server/config.js';

const EXAMPLE = fileURLToPath(new URL('../../deploy/server.example.yaml', import.meta.url));
const AGENT_EXAMPLE = fileURLToPath(new URL('../../deploy/agent.example.yaml', import.meta.url));

/** Every dotted key path a schema declares. */
function keyPaths(schema: Schema, prefix = ''): string[] {
  if (schema.type !== 'object') return [];
  return Object.entries(schema.fields).flatMap(([k, v]) => [prefix + k, ...keyPaths(v, prefix + k + '.')]);
}

/** The dotted key paths written in a YAML file, commented-out ones included (`# key:` lines count). */
function documentedPaths(text: string): Set<string> {
  const paths = new Set<string>();
  const stack: { indent: number; key: string }[] = [];
  for (const raw of text.split('\n')) {
    const m = /^(\s*)(?:#\s?)?(\s*)([A-Za-z][A-Za-z0-9]*):(\s|$)/.exec(raw);
    if (!m) continue;
    const indent = m[1]!.length + m[2]!.length;
    while (stack.length > 0 && stack.at(-1)!.indent >= indent) stack.pop();
    stack.push({ indent, key: m[3]! });
    paths.add(stack.map((s) => s.key).join('.'));
  }
  return paths;
}

describe('deploy/server.example.yaml', () => {
  const text = readFileSync(EXAMPLE, 'utf8');

  it('is a valid configuration as it stands', () => {
    const cfg = parseServerConfig(parseConfigText(text, 'yaml', EXAMPLE), '/etc/tessera');
    expect(cfg.trustDomain).toBe('example.org');
    expect(cfg.agentApi.listen).toBe('127.0.0.1:8081');
    expect(cfg.adminSocketPath.endsWith('/admin.sock')).toBe(true);
  });

  it('documents every option of the schema', () => {
    const documented = documentedPaths(text);
    const missing = keyPaths(serverConfigSchema).filter((p) => !documented.has(p));
    expect(missing).toEqual([]);
  });

  it('documents every option of the agent schema in deploy/agent.example.yaml', () => {
    const documented = documentedPaths(readFileSync(AGENT_EXAMPLE, 'utf8'));
    const missing = keyPaths(agentConfigSchema).filter((p) => !documented.has(p));
    expect(missing).toEqual([]);
  });

  it.each([
    [{ trustDomain: 'example.org', agentApi: { listn: 'x' } }, /unknown key "agentApi\.listn"/],
    [{}, /trustDomain must be configured/],
    [{ trustDomain: 'Example.org' }, /trustDomain is invalid/],
    [{ trustDomain: 'spiffe://example.org' }, /trustDomain must be a bare name/],
    [{ trustDomain: 'example.org', agentApi: { listen: 'localhost' } }, /agentApi\.listen must be "host:port"/],
    [{ trustDomain: 'example.org', policy: { supervisor: { maxX509TtlSeconds: 1 } } }, /policy\.supervisor\.maxX509TtlSeconds/],
    [{ trustDomain: 'example.org', ca: { keyType: 'rsa-1024' } }, /ca\.keyType/],
    [{ trustDomain: 'example.org', agentApi: { maxConnections: 0 } }, /agentApi\.maxConnections/],
    [{ trustDomain: 'example.org', agentApi: { handshakeTimeoutMs: 10 } }, /agentApi\.handshakeTimeoutMs/],
    [
      { trustDomain: 'example.org', agentApi: { maxConnections: 10, maxConnectionsPerAddress: 11 } },
      /agentApi\.maxConnectionsPerAddress \(11\) must not exceed agentApi\.maxConnections \(10\)/,
    ],
    [{ trustDomain: 'example.org', http: { maxConnections: 10 } }, /http\.maxConnectionsPerAddress \(256\) must not exceed/],
    [{ trustDomain: 'example.org', http: { headersTimeoutMs: 'soon' } }, /http\.headersTimeoutMs/],
  ])('refuses %j naming the setting', (raw, message) => {
    expect(() => parseServerConfig(raw, '/etc/tessera')).toThrow(message);
  });
});

describe('server dataDir', () => {
  it('resolves the default against the config directory, like every other relative path', () => {
    const cfg = parseServerConfig({ trustDomain: 'example.org' }, '/etc/tessera', '/nonexistent');
    expect(cfg.dataDir).toBe('/etc/tessera/.tessera/server');
    expect(cfg.adminSocketPath).toBe('/etc/tessera/.tessera/server/admin.sock');
    expect(cfg.warnings).toEqual([]);
    expect(parseServerConfig({ trustDomain: 'example.org', dataDir: 'd' }, '/etc/tessera', '/nonexistent').dataDir).toBe('/etc/tessera/d');
  });
});
