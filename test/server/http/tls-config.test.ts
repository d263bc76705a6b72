/**
 * `http.tls` in the server configuration: relative paths resolved against the config file's directory, and the
 * files read at start with errors that name the setting (never the files' contents).
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/common/config/index.js';
import { parseServerConfig } from '../../../src/server/config.js';
import { readTlsFiles } from '../../../src/server/http/tls-files.js';
import { mintCertificate } from '../../helpers/test-ca.js';

let dir: string;
let keyPem: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tessera-http-tls-'));
  const cert = await mintCertificate({ subject: 'CN=localhost', dnsNames: ['localhost'] });
  keyPem = cert.key.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  writeFileSync(join(dir, 'web.crt'), cert.pem);
  writeFileSync(join(dir, 'web.key'), keyPem, { mode: 0o600 });
  const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  writeFileSync(join(dir, 'other.key'), other.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const files = (certFile: string, keyFile: string) => ({ certFile: join(dir, certFile), keyFile: join(dir, keyFile) });
const fail = (fn: () => unknown): ConfigError => {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
};

describe('http.tls', () => {
  it('is off by default and resolves relative paths against the config directory', () => {
    expect(parseServerConfig({ trustDomain: 'example.org' }, dir).http.tls).toBeUndefined();
    const cfg = parseServerConfig(
      { trustDomain: 'example.org', http: { tls: { certFile: 'web.crt', keyFile: './web.key' } } },
      dir,
    );
    expect(cfg.http.tls).toEqual({ certFile: join(dir, 'web.crt'), keyFile: join(dir, 'web.key') });
    expect(cfg.http.listen).toBe('127.0.0.1:8080');
  });

  it('needs both files', () => {
    const raw = { trustDomain: 'example.org', http: { tls: { certFile: 'web.crt' } } };
    const err = fail(() => parseServerConfig(raw, dir));
    expect(err.path).toBe('http.tls.keyFile');
  });

  it('reads the certificate and key', () => {
    const { cert, key } = readTlsFiles(files('web.crt', 'web.key'), 'http.tls');
    expect(cert.toString()).toContain('BEGIN CERTIFICATE');
    expect(key.length).toBeGreaterThan(0);
  });

  it('names the setting when a file cannot be read', () => {
    const err = fail(() => readTlsFiles(files('missing.crt', 'web.key'), 'http.tls'));
    expect(err).toMatchObject({ reason: 'read', path: 'http.tls.certFile' });
    expect(err.message).toContain('missing.crt');
  });

  it('names the setting, not the key, when the key does not match the certificate', () => {
    const err = fail(() => readTlsFiles(files('web.crt', 'other.key'), 'http.tls'));
    expect(err.path).toBe('http.tls');
    expect(err.message).not.toContain(keyPem.split('\n')[1]!);
  });
});
