/**
 * The CLI's top level through main(argv, io) in-process (test/helpers/cli-in-process.ts), and one smoke test of the
 * built binary (dist/cli/main.js; `npm test` builds first, run `npm run build` before vitest alone).
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { bufferIo } from '../../src/cli/io.js';
import { runTessera, type CliRun } from '../helpers/cli-in-process.js';

const BIN = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const PKG = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

const tessera = (...args: string[]): Promise<CliRun> => runTessera(args);

/** The built binary as a child process; resolves when it has exited. */
function binary(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('tessera binary (dist/cli/main.js, smoke)', () => {
  it('is built with a node shebang, prints --help and version, and exits 2 on daemon usage errors', async () => {
    expect(existsSync(BIN), `${BIN} missing: run "npm run build" first`).toBe(true);
    expect(readFileSync(BIN, 'utf8').split('\n', 1)[0]).toBe('#!/usr/bin/env node');
    const help = await binary('--help');
    expect(help).toEqual({ code: 0, stdout: (await tessera('--help')).stdout, stderr: '' });
    expect(await binary('version')).toEqual({ code: 0, stdout: `tessera ${PKG.version}\n`, stderr: '' });
    // `server …` / `agent run` hand over to the daemons' entry point, which writes to the process streams itself.
    const usage: ReadonlyArray<readonly [string[], RegExp]> = [
      [['server'], /server needs a command: run/],
      [['server', 'stop'], /unknown server command "stop"/],
      [['server', 'run'], /--config <file> is required \(see deploy\/server\.example\.yaml\)/],
      [['server', 'run', '--bogus'], /unknown option '--bogus'/],
      [['agent', 'run'], /--config <file> is required \(see deploy\/agent\.example\.yaml\)/],
    ];
    for (const [args, reason] of usage) {
      const r = await binary(...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/^tessera: [^\n]+\n$/);
      expect(r.stderr).toMatch(reason);
    }
  });
});

describe('tessera (main in-process)', () => {
  it('--help lists the commands (every planned one is built now)', async () => {
    const r = await tessera('--help');
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^Usage: tessera <command>/);
    expect(r.stdout).toMatch(/^ {2}version +print the tessera version$/m);
    expect(r.stdout).not.toMatch(/Not yet built:/);
    for (const planned of ['server', 'agent', 'entry', 'token', 'federation']) {
      expect(r.stdout).toMatch(new RegExp(`^ {2}${planned} `, 'm'));
    }
    expect((await tessera('-h')).stdout).toBe(r.stdout);
  });

  it('version prints the package.json version', async () => {
    const r = await tessera('version');
    expect(r).toEqual({ code: 0, stdout: `tessera ${PKG.version}\n`, stderr: '' });
    expect((await tessera('--version')).stdout).toBe(r.stdout);
  });

  it('version --output json prints one JSON object', async () => {
    for (const args of [['--output', 'json'], ['--output=json'], ['-o', 'json']]) {
      const r = await tessera('version', ...args);
      expect(r.code).toBe(0);
      expect(r.stderr).toBe('');
      expect(r.stdout.endsWith('\n')).toBe(true);
      expect(r.stdout.trim().split('\n')).toHaveLength(1);
      expect(JSON.parse(r.stdout)).toEqual({ name: 'tessera', version: PKG.version, node: process.version });
    }
  });

  it.each([
    [['frobnicate'], /unknown command "frobnicate"/],
    [['--bogus'], /unknown option '--bogus'/],
    [['version', '--bogus'], /unknown option '--bogus'/],
    [['version', 'extra'], /unexpected argument 'extra'/],
    [['version', '--output', 'xml'], /--output must be "text" or "json"/],
    [['version', '--output'], /argument missing/],
  ])('%j → exit 2 with a one-line reason on stderr', async (args, reason) => {
    const r = await tessera(...args);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^tessera: [^\n]+\n$/);
    expect(r.stderr).toMatch(reason);
  });

  it('no command → usage on stderr, exit 2', async () => {
    const r = await tessera();
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
