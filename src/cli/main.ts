#!/usr/bin/env node
/**
 * The `tessera` binary: turns argv into one command run and an exit code. Commands live in ./commands, listed (and
 * loaded only when run) in ./command-table.ts; this file only dispatches and reports failures: one line with the
 * `tessera:` prefix, or one JSON line under `--output json` (./error-report.ts), exit 1 for a failure, 2 for usage.
 */
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { ExitCode, UsageError, parseArgsReason } from './command.js';
import { COMMANDS } from './command-table.js';
import { reportFailure } from './error-report.js';
import { processIo, type Io } from './io.js';

/** Commands from the design that later issues add; named in --help so users know what is coming (none left now). */
const PLANNED: ReadonlyArray<readonly [string, string]> = [];

function helpText(): string {
  const width = Math.max(...[...COMMANDS.map((c) => c.name), ...PLANNED.map(([n]) => n)].map((n) => n.length));
  const row = (name: string, summary: string) => `  ${name.padEnd(width)}  ${summary}\n`;
  return (
    'Usage: tessera <command> [options]\n\n' +
    'SPIFFE workload identity issuer.\n\n' +
    'Commands:\n' +
    COMMANDS.map((c) => row(c.name, c.summary)).join('') +
    (PLANNED.length > 0 ? '\nNot yet built:\n' + PLANNED.map(([name, summary]) => row(name, summary)).join('') : '') +
    '\nOptions:\n' +
    '  -h, --help     show this help (also: tessera <command> --help)\n' +
    '  -v, --version  same as "tessera version"\n'
  );
}

/** Runs one command line (without the node/script prefix) and returns the process exit code. */
export async function main(argv: readonly string[], io: Io): Promise<ExitCode> {
  try {
    return await dispatch(argv, io);
  } catch (err) {
    return reportFailure(err, argv, io);
  }
}

async function dispatch(argv: readonly string[], io: Io): Promise<ExitCode> {
  // Options before the command belong to tessera itself; everything after the command belongs to the command.
  const at = argv.findIndex((a) => !a.startsWith('-'));
  const globalArgs = at === -1 ? [...argv] : argv.slice(0, at);
  let values: { help?: boolean; version?: boolean };
  try {
    ({ values } = parseArgs({
      args: globalArgs,
      options: { help: { type: 'boolean', short: 'h' }, version: { type: 'boolean', short: 'v' } },
      allowPositionals: false,
      strict: true,
    }));
  } catch (err) {
    throw new UsageError(parseArgsReason(err));
  }
  if (values.help === true) {
    io.out(helpText());
    return ExitCode.ok;
  }
  if (at === -1) {
    if (values.version === true) return runCommand('version', [], io);
    io.err(helpText());
    return ExitCode.usage;
  }
  const name = argv[at]!;
  const rest = argv.slice(at + 1);
  if (COMMANDS.some((c) => c.name === name)) return runCommand(name, rest, io);
  if (PLANNED.some(([planned]) => planned === name)) {
    throw new UsageError(`command ${JSON.stringify(name)} is not yet built`);
  }
  throw new UsageError(`unknown command ${JSON.stringify(name)} (see "tessera --help")`);
}

function runCommand(name: string, args: readonly string[], io: Io): Promise<ExitCode> {
  return COMMANDS.find((c) => c.name === name)!.run(args, io);
}

function invokedDirectly(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(script)).href;
  } catch {
    return false;
  }
}

if (invokedDirectly()) {
  process.exitCode = await main(process.argv.slice(2), processIo());
}
