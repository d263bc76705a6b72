import { parseArgs } from 'node:util';
import type { AdminClient, AdminClientOptions } from './admin-client.js';
import { DEFAULT_ADMIN_SOCKET, resolveAdminSocket, type AdminCaller, type AdminService } from './admin-socket.js';
import { ExitCode, UsageError, parseArgsReason, type Command } from './command.js';
import type { Io } from './io.js';

/**
 * The shape every admin command shares: `tessera <noun> <verb> [options]` with `--socket PATH`, `-o/--output
 * text|json` and `-h/--help`, parsed strictly (unknown options and stray arguments are usage errors). A command
 * declares its own options with a description each; the help text is built from them.
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

/** The parsed command line of one admin command. */
export interface Flags {
  /** A string option, or undefined when not given. */
  string(name: string): string | undefined;
  /** Every value of a repeatable string option (empty when not given). */
  strings(name: string): string[];
  boolean(name: string): boolean;
  has(name: string): boolean;
}

export interface AdminCommandContext {
  readonly io: Io;
  readonly flags: Flags;
  readonly output: OutputFormat;
  /** The admin API client (grpc-js loaded and connected on the first call, closed after the command). */
  readonly admin: AdminCaller;
  /** Writes `value` as one JSON document and a newline. */
  json(value: unknown): void;
}

export interface AdminCommandSpec {
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
  run(ctx: AdminCommandContext): Promise<ExitCode>;
}

const COMMON: Readonly<Record<string, OptionSpec>> = {
  socket: {
    type: 'string',
    value: 'PATH',
    description: `admin socket of the server (default $TESSERA_ADMIN_SOCKET or ${DEFAULT_ADMIN_SOCKET})`,
  },
  output: { type: 'string', short: 'o', value: 'FORMAT', description: 'text (default) or json' },
  help: { type: 'boolean', short: 'h', description: 'show this help' },
};

/** Test seam: how commands build their client (the default connects to the socket). */
export interface AdminCommandEnv {
  readonly env?: NodeJS.ProcessEnv;
  readonly clientOptions?: AdminClientOptions;
}

export function adminCommand(spec: AdminCommandSpec, commandEnv: AdminCommandEnv = {}): Command {
  const options = { ...(spec.options ?? {}), ...COMMON };
  return {
    name: spec.name,
    summary: spec.summary,
    async run(args: readonly string[], io: Io): Promise<ExitCode> {
      let values: Record<string, string | boolean | (string | boolean)[] | undefined>;
      try {
        ({ values } = parseArgs({
          args: [...args],
          options: Object.fromEntries(
            Object.entries(options).map(([name, o]) => [
              name,
              { type: o.type, ...(o.short ? { short: o.short } : {}), ...(o.multiple ? { multiple: true } : {}) },
            ]),
          ),
          allowPositionals: false,
          strict: true,
        }));
      } catch (err) {
        throw new UsageError(parseArgsReason(err));
      }
      if (values['help'] === true) {
        io.out(helpText(spec, options));
        return ExitCode.ok;
      }
      const output = (values['output'] as string | undefined) ?? 'text';
      if (output !== 'text' && output !== 'json') {
        throw new UsageError(`--output must be "text" or "json", not ${JSON.stringify(output)}`);
      }
      const socket = values['socket'] as string | undefined;
      if (socket === '') throw new UsageError('--socket must not be empty');
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
      const admin = lazyAdminClient(resolveAdminSocket(socket, commandEnv.env), commandEnv.clientOptions);
      try {
        return await spec.run({
          io,
          flags,
          output,
          admin,
          json: (value) => io.out(JSON.stringify(value, null, 2) + '\n'),
        });
      } finally {
        admin.close();
      }
    },
  };
}

function lazyAdminClient(socketPath: string, options?: AdminClientOptions): AdminCaller & { close(): void } {
  let client: AdminClient | undefined;
  return {
    socketPath,
    async call<Res>(service: AdminService, method: string, request: object = {}): Promise<Res> {
      if (client === undefined) {
        const { AdminClient } = await import('./admin-client.js');
        client ??= new AdminClient(socketPath, options);
      }
      return client.call<Res>(service, method, request);
    },
    close: () => client?.close(),
  };
}

function helpText(spec: AdminCommandSpec, options: Readonly<Record<string, OptionSpec>>): string {
  const rows = Object.entries(options).map(([name, o]) => {
    const flag = `${o.short ? `-${o.short}, ` : '    '}--${name}${o.value ? ` <${o.value}>` : ''}`;
    return [flag, o.description + (o.multiple ? ' (repeatable)' : '')] as const;
  });
  const width = Math.max(...rows.map(([f]) => f.length));
  return (
    `Usage: tessera ${spec.path}${spec.synopsis ? ' ' + spec.synopsis : ''} [options]\n\n` +
    `${spec.description ?? capitalize(spec.summary) + '.'}\n\n` +
    'Options:\n' +
    rows.map(([f, d]) => `  ${f.padEnd(width)}  ${d}\n`).join('')
  );
}

function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** A required option, or a usage error naming it. */
export function requireFlag(flags: Flags, name: string, what: string): string {
  const v = flags.string(name);
  if (v === undefined || v === '') throw new UsageError(`--${name} is required (${what})`);
  return v;
}

/** An integer option within [min, max], or a usage error. */
export function integerFlag(flags: Flags, name: string, min: number, max: number): number | undefined {
  const v = flags.string(name);
  if (v === undefined) return undefined;
  if (!/^-?\d+$/.test(v) || !Number.isSafeInteger(Number(v))) {
    throw new UsageError(`--${name} must be a whole number, not ${JSON.stringify(v)}`);
  }
  const n = Number(v);
  if (n < min || n > max) throw new UsageError(`--${name} must be between ${min} and ${max}, not ${n}`);
  return n;
}
