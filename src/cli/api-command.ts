import { UsageError, type Command, type ExitCode } from './command.js';
import { clientCommand, type BaseContext, type CommandText, type OptionSpec } from './command-line.js';
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
 * `-h/--help`, parsed strictly. A bad endpoint is a usage error (exit 2); a failed call is one `tessera:` line (exit 1).
 */

export interface ApiCommandContext extends BaseContext {
  /** The Workload API client (grpc-js loaded and connected on the first call, closed after the command). */
  readonly workload: WorkloadCaller;
}

export interface ApiCommandSpec extends CommandText {
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
  return clientCommand(
    spec,
    COMMON,
    (socket) => {
      let endpoint: WorkloadEndpoint;
      try {
        ({ endpoint } = resolveWorkloadEndpoint(socket, commandEnv.env ?? process.env));
      } catch (err) {
        if (err instanceof WorkloadEndpointInvalid) throw new UsageError(err.message);
        throw err;
      }
      return lazyWorkloadClient(endpoint, commandEnv.clientOptions);
    },
    (ctx, workload) => spec.run({ ...ctx, workload }),
  );
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
