/**
 * `tessera agent run --config FILE`: the agent process's entry point. It only turns argv into a config, starts the
 * agent, and handles signals and exit codes; src/agent/agent.ts composes the parts.
 */
import { parseArgs } from 'node:util';
import { createLogger } from '../common/log.js';
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
export async function runAgentCli(argv: readonly string[]): Promise<number> {
  const [verb, ...rest] = argv;
  if (verb === undefined || verb === '--help' || verb === '-h') {
    process[verb === undefined ? 'stderr' : 'stdout'].write(USAGE);
    return verb === undefined ? 2 : 0;
  }
  if (verb !== 'run') {
    process.stderr.write(`tessera: unknown agent command ${JSON.stringify(verb)} (only "run")\n`);
    return 2;
  }
  let configFile: string | undefined;
  try {
    const { values } = parseArgs({
      args: [...rest],
      options: { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: false,
    });
    if (values.help) {
      process.stdout.write(USAGE);
      return 0;
    }
    configFile = values.config;
  } catch (err) {
    process.stderr.write(`tessera: ${(err as Error).message.split('\n')[0]}\n`);
    return 2;
  }
  if (!configFile) {
    process.stderr.write('tessera: --config <file> is required (see deploy/agent.example.yaml)\n');
    return 2;
  }

  let config;
  try {
    config = loadAgentConfig(configFile);
  } catch (err) {
    process.stderr.write(`tessera: invalid configuration ${configFile}: ${(err as Error).message}\n`);
    return 1;
  }
  const log = createLogger({ name: 'tessera-agent', level: config.logLevel });
  let agent;
  try {
    agent = await startAgent(config, { log });
  } catch (err) {
    log.fatal({ err }, 'Agent failed to start');
    process.stderr.write(`tessera: agent failed to start: ${(err as Error).message}\n`);
    return 1;
  }

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, 'Stopping: closing the Workload API, the sync stream and the server connection');
      agent.stop().then(
        () => {
          log.info('Stopped cleanly');
          resolve(0);
        },
        (err: unknown) => {
          log.error({ err }, 'Stop failed');
          resolve(1);
        },
      );
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
}
