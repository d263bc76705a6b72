/**
 * The `tessera <server|agent> run --config FILE` entry point shared by both processes: turns argv into a config,
 * starts the process's parts, and maps signals and failures to exit codes (0 stopped cleanly, 1 failed, 2 usage).
 */
import { parseArgs } from 'node:util';
import { parseArgsReason } from './args.js';
import { createLogger, type Logger, type LogLevel } from './log.js';

export interface DaemonSpec<C extends { readonly logLevel: LogLevel }> {
  readonly noun: 'server' | 'agent';
  /** The full `--help` text. */
  readonly usage: string;
  /** Where every option is documented, named in errors. */
  readonly exampleConfig: string;
  readonly load: (file: string) => C;
  readonly start: (config: C, log: Logger) => Promise<{ stop(): Promise<void> }>;
  /** Logged when a signal arrives, e.g. what is being closed. */
  readonly stoppingMessage: string;
}

/** Runs `tessera <noun> …`; resolves with the exit code once the process has stopped. */
export async function runDaemonCli<C extends { readonly logLevel: LogLevel }>(
  spec: DaemonSpec<C>,
  argv: readonly string[],
): Promise<number> {
  const [verb, ...rest] = argv;
  if (verb === '--help' || verb === '-h') {
    process.stdout.write(spec.usage);
    return 0;
  }
  if (verb === undefined) {
    process.stderr.write(`tessera: ${spec.noun} needs a command: run (see "tessera ${spec.noun} --help")\n`);
    return 2;
  }
  if (verb !== 'run') {
    process.stderr.write(`tessera: unknown ${spec.noun} command ${JSON.stringify(verb)} (only "run")\n`);
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
      process.stdout.write(spec.usage);
      return 0;
    }
    configFile = values.config;
  } catch (err) {
    process.stderr.write(`tessera: ${parseArgsReason(err)}\n`);
    return 2;
  }
  if (!configFile) {
    process.stderr.write(`tessera: --config <file> is required (see ${spec.exampleConfig})\n`);
    return 2;
  }

  let config: C;
  try {
    config = spec.load(configFile);
  } catch (err) {
    process.stderr.write(`tessera: invalid configuration ${configFile}: ${(err as Error).message}\n`);
    return 1;
  }
  const log = createLogger({ name: `tessera-${spec.noun}`, level: config.logLevel });
  let running: { stop(): Promise<void> };
  try {
    running = await spec.start(config, log);
  } catch (err) {
    log.fatal({ err }, `${spec.noun === 'server' ? 'Server' : 'Agent'} failed to start`);
    process.stderr.write(`tessera: ${spec.noun} failed to start: ${(err as Error).message}\n`);
    return 1;
  }

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, spec.stoppingMessage);
      running.stop().then(
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
