/**
 * `tessera server run --config FILE`: the server process's entry point (argv, config, signals and exit codes are
 * src/common/daemon.ts's job); src/server/server.ts composes the parts.
 */
import { runDaemonCli } from '../common/daemon.js';
import { loadServerConfig } from './config.js';
import { startServer } from './server.js';

const USAGE = `Usage: tessera server run --config <file>

Runs the Tessera server: the trust domain's CA, registration entries, node attestation, the agent API (gRPC, mTLS),
the admin API (Unix socket) and HTTP health/metrics. Every option is documented in deploy/server.example.yaml.

Options:
  -c, --config <file>   YAML or JSON configuration file (required)
  -h, --help            show this help
`;

/** Runs `tessera server …`; resolves with the exit code once the server has stopped. */
export function runServerCli(argv: readonly string[]): Promise<number> {
  return runDaemonCli(
    {
      noun: 'server',
      usage: USAGE,
      exampleConfig: 'deploy/server.example.yaml',
      load: loadServerConfig,
      start: (config, log) => startServer(config, { log }),
      stoppingMessage: 'Stopping: no new calls accepted, finishing in-flight calls',
    },
    argv,
  );
}
