/**
 * The `tessera <server|agent> run --config FILE` entry point shared by both processes: turns argv into a config,
 * starts the process's parts, and maps signals and failures to exit codes (0 stopped cleanly, 1 failed, 2 usage).
 * SIGTERM/SIGINT stop the process (also when they arrive before it is up); SIGHUP reloads its configuration.
 */
import { parseArgs } from 'node:util';
import { parseArgsReason } from './args.js';
import { changedSettings } from './config/changes.js';
import { createLogger, type Logger, type LoggerOptions, type LogLevel } from './log.js';

/** What the daemon needs of a validated configuration. */
export interface DaemonConfig {
  readonly logLevel: LogLevel;
  /** Logged once at start, as warnings. */
  readonly warnings?: readonly string[];
}

/** A started process. */
export interface Running<C> {
  stop(): Promise<void>;
  /**
   * Applies what can change while running (SIGHUP) and returns the settings it applied (dotted paths or their
   * parents, e.g. `http.tls`); every other changed setting is logged as needing a restart.
   */
  reload?(config: C): Promise<string[]>;
}

export interface DaemonSpec<C extends DaemonConfig> {
  readonly noun: 'server' | 'agent';
  /** The full `--help` text. */
  readonly usage: string;
  /** Where every option is documented, named in errors. */
  readonly exampleConfig: string;
  readonly load: (file: string) => C;
  readonly start: (config: C, log: Logger) => Promise<Running<C>>;
  /** Logged when a signal arrives, e.g. what is being closed. */
  readonly stoppingMessage: string;
}

/** Runs `tessera <noun> …`; resolves with the exit code once the process has stopped. */
export async function runDaemonCli<C extends DaemonConfig>(
  spec: DaemonSpec<C>,
  argv: readonly string[],
  /** Where log lines go (default: stderr); a test seam. */
  logDestination?: LoggerOptions['destination'],
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

  // Signals are ours from here on: a SIGTERM before the process is up stops it once it is (exit 0), and a SIGHUP
  // (which would otherwise kill it and leave its sockets behind) reloads once it is up.
  let stopSignal: NodeJS.Signals | undefined;
  let hupPending = false;
  let onStop: ((signal: NodeJS.Signals) => void) | undefined;
  let onHup: (() => void) | undefined;
  const term = (signal: NodeJS.Signals) => (onStop ? onStop(signal) : (stopSignal ??= signal));
  const hup = () => (onHup ? onHup() : (hupPending = true));
  process.on('SIGTERM', term);
  process.on('SIGINT', term);
  process.on('SIGHUP', hup);
  try {
    return await runDaemon(spec, configFile, logDestination, {
      stopRequested: () => stopSignal,
      hupPending: () => hupPending,
      onStop: (fn) => (onStop = fn),
      onHup: (fn) => (onHup = fn),
    });
  } finally {
    process.off('SIGTERM', term);
    process.off('SIGINT', term);
    process.off('SIGHUP', hup);
  }
}

interface SignalHooks {
  /** The stop signal that arrived before the process was up, if any. */
  stopRequested(): NodeJS.Signals | undefined;
  hupPending(): boolean;
  onStop(fn: (signal: NodeJS.Signals) => void): void;
  onHup(fn: () => void): void;
}

async function runDaemon<C extends DaemonConfig>(
  spec: DaemonSpec<C>,
  configFile: string,
  destination: LoggerOptions['destination'],
  signals: SignalHooks,
): Promise<number> {
  let config: C;
  try {
    config = spec.load(configFile);
  } catch (err) {
    process.stderr.write(`tessera: invalid configuration ${configFile}: ${(err as Error).message}\n`);
    return 1;
  }
  const log = createLogger({ name: `tessera-${spec.noun}`, level: config.logLevel, ...(destination && { destination }) });
  for (const warning of config.warnings ?? []) log.warn({ configFile }, warning);
  let running: Running<C>;
  try {
    running = await spec.start(config, log);
  } catch (err) {
    log.fatal({ err }, `${spec.noun === 'server' ? 'Server' : 'Agent'} failed to start`);
    process.stderr.write(`tessera: ${spec.noun} failed to start: ${(err as Error).message}\n`);
    return 1;
  }

  let reloading: Promise<void> = Promise.resolve();
  const reload = () => {
    reloading = reloading.then(() => reloadConfig(spec, configFile, config, running, log));
  };
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, spec.stoppingMessage);
      reloading
        .then(() => running.stop())
        .then(
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
    signals.onStop(stop);
    signals.onHup(() => {
      if (!stopping) reload();
    });
    const early = signals.stopRequested();
    if (early) stop(early);
    else if (signals.hupPending()) reload();
  });
}

/**
 * SIGHUP: reads the config file again. The log level applies at once, the running parts re-read what they can
 * (`reload`), and every other changed setting is logged as needing a restart. A file that no longer validates
 * changes nothing.
 */
async function reloadConfig<C extends DaemonConfig>(
  spec: DaemonSpec<C>,
  configFile: string,
  started: C,
  running: Running<C>,
  log: Logger,
): Promise<void> {
  let next: C;
  try {
    next = spec.load(configFile);
  } catch (err) {
    log.error({ signal: 'SIGHUP', configFile, reason: (err as Error).message }, 'Configuration not reloaded: the file is invalid; still running with the previous one');
    return;
  }
  const reloaded: string[] = [];
  if (log.level !== next.logLevel) {
    log.level = next.logLevel;
    reloaded.push('logLevel');
  }
  try {
    reloaded.push(...((await running.reload?.(next)) ?? []));
  } catch (err) {
    log.error({ signal: 'SIGHUP', configFile, reason: (err as Error).message }, 'Configuration partly reloaded: a file could not be used; the previous one stays in use');
  }
  const reloadable = [...reloaded, 'logLevel', 'warnings'];
  const needsRestart = changedSettings(started, next).filter(
    (setting) => !reloadable.some((r) => setting === r || setting.startsWith(`${r}.`)),
  );
  log.info({ signal: 'SIGHUP', configFile, reloaded, needsRestart }, 'Configuration reloaded');
  if (needsRestart.length > 0) {
    log.warn({ settings: needsRestart }, `Changed settings need a restart to take effect: ${needsRestart.join(', ')}`);
  }
}
