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

export { parseArgsReason } from '../common/args.js';

/**
 * Thrown by a command that ran and failed for a reason outside the command line (the server refused, the socket is
 * unreachable, ...). main prints `tessera: <message>` as one line (or a JSON error under `--output json`) and exits
 * with `failure`.
 */
export class CommandFailure extends Error {
  override readonly name = 'CommandFailure';
  /** Stable code for `--output json` errors: the gRPC status name of a refusal (`NOT_FOUND`, ...), else `FAILED`. */
  readonly status: string;

  constructor(message: string, options: { status?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.status = options.status ?? 'FAILED';
  }
}

/** A command made of verbs: its verbs are listed so the command table can be checked without running anything. */
export interface NounCommand extends Command {
  readonly verbs: readonly Command[];
}

/**
 * A noun with verbs (`tessera entry create`, SPIRE's cli layout): dispatches to the verb's own Command, one file per
 * verb under commands/<noun>/.
 */
export function nounCommand(
  name: string,
  summary: string,
  verbs: readonly Command[],
  /** Verbs a later issue adds (`agent run`): named as not yet built rather than unknown. */
  planned: readonly string[] = [],
): NounCommand {
  const help = (): string => {
    const width = Math.max(...verbs.map((v) => v.name.length));
    return (
      `Usage: tessera ${name} <command> [options]\n\n${summary.charAt(0).toUpperCase() + summary.slice(1)}.\n\n` +
      'Commands:\n' +
      verbs.map((v) => `  ${v.name.padEnd(width)}  ${v.summary}\n`).join('') +
      `\nRun "tessera ${name} <command> --help" for the options of each.\n`
    );
  };
  return {
    name,
    summary,
    verbs,
    async run(args, io) {
      const [verb, ...rest] = args;
      if (verb === '--help' || verb === '-h') {
        io.out(help());
        return ExitCode.ok;
      }
      if (verb === undefined) {
        io.err(help());
        return ExitCode.usage;
      }
      const command = verbs.find((v) => v.name === verb);
      if (command === undefined && planned.includes(verb)) {
        throw new UsageError(`command "${name} ${verb}" is not yet built`);
      }
      if (command === undefined) {
        throw new UsageError(`unknown command "${name} ${verb}" (see "tessera ${name} --help")`);
      }
      return command.run(rest, io);
    },
  };
}

/**
 * A verb that has verbs of its own (`tessera api fetch x509`): a {@link nounCommand} named `verb` inside `parent`,
 * whose help and errors name the full path (`tessera api fetch ...`).
 */
export function verbGroup(parent: string, verb: string, summary: string, verbs: readonly Command[]): NounCommand {
  return { ...nounCommand(`${parent} ${verb}`, summary, verbs), name: verb };
}
