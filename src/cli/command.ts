import type { Io } from './io.js';

/** Process exit codes of the `tessera` binary. */
export const ExitCode = {
  ok: 0,
  /** The command ran and failed (I/O, server refused, ...). */
  failure: 1,
  /** The command line itself is wrong: unknown command or option, bad option value. */
  usage: 2,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** Thrown by a command for a bad command line; main prints the message as one line and exits with `usage`. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export interface Command {
  readonly name: string;
  /** One line for `tessera --help`. */
  readonly summary: string;
  /** Runs with the arguments after the command name. */
  run(args: readonly string[], io: Io): Promise<ExitCode>;
}

/** The first line (and first sentence) of a node:util parseArgs error, lowercased: one-line reasons only. */
export function parseArgsReason(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const first = message.split('\n')[0]!.split('. ')[0]!.replace(/\.$/, '');
  return first.charAt(0).toLowerCase() + first.slice(1);
}
