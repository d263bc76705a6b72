import { ExitCode, UsageError, type Command } from './command.js';
import type { Io } from './io.js';
import { parseOptions } from './parse-options.js';

/**
 * The command-line shape every client command shares (`tessera entry create …`, `tessera api fetch x509 …`): its own
 * options plus `--socket`, `-o/--output text|json` and `-h/--help`, parsed strictly (unknown options and stray
 * arguments are usage errors), with a help text built from the option descriptions. What differs per family (which
 * client `--socket` opens) is the `connect` function.
 */

export interface OptionSpec {
  readonly type: 'string' | 'boolean';
  readonly short?: string;
  readonly multiple?: boolean;
  /** Placeholder in the help, e.g. "ID". */
  readonly value?: string;
  readonly description: string;
}

export type OutputFormat = 'text' | 'json';

/** The parsed command line of one command. */
export interface Flags {
  /** A string option, or undefined when not given. */
  string(name: string): string | undefined;
  /** Every value of a repeatable string option (empty when not given). */
  strings(name: string): string[];
  boolean(name: string): boolean;
  has(name: string): boolean;
}

export interface CommandText {
  /** The verb (or the noun for a verb-less command such as healthcheck). */
  readonly name: string;
  /** `entry create`, for the usage line. */
  readonly path: string;
  readonly summary: string;
  /** Free text after the usage line (what it does, examples). */
  readonly description?: string;
  /** Shown in the usage line, e.g. "--id ID". */
  readonly synopsis?: string;
  readonly options?: Readonly<Record<string, OptionSpec>>;
}

export interface BaseContext {
  readonly io: Io;
  readonly flags: Flags;
  readonly output: OutputFormat;
  /** Writes `value` as one JSON document and a newline. */
  json(value: unknown): void;
}

/**
 * Builds a command from its text, the family's common options (one of which is `socket`), a `connect` that turns the
 * `--socket` value into a client (throwing UsageError for a bad one) and the command's `run`. The client is closed
 * after the command.
 */
export function clientCommand<C extends { close(): void }, X>(
  spec: CommandText,
  common: Readonly<Record<string, OptionSpec>>,
  connect: (socket: string | undefined) => C,
  run: (ctx: BaseContext, client: C) => Promise<X>,
): Command {
  const options = { ...(spec.options ?? {}), ...common };
  return {
    name: spec.name,
    summary: spec.summary,
    async run(args: readonly string[], io: Io): Promise<ExitCode> {
      const values = parseOptions(
        args,
        Object.fromEntries(
          Object.entries(options).map(([name, o]) => [
            name,
            { type: o.type, ...(o.short ? { short: o.short } : {}), ...(o.multiple ? { multiple: true } : {}) },
          ]),
        ),
      );
      if (values['help'] === true) {
        io.out(helpText(spec, options));
        return ExitCode.ok;
      }
      const output = (values['output'] as string | undefined) ?? 'text';
      if (output !== 'text' && output !== 'json') {
        throw new UsageError(`--output must be "text" or "json", not ${JSON.stringify(output)}`);
      }
      const flags: Flags = {
        string: (name) => {
          const v = values[name];
          return typeof v === 'string' ? v : undefined;
        },
        strings: (name) => {
          const v = values[name];
          return Array.isArray(v) ? v.map(String) : typeof v === 'string' ? [v] : [];
        },
        boolean: (name) => values[name] === true,
        has: (name) => values[name] !== undefined,
      };
      const client = connect(values['socket'] as string | undefined);
      try {
        const ctx: BaseContext = { io, flags, output, json: (value) => io.out(JSON.stringify(value, null, 2) + '\n') };
        return (await run(ctx, client)) as ExitCode;
      } finally {
        client.close();
      }
    },
  };
}

function helpText(spec: CommandText, options: Readonly<Record<string, OptionSpec>>): string {
  const rows = Object.entries(options).map(([name, o]) => {
    const flag = `${o.short ? `-${o.short}, ` : '    '}--${name}${o.value ? ` <${o.value}>` : ''}`;
    return [flag, o.description + (o.multiple ? ' (repeatable)' : '')] as const;
  });
  const width = Math.max(...rows.map(([f]) => f.length));
  return (
    `Usage: tessera ${spec.path}${spec.synopsis ? ' ' + spec.synopsis : ''} [options]\n\n` +
    `${spec.description ?? spec.summary.charAt(0).toUpperCase() + spec.summary.slice(1) + '.'}\n\n` +
    'Options:\n' +
    rows.map(([f, d]) => `  ${f.padEnd(width)}  ${d}\n`).join('')
  );
}
