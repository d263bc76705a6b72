import { parseArgs } from 'node:util';
import type { Flags, OptionSpec, OutputFormat } from './admin-command.js';
import { ExitCode, UsageError, parseArgsReason, type Command } from './command.js';
import type { Io } from './io.js';
import type { WorkloadClient, WorkloadClientOptions } from './workload-client.js';
import {
  DEFAULT_WORKLOAD_SOCKET,
  SPIFFE_ENDPOINT_SOCKET_ENV,
  WorkloadEndpointInvalid,
  resolveWorkloadEndpoint,
  type WorkloadEndpoint,
} from './workload-endpoint.js';
import type { WorkloadCaller } from './workload-messages.js';

/**
 * The shape every `tessera api ...` command shares: it talks to the SPIFFE Workload API as a workload does, with
 * `--socket PATH|URI` (else $SPIFFE_ENDPOINT_SOCKET, else the agent's default socket), `-o/--output text|json` and
 * `-h/--help`, parsed strictly. A bad endpoint is a usage error (exit 2); a failed call is one `error:` line (exit 1).
 */

export interface ApiCommandContext {
  readonly io: Io;
  readonly flags: Flags;
  readonly output: OutputFormat;
  /** The Workload API client (grpc-js loaded and connected on the first call, closed after the command). */
  readonly workload: WorkloadCaller;
  /** Writes `value` as one JSON document and a newline. */
  json(value: unknown): void;
}

export interface ApiCommandSpec {
  readonly name: string;
  /** `api fetch x509`, for the usage line. */
  readonly path: string;
  readonly summary: string;
  readonly description?: string;
  readonly synopsis?: string;
  readonly options?: Readonly<Record<string, OptionSpec>>;
  run(ctx: ApiCommandContext): Promise<ExitCode>;
}

const COMMON: Readonly<Record<string, OptionSpec>> = {
  socket: {
    type: 'string',
    value: 'PATH|URI',
    description:
      `Workload API socket: a path, unix:///path or tcp://IP:port (default $${SPIFFE_ENDPOINT_SOCKET_ENV} or ` +
      `${DEFAULT_WORKLOAD_SOCKET})`,
  },
  output: { type: 'string', short: 'o', value: 'FORMAT', description: 'text (default) or json' },
  help: { type: 'boolean', short: 'h', description: 'show this help' },
};

/** Test seam: the environment read for SPIFFE_ENDPOINT_SOCKET and the client options. */
export interface ApiCommandEnv {
  readonly env?: NodeJS.ProcessEnv;
  readonly clientOptions?: WorkloadClientOptions;
}

export function apiCommand(spec: ApiCommandSpec, commandEnv: ApiCommandEnv = {}): Command {
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
      let endpoint: WorkloadEndpoint;
      try {
        ({ endpoint } = resolveWorkloadEndpoint(values['socket'] as string | undefined, commandEnv.env ?? process.env));
      } catch (err) {
        if (err instanceof WorkloadEndpointInvalid) throw new UsageError(err.message);
        throw err;
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
      const workload = lazyWorkloadClient(endpoint, commandEnv.clientOptions);
      try {
        return await spec.run({
          io,
          flags,
          output,
          workload,
          json: (value) => io.out(JSON.stringify(value, null, 2) + '\n'),
        });
      } finally {
        workload.close();
      }
    },
  };
}

function lazyWorkloadClient(
  endpoint: WorkloadEndpoint,
  options?: WorkloadClientOptions,
): WorkloadCaller & { close(): void } {
  let client: WorkloadClient | undefined;
  const get = async (): Promise<WorkloadClient> => {
    if (client === undefined) {
      const { WorkloadClient } = await import('./workload-client.js');
      client ??= new WorkloadClient(endpoint, options);
    }
    return client;
  };
  return {
    endpoint,
    fetchX509Svid: async () => (await get()).fetchX509Svid(),
    fetchX509Bundles: async () => (await get()).fetchX509Bundles(),
    fetchJwtBundles: async () => (await get()).fetchJwtBundles(),
    fetchJwtSvid: async (audience, spiffeId) => (await get()).fetchJwtSvid(audience, spiffeId),
    validateJwtSvid: async (audience, token) => (await get()).validateJwtSvid(audience, token),
    watchX509Svid: async (onMessage, signal) => (await get()).watchX509Svid(onMessage, signal),
    close: () => client?.close(),
  };
}

function helpText(spec: ApiCommandSpec, options: Readonly<Record<string, OptionSpec>>): string {
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
