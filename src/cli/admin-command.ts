import type { AdminClient, AdminClientOptions } from './admin-client.js';
import { DEFAULT_ADMIN_SOCKET, resolveAdminSocket, type AdminCaller, type AdminService } from './admin-socket.js';
import { UsageError, type Command, type ExitCode } from './command.js';
import { clientCommand, type BaseContext, type CommandText, type Flags, type OptionSpec } from './command-line.js';

/**
 * Admin commands (`tessera <noun> <verb> [options]`) talk to the server's admin socket: `--socket PATH` (else
 * $TESSERA_ADMIN_SOCKET, else the default data dir's socket), plus the shared options of src/cli/command-line.ts.
 */

export type { Flags, OptionSpec, OutputFormat } from './command-line.js';

export interface AdminCommandContext extends BaseContext {
  /** The admin API client (grpc-js loaded and connected on the first call, closed after the command). */
  readonly admin: AdminCaller;
}

export interface AdminCommandSpec extends CommandText {
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
  return clientCommand(
    spec,
    COMMON,
    (socket) => {
      if (socket === '') throw new UsageError('--socket must not be empty');
      return lazyAdminClient(resolveAdminSocket(socket, commandEnv.env), commandEnv.clientOptions);
    },
    (ctx, admin) => spec.run({ ...ctx, admin }),
  );
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
