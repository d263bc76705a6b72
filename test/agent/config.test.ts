import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { parse } from 'yaml';
import { ConfigError } from '../../src/common/config/index.js';
import { loadAgentConfig, parseAgentConfig } from '../../src/agent/config.js';

const base = { trustDomain: 'example.org', trustBundlePath: 'b.pem', nodeAttestor: { joinToken: { token: 't' } } };

function failure(raw: unknown): ConfigError {
  try {
    parseAgentConfig(raw, '/etc/tessera', {}, '/nonexistent');
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('agent config', () => {
  it('fills defaults and resolves paths against the config directory', () => {
    const c = parseAgentConfig(base, '/etc/tessera', {}, '/nonexistent');
    expect(c.trustDomain.name).toBe('example.org');
    expect(c.serverAddress).toBe('127.0.0.1:8081');
    expect(c.bootstrap).toEqual({ kind: 'bundle', trustBundlePath: '/etc/tessera/b.pem' });
    expect(c.nodeAttestor).toEqual({ kind: 'join_token', token: 't' });
    expect(c.dataDir).toBe('/etc/tessera/.tessera/agent');
    expect(c.warnings).toEqual([]);
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
      [{ ...base, nodeAttestor: { joinToken: {} } }, 'nodeAttestor.joinToken'],
      [{ ...base, nodeAttestor: { joinToken: { token: 't', tokenEnv: 'T' } } }, 'nodeAttestor.joinToken'],
      [{ ...base, nodeAttestor: { joinToken: { tokenFile: 'f', tokenEnv: 'T' } } }, 'nodeAttestor.joinToken'],
      [{ ...base, nodeAttestor: { joinToken: { tokenFile: '' } } }, 'nodeAttestor.joinToken.tokenFile'],
      [{ ...base, nodeAttestor: { joinToken: { tokenEnv: 5 } } }, 'nodeAttestor.joinToken.tokenEnv'],
      [{ ...base, nodeAttestor: { joinToken: { tokenFile: '/nonexistent/token' } } }, 'nodeAttestor.joinToken.tokenFile'],
      [{ ...base, nodeAttestor: { joinToken: { tokenEnv: 'TESSERA_TEST_UNSET_VARIABLE' } } }, 'nodeAttestor.joinToken.tokenEnv'],
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
    const c = parseAgentConfig(parse(readFileSync(file, 'utf8')), path.dirname(file), {}, '/nonexistent');
    expect(c.nodeAttestor.kind).toBe('join_token');
    expect(c.bootstrap.kind).toBe('bundle');
  });

  describe('join token from a file or an environment variable', () => {
    const SECRET = 'f00dfeedf00dfeedf00dfeedf00dfeed';
    let dir: string;
    beforeEach(() => {
      dir = mkdtempSync(path.join(tmpdir(), 'tessera-agent-config-'));
    });
    afterEach(() => {
      vi.unstubAllEnvs();
      rmSync(dir, { recursive: true, force: true });
    });
    const withToken = (joinToken: Record<string, unknown>) => ({ ...base, nodeAttestor: { joinToken } });
    const refused = (raw: unknown, env: Record<string, string> = {}): ConfigError => {
      try {
        parseAgentConfig(raw, dir, env, '/nonexistent');
      } catch (err) {
        if (err instanceof ConfigError) return err;
        throw err;
      }
      throw new Error('expected a ConfigError');
    };

    it('reads tokenFile relative to the config directory, one trailing newline allowed', () => {
      writeFileSync(path.join(dir, 'token'), `${SECRET}\n`, { mode: 0o600 });
      const c = parseAgentConfig(withToken({ tokenFile: 'token' }), dir, {}, '/nonexistent');
      expect(c.nodeAttestor).toEqual({ kind: 'join_token', token: SECRET });
    });

    it('reads tokenEnv from the environment', () => {
      const c = parseAgentConfig(withToken({ tokenEnv: 'JOIN' }), dir, { JOIN: SECRET }, '/nonexistent');
      expect(c.nodeAttestor).toEqual({ kind: 'join_token', token: SECRET });
    });

    it('refuses a missing, empty or multi-word token file and an unset or empty variable, never quoting the token', () => {
      writeFileSync(path.join(dir, 'empty'), '\n');
      writeFileSync(path.join(dir, 'two'), `${SECRET} ${SECRET}\n`);
      const cases: [unknown, Record<string, string>, string, RegExp][] = [
        [withToken({ tokenFile: 'missing' }), {}, 'nodeAttestor.joinToken.tokenFile', /cannot be read \(ENOENT\)/],
        [withToken({ tokenFile: 'empty' }), {}, 'nodeAttestor.joinToken.tokenFile', /must hold the join token alone/],
        [withToken({ tokenFile: 'two' }), {}, 'nodeAttestor.joinToken.tokenFile', /must hold the join token alone/],
        [withToken({ tokenEnv: 'JOIN' }), {}, 'nodeAttestor.joinToken.tokenEnv', /"JOIN", which is not set/],
        [withToken({ tokenEnv: 'JOIN' }), { JOIN: ' ' }, 'nodeAttestor.joinToken.tokenEnv', /"JOIN", which is empty/],
        [withToken({ token: SECRET, tokenFile: 'two' }), {}, 'nodeAttestor.joinToken', /exactly one of token, tokenFile and tokenEnv, not token and tokenFile/],
        [withToken({}), {}, 'nodeAttestor.joinToken', /exactly one of token, tokenFile and tokenEnv$/],
      ];
      for (const [raw, env, at, message] of cases) {
        const err = refused(raw, env);
        expect(err.path, JSON.stringify(raw)).toBe(at);
        expect(err.message).toMatch(message);
        expect(err.message).not.toContain(SECRET);
      }
    });

    it('expands ${VAR} in the file at load, and refuses an unset one naming the setting and the variable', () => {
      const file = path.join(dir, 'agent.yaml');
      writeFileSync(
        file,
        'trustDomain: example.org\ntrustBundlePath: b.pem\nnodeAttestor:\n  joinToken:\n    token: ${TESSERA_TEST_JOIN}\n' +
          'dataDir: ./data\n',
      );
      vi.stubEnv('TESSERA_TEST_JOIN', SECRET);
      expect(loadAgentConfig(file).nodeAttestor).toEqual({ kind: 'join_token', token: SECRET });
      vi.stubEnv('TESSERA_TEST_JOIN', undefined as unknown as string);
      delete process.env['TESSERA_TEST_JOIN'];
      expect(() => loadAgentConfig(file)).toThrow(
        'nodeAttestor.joinToken.token refers to environment variable "TESSERA_TEST_JOIN", which is not set',
      );
    });
  });
});
