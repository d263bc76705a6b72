/**
 * `tessera server run --config FILE`: the server process's entry point. It only turns argv into a config, starts the
 * server, and handles signals and exit codes; src/server/server.ts composes the parts.
 */
import { parseArgs } from 'node:util';
import { parseArgsReason } from '../common/args.js';
import { createLogger } from '../common/log.js';
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
export async function runServerCli(argv: readonly string[]): Promise<number> {
  const [verb, ...rest] = argv;
  if (verb === '--help' || verb === '-h') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (verb === undefined) {
    process.stderr.write('tessera: server needs a command: run (see "tessera server --help")\n');
    return 2;
  }
  if (verb !== 'run') {
    process.stderr.write(`tessera: unknown server command ${JSON.stringify(verb)} (only "run")\n`);
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
    process.stderr.write(`tessera: ${parseArgsReason(err)}\n`);
    return 2;
  }
  if (!configFile) {
    process.stderr.write('tessera: --config <file> is required (see deploy/server.example.yaml)\n');
    return 2;
  }

  let config;
  try {
    config = loadServerConfig(configFile);
  } catch (err) {
    process.stderr.write(`tessera: invalid configuration ${configFile}: ${(err as Error).message}\n`);
    return 1;
  }
  const log = createLogger({ name: 'tessera-server', level: config.logLevel });
  let server;
  try {
    server = await startServer(config, { log });
  } catch (err) {
    log.fatal({ err }, 'Server failed to start');
    process.stderr.write(`tessera: server failed to start: ${(err as Error).message}\n`);
    return 1;
  }

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, 'Stopping: no new calls accepted, finishing in-flight calls');
      server.stop().then(
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
