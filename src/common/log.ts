import { pino, type DestinationStream, type Logger as PinoLogger } from 'pino';

/**
 * Structured logging for server and agent: pino, one JSON object per line, to stderr unless told otherwise.
 * Messages are capitalized sentences ("Agent attested"); facts go in the object, never in the sentence. Levels are
 * strings ("info"); a child logger never binds a key its parent bound (pino would write it twice).
 * Secret-looking keys are redacted at any of the first four levels of a logged object (see {@link REDACTED_KEYS}).
 */
export type Logger = PinoLogger;

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export interface LoggerOptions {
  name: string;
  /** Defaults to `info`. */
  level?: LogLevel;
  /** Where JSON lines go; defaults to stderr (fd 2, synchronous writes so nothing is lost on exit). */
  destination?: DestinationStream;
}

/** Keys whose values never reach a log line, whatever object they sit in. */
export const REDACTED_KEYS: readonly string[] = [
  'privateKey',
  'private_key',
  'key',
  'token',
  'joinToken',
  'join_token',
  'jwt',
  'jwtSvid',
  'jwt_svid',
  'svid_key',
  'svidKey',
  'password',
  'secret',
  'authorization',
  'Authorization',
];

/** pino has no recursive wildcard: list each key at the top level and under one to three levels of any key. */
const REDACT_DEPTH = 3;

function redactPaths(): string[] {
  const paths: string[] = [];
  for (const key of REDACTED_KEYS) {
    for (let depth = 0; depth <= REDACT_DEPTH; depth++) {
      paths.push([...Array<string>(depth).fill('*'), key].join('.'));
    }
  }
  return paths;
}

export function createLogger(options: LoggerOptions): Logger {
  const destination = options.destination ?? pino.destination({ dest: 2, sync: true });
  return pino(
    {
      name: options.name,
      level: options.level ?? 'info',
      redact: { paths: redactPaths(), censor: '[Redacted]' },
      // No pino base fields (pid, hostname): `pid` on a line is always the workload process it is about, never a second
      // key beside the daemon's own (a JSON line must not hold one key twice); the runtime knows the daemon's pid.
      base: {},
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      // The cause chain too: `err.cause` serialized as a nested error (type, message, stack, its own cause).
      serializers: { err: pino.stdSerializers.errWithCause },
    },
    destination,
  );
}

/** A logger that writes nothing, for components whose caller passed none. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
