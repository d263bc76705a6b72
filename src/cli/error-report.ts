import { CommandFailure, ExitCode, UsageError } from './command.js';
import type { Io } from './io.js';

/**
 * How the `tessera` binary reports a failed command: one line on stderr, `tessera: <message>`, or under
 * `--output json` / `-o json` one JSON line `{"error":{"code":"...","message":"..."}}`. The exit code is the same
 * either way: 2 for a usage error (code `USAGE`), 1 for anything else (the gRPC status name of a refusal such as
 * `NOT_FOUND`, else `FAILED`).
 */

export interface ErrorReport {
  readonly code: string;
  readonly message: string;
  readonly exit: ExitCode;
}

export function describeFailure(err: unknown): ErrorReport {
  const message = (err instanceof Error ? err.message : String(err)).split('\n')[0]!;
  if (err instanceof UsageError) return { code: 'USAGE', message, exit: ExitCode.usage };
  if (err instanceof CommandFailure) return { code: err.status, message, exit: ExitCode.failure };
  return { code: 'FAILED', message, exit: ExitCode.failure };
}

/** Writes the report of `err` for the command line `argv` and returns the exit code. */
export function reportFailure(err: unknown, argv: readonly string[], io: Io): ExitCode {
  const report = describeFailure(err);
  if (wantsJson(argv)) {
    io.err(JSON.stringify({ error: { code: report.code, message: report.message } }) + '\n');
  } else {
    io.err(`tessera: ${report.message}\n`);
  }
  return report.exit;
}

/**
 * Whether the command line asks for JSON output (`--output json`, `--output=json`, `-o json`, `-ojson`), read from
 * argv itself so that a usage error, found before the command's options are parsed, is reported as JSON too.
 */
export function wantsJson(argv: readonly string[]): boolean {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') return false;
    if (a === '--output=json' || a === '-ojson') return true;
    if ((a === '--output' || a === '-o') && argv[i + 1] === 'json') return true;
  }
  return false;
}
