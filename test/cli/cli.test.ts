import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { bufferIo } from '../../src/cli/io.js';

/** The built binary, run the way a user runs it. `npm test` builds first; run `npm run build` before vitest alone. */
const BIN = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const PKG = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

function tessera(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 30_000 });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('tessera binary (dist/cli/main.js)', () => {
  it('is built, with a node shebang', () => {
    expect(existsSync(BIN), `${BIN} missing: run "npm run build" first`).toBe(true);
    expect(readFileSync(BIN, 'utf8').split('\n', 1)[0]).toBe('#!/usr/bin/env node');
  });

  it('--help lists the commands (every planned one is built now)', () => {
    const r = tessera('--help');
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^Usage: tessera <command>/);
    expect(r.stdout).toMatch(/^ {2}version +print the tessera version$/m);
    expect(r.stdout).not.toMatch(/Not yet built:/);
    for (const planned of ['server', 'agent', 'entry', 'token', 'federation']) {
      expect(r.stdout).toMatch(new RegExp(`^ {2}${planned} `, 'm'));
    }
    expect(tessera('-h').stdout).toBe(r.stdout);
  });

  it('version prints the package.json version', () => {
    const r = tessera('version');
    expect(r).toEqual({ code: 0, stdout: `tessera ${PKG.version}\n`, stderr: '' });
    expect(tessera('--version').stdout).toBe(r.stdout);
  });

  it('version --output json prints one JSON object', () => {
    for (const args of [['--output', 'json'], ['--output=json'], ['-o', 'json']]) {
      const r = tessera('version', ...args);
      expect(r.code).toBe(0);
      expect(r.stderr).toBe('');
      expect(r.stdout.endsWith('\n')).toBe(true);
      expect(r.stdout.trim().split('\n')).toHaveLength(1);
      expect(JSON.parse(r.stdout)).toEqual({ name: 'tessera', version: PKG.version, node: process.version });
    }
  });

  it.each([
    [['frobnicate'], /unknown command "frobnicate"/],
    [['server'], /server needs a command: run/],
    [['server', 'stop'], /unknown server command "stop"/],
    [['server', 'run'], /--config <file> is required/],
    [['server', 'run', '--bogus'], /unknown option '--bogus'/],
    [['--bogus'], /unknown option '--bogus'/],
    [['version', '--bogus'], /unknown option '--bogus'/],
    [['version', 'extra'], /unexpected argument 'extra'/],
    [['version', '--output', 'xml'], /--output must be "text" or "json"/],
    [['version', '--output'], /argument missing/],
  ])('%j → exit 2 with a one-line reason on stderr', (args, reason) => {
    const r = tessera(...args);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^tessera: [^\n]+\n$/);
    expect(r.stderr).toMatch(reason);
  });

  it('no command → usage on stderr, exit 2', () => {
    const r = tessera();
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^Usage: tessera <command>/);
  });
});

describe('main() in-process with an injected Io', () => {
  it('writes to the given Io, not to the process streams', async () => {
    const io = bufferIo();
    expect(await main(['version', '-o', 'json'], io)).toBe(0);
    expect(JSON.parse(io.stdout)).toMatchObject({ version: PKG.version });
    expect(io.stderr).toBe('');
    const bad = bufferIo();
    expect(await main(['nope'], bad)).toBe(2);
    expect(bad.stderr).toBe('tessera: unknown command "nope" (see "tessera --help")\n');
  });
});
