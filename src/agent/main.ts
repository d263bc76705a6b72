/**
 * `tessera agent run --config FILE`: the agent process's entry point (argv, config, signals and exit codes are
 * src/common/daemon.ts's job); src/agent/agent.ts composes the parts.
 */
import { runDaemonCli } from '../common/daemon.js';
import { startAgent } from './agent.js';
import { loadAgentConfig } from './config.js';

const USAGE = `Usage: tessera agent run --config <file>

Runs the Tessera node agent: attests this node to the server (join token or x509pop), keeps its agent SVID in the
data dir, and serves the SPIFFE Workload API on a Unix socket, with one key pair and SVID set per attested process
instance. Every option is documented in deploy/agent.example.yaml.

Options:
  -c, --config <file>   YAML or JSON configuration file (required)
  -h, --help            show this help
`;

/** Runs `tessera agent …`; resolves with the exit code once the agent has stopped. */
export function runAgentCli(argv: readonly string[]): Promise<number> {
  return runDaemonCli(
    {
      noun: 'agent',
      usage: USAGE,
      exampleConfig: 'deploy/agent.example.yaml',
      load: loadAgentConfig,
      start: (config, log) => startAgent(config, { log }),
      stoppingMessage: 'Stopping: closing the Workload API, the sync stream and the server connection',
    },
    argv,
  );
}
