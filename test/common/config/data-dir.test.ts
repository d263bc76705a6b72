import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { resolveDataDir } from '../../../src/common/config/data-dir.js';

const OLD = './.tessera/server';

describe('resolveDataDir (one rule for relative paths, and the old default)', () => {
  let root: string;
  let configDir: string;
  let cwd: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'tessera-datadir-'));
    configDir = join(root, 'etc');
    cwd = join(root, 'work');
    mkdirSync(configDir);
    mkdirSync(cwd);
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  const withData = (dir: string) => {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'datastore.sqlite3'), 'x');
  };

  it('resolves the default and any other relative value against the config directory', () => {
    expect(resolveDataDir(OLD, OLD, configDir, cwd)).toEqual({ dataDir: join(configDir, '.tessera/server'), warnings: [] });
    expect(resolveDataDir('data', OLD, configDir, cwd)).toEqual({ dataDir: join(configDir, 'data'), warnings: [] });
    expect(resolveDataDir('/var/lib/tessera', OLD, configDir, cwd).dataDir).toBe('/var/lib/tessera');
  });

  it('keeps using the old working-directory location when only it holds data, with a warning saying how to move it', () => {
    const old = join(cwd, '.tessera/server');
    withData(old);
    const r = resolveDataDir(OLD, OLD, configDir, cwd);
    expect(r.dataDir).toBe(old);
    expect(r.warnings).toHaveLength(1);
    expect(r.warnings[0]).toContain(`using the old location ${JSON.stringify(old)}`);
    expect(r.warnings[0]).toContain(`set dataDir to ${JSON.stringify(old)}`);
    expect(r.warnings[0]).toContain(`move the directory to ${JSON.stringify(join(configDir, '.tessera/server'))}`);
  });

  it('uses the new location when it holds data too (warning that the old one is ignored), or when the old one is empty', () => {
    const old = join(cwd, '.tessera/server');
    mkdirSync(old, { recursive: true });
    expect(resolveDataDir(OLD, OLD, configDir, cwd)).toEqual({ dataDir: join(configDir, '.tessera/server'), warnings: [] });
    withData(old);
    withData(join(configDir, '.tessera/server'));
    const r = resolveDataDir(OLD, OLD, configDir, cwd);
    expect(r.dataDir).toBe(join(configDir, '.tessera/server'));
    expect(r.warnings[0]).toContain('also holds data and is not used');
  });

  it('never looks at the old location for a value other than the old default, nor when both are the same', () => {
    withData(join(cwd, 'data'));
    expect(resolveDataDir('data', OLD, configDir, cwd)).toEqual({ dataDir: join(configDir, 'data'), warnings: [] });
    withData(join(configDir, '.tessera/server'));
    expect(resolveDataDir(OLD, OLD, configDir, configDir)).toEqual({ dataDir: join(configDir, '.tessera/server'), warnings: [] });
  });
});
