import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ConfigError } from '../../src/common/config/index.js';
import { parseAgentConfig } from '../../src/agent/config.js';

const base = { trustDomain: 'example.org', trustBundlePath: 'b.pem', nodeAttestor: { joinToken: { token: 't' } } };

function failure(raw: unknown): ConfigError {
  try {
    parseAgentConfig(raw, '/etc/tessera');
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('agent config', () => {
  it('fills defaults and resolves paths against the config directory', () => {
    const c = parseAgentConfig(base, '/etc/tessera');
    expect(c.trustDomain.name).toBe('example.org');
    expect(c.serverAddress).toBe('127.0.0.1:8081');
    expect(c.bootstrap).toEqual({ kind: 'bundle', trustBundlePath: '/etc/tessera/b.pem' });
    expect(c.nodeAttestor).toEqual({ kind: 'join_token', token: 't' });
    expect(c.dataDir).toBe(path.resolve('./.tessera/agent'));
    expect(c.socketPath).toBe(path.join(c.dataDir, 'api.sock'));
    expect(c.httpListen).toBe('127.0.0.1:8082');
    expect(c.logLevel).toBe('info');

    const x = parseAgentConfig(
      {
        trustDomain: 'example.org',
        insecureBootstrap: true,
        nodeAttestor: { x509pop: { certFile: 'n.crt', keyFile: '/k/n.key' } },
        dataDir: 'data',
        workloadApi: { socketPath: 'run/api.sock' },
      },
      '/etc/tessera',
    );
    expect(x.bootstrap).toEqual({ kind: 'insecure' });
    expect(x.nodeAttestor).toEqual({ kind: 'x509pop', certFile: '/etc/tessera/n.crt', keyFile: '/k/n.key' });
    expect(x.dataDir).toBe('/etc/tessera/data');
    expect(x.socketPath).toBe('/etc/tessera/run/api.sock');
  });

  it('refuses bad combinations and values with the dotted path', () => {
    const cases: [unknown, string][] = [
      [{ ...base, trustBundlePath: undefined }, 'trustBundlePath'],
      [{ ...base, insecureBootstrap: true }, 'insecureBootstrap'],
      [{ ...base, nodeAttestor: {} }, 'nodeAttestor'],
      [{ ...base, nodeAttestor: { joinToken: { token: 't' }, x509pop: { certFile: 'a', keyFile: 'b' } } }, 'nodeAttestor'],
      [{ ...base, nodeAttestor: { joinToken: {} } }, 'nodeAttestor.joinToken.token'],
      [{ ...base, serverAddress: 'localhost' }, 'serverAddress'],
      [{ ...base, http: { listen: 'x:99999' } }, 'http.listen'],
      [{ ...base, trustDomain: 'spiffe://example.org' }, 'trustDomain'],
      [{ ...base, trustDomain: 'Bad Domain' }, 'trustDomain'],
      [{ ...base, logLevel: 'loud' }, 'logLevel'],
      [{ ...base, serverAdress: 'x:1' }, 'serverAdress'],
      [{ trustBundlePath: 'b.pem', nodeAttestor: base.nodeAttestor }, 'trustDomain'],
      [{ ...base, workloadApi: { maxConnectionsPerUid: 0 } }, 'workloadApi.maxConnectionsPerUid'],
      [{ ...base, workloadApi: { maxConnections: 10 } }, 'workloadApi.maxConnectionsPerUid'],
      [{ ...base, workloadApi: { idleTimeoutMs: 5 } }, 'workloadApi.idleTimeoutMs'],
    ];
    for (const [raw, at] of cases) expect(failure(raw).path, JSON.stringify(raw)).toBe(at);
  });

  it('accepts deploy/agent.example.yaml', () => {
    const file = path.resolve('deploy/agent.example.yaml');
    const c = parseAgentConfig(parse(readFileSync(file, 'utf8')), path.dirname(file));
    expect(c.nodeAttestor.kind).toBe('join_token');
    expect(c.bootstrap.kind).toBe('bundle');
  });
});
