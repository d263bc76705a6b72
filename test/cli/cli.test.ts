/**
 * The CLI's top level through main(argv, io) in-process (test/helpers/cli-in-process.ts), and one smoke test of the
 * built binary (dist/cli/main.js; `npm test` builds first, run `npm run build` before vitest alone).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CommandFailure, UsageError, type Command, type NounCommand } from '../../src/cli/command.js';
import { COMMANDS } from '../../src/cli/command-table.js';
import { describeFailure, wantsJson } from '../../src/cli/error-report.js';
import type { LazyCommand } from '../../src/cli/lazy-command.js';
import { main } from '../../src/cli/main.js';
import { bufferIo } from '../../src/cli/io.js';
import { runTessera, type CliRun } from '../helpers/cli-in-process.js';

const BIN = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const PKG = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

const tessera = (...args: string[]): Promise<CliRun> => runTessera(args);

/** The built binary as a child process; resolves when it has exited. */
function binary(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return node([BIN, ...args]);
}

function node(args: string[], env?: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: env ?? process.env });
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
    [['version', '--output', 'text', '--output', 'text'], /^tessera: --output is given more than once \(give it once\)\n$/],
    [['version', '-o', 'text', '--output=text'], /^tessera: --output is given more than once/],
    [['version', '--output', '-5'], /^tessera: --output must be "text" or "json", not "-5"\n$/],
    [['entry', 'frobnicate'], /unknown command "entry frobnicate"/],
    [['agent', 'healthcheck', '--address', 'nope'], /--address must be "host:port" with a port from 1 to 65535/],
    [['agent', 'healthcheck', '--address', '127.0.0.1:0'], /--address must be "host:port"/],
    [['agent', 'healthcheck', '--shallow', '--shallow'], /--shallow is given more than once/],
    [['agent', 'healthcheck', '-o', 'yaml'], /--output must be "text" or "json", not "yaml"/],
    [['selectors', '-o', 'yaml', '-o', 'text'], /^tessera: --output is given more than once/],
    [['config', 'validate', '--config', 'a.yaml', '--config', 'b.yaml'], /^tessera: --config is given more than once/],
    [['entry', 'explain', '--pid', '-5'], /^tessera: --pid must be a process ID \(a positive whole number\), not "-5"\n$/],
  ])('%j → exit 2 with a one-line reason on stderr', async (args, reason) => {
    const r = await tessera(...args);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^tessera: [^\n]+\n$/);
    expect(r.stderr).toMatch(reason);
  });

  it('agent --help lists healthcheck; agent healthcheck --help shows its options without contacting anything', async () => {
    const noun = await tessera('agent', '--help');
    expect(noun.stdout).toMatch(/^ {2}healthcheck +check that this node's agent is ready \(exit 0\) or not \(exit 1\)$/m);
    const r = await tessera('agent', 'healthcheck', '--help');
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^Usage: tessera agent healthcheck \[options\]/);
    for (const option of ['--address <HOST:PORT>', '--shallow', '-o, --output <FORMAT>']) expect(r.stdout).toContain(option);
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

describe('errors: one prefix, JSON under --output json', () => {
  it('a usage error under --output json is one JSON line on stderr, exit 2', async () => {
    for (const args of [
      ['version', '--output', 'json', '--bogus'],
      ['version', '-o', 'json', 'extra'],
      ['version', '--output=json', '--output=json'],
      ['entry', 'create', '-ojson', '--spiffe-id', 'spiffe://a.test/x', '--parent-id', 'spiffe://a.test/p',
        '--selector', 'unix:uid:1', '--x509-ttl', '-5'],
    ]) {
      const r = await tessera(...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr.endsWith('\n')).toBe(true);
      expect(r.stderr.trimEnd().split('\n'), r.stderr).toHaveLength(1);
      const parsed = JSON.parse(r.stderr) as { error: { code: string; message: string } };
      expect(Object.keys(parsed)).toEqual(['error']);
      expect(parsed.error.code).toBe('USAGE');
      expect(parsed.error.message).toMatch(/^(unknown option|unexpected argument|--output is given|--x509-ttl must be between 0 and \d+, not -5$)/);
    }
  });

  it('a failure under --output json is one JSON line with the failure code, exit 1', async () => {
    const r = await tessera('entry', 'show', '--id', 'x', '--socket', '/nonexistent-dir/admin.sock', '-o', 'json');
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(JSON.parse(r.stderr)).toEqual({
      error: {
        code: 'UNAVAILABLE',
        message: expect.stringMatching(/^cannot reach the server admin socket at \/nonexistent-dir\/admin\.sock: no such/),
      },
    });
    const text = await tessera('entry', 'show', '--id', 'x', '--socket', '/nonexistent-dir/admin.sock');
    expect(text.stderr).toMatch(/^tessera: cannot reach the server admin socket at [^\n]+\n$/);
  });

  it('maps each failure kind to its code and first line', () => {
    expect(describeFailure(new UsageError('bad flag'))).toEqual({ code: 'USAGE', message: 'bad flag', exit: 2 });
    expect(describeFailure(new CommandFailure('gone\nmore', { status: 'NOT_FOUND' }))).toEqual({
      code: 'NOT_FOUND',
      message: 'gone',
      exit: 1,
    });
    expect(describeFailure(new CommandFailure('refused'))).toMatchObject({ code: 'FAILED', exit: 1 });
    expect(describeFailure(new Error('EACCES: permission denied'))).toMatchObject({ code: 'FAILED', exit: 1 });
  });

  it.each([
    [['entry', 'list', '--output', 'json'], true],
    [['entry', 'list', '--output=json'], true],
    [['entry', 'list', '-o', 'json'], true],
    [['entry', 'list', '-ojson'], true],
    [['entry', 'list', '-o', 'text'], false],
    [['entry', 'list', '--output'], false],
    [['entry', 'list', '--', '-o', 'json'], false],
    [['entry', 'list', '--hint', 'json'], false],
  ])('wantsJson(%j) is %s', (argv, expected) => {
    expect(wantsJson(argv)).toBe(expected);
  });
});

describe('negative numbers and repeated options', () => {
  it('a negative number after an option is its value, checked by the option (not "argument is ambiguous")', async () => {
    const r = await tessera('api', 'watch', '--count', '-5', '--socket', '/nonexistent-dir/api.sock');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^tessera: --count must be between 1 and \d+, not -5\n$/);
    expect(r.stderr).not.toMatch(/ambiguous/);
  });

  it('a repeated single-valued option is a usage error naming it; repeatable ones still repeat', async () => {
    const r = await tessera('entry', 'list', '--spiffe-id', 'spiffe://a.test/x', '--spiffe-id', 'spiffe://a.test/y');
    expect(r).toEqual({ code: 2, stdout: '', stderr: 'tessera: --spiffe-id is given more than once (give it once)\n' });
    const ok = await tessera('api', 'fetch', 'jwt', '--audience', 'a', '--audience', 'b', '--socket', '/nonexistent-dir/api.sock');
    expect(ok.code).toBe(1);
    expect(ok.stderr).toMatch(/^tessera: cannot reach the Workload API at /);
  });
});

describe('command table (lazy loading)', () => {
  function leaves(commands: readonly Command[], path: string[] = []): Array<[string, LazyCommand]> {
    return commands.flatMap((c) =>
      'verbs' in c
        ? leaves((c as NounCommand).verbs, [...path, c.name])
        : [[[...path, c.name].join(' '), c as LazyCommand] as [string, LazyCommand]],
    );
  }

  it('every command loads a module whose command has the name and summary of the table', async () => {
    const all = leaves(COMMANDS);
    expect(all.length).toBeGreaterThan(30);
    for (const [path, lazy] of all) {
      expect(typeof lazy.load, path).toBe('function');
      const loaded = await lazy.load();
      expect({ path, name: loaded.name, summary: loaded.summary }).toEqual({ path, name: lazy.name, summary: lazy.summary });
    }
  });

  it('the built binary loads no command module for --help and only the version module (no grpc-js) for version', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-cli-load-'));
    try {
      const hooks = join(dir, 'hooks.mjs');
      const register = join(dir, 'register.mjs');
      writeFileSync(
        hooks,
        "import { appendFileSync } from 'node:fs';\n" +
          'export async function load(url, context, next) {\n' +
          "  appendFileSync(process.env.TESSERA_LOAD_LOG, url + '\\n');\n" +
          '  return next(url, context);\n' +
          '}\n',
      );
      writeFileSync(
        register,
        "import { register } from 'node:module';\nimport { pathToFileURL } from 'node:url';\n" +
          `register(pathToFileURL(${JSON.stringify(hooks)}).href);\n`,
      );
      const loaded = async (...args: string[]): Promise<string[]> => {
        const log = join(dir, `${args.join('_').replace(/[^a-z]/g, '')}.log`);
        const r = await node(['--import', register, BIN, ...args], { ...process.env, TESSERA_LOAD_LOG: log });
        expect(r.code, r.stderr).toBe(0);
        return readFileSync(log, 'utf8').trimEnd().split('\n');
      };
      const help = await loaded('--help');
      expect(help.some((u) => u.endsWith('/dist/cli/main.js'))).toBe(true);
      expect(help.filter((u) => /\/dist\/cli\/commands\/|\/node_modules\//.test(u))).toEqual([]);
      const version = await loaded('version');
      expect(version.filter((u) => u.includes('/dist/cli/commands/'))).toEqual([
        expect.stringMatching(/\/dist\/cli\/commands\/version\.js$/),
      ]);
      expect(version.filter((u) => u.includes('/node_modules/'))).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
