import { TesseraError } from '../errors.js';

export type ConfigErrorReason = 'read' | 'parse' | 'unknown_key' | 'missing' | 'type' | 'range' | 'enum';

/**
 * A configuration file that cannot be used. `path` is the dotted path of the offending setting (`policy.maxTtl`,
 * `servers[1].host`; empty for the whole file) and is also the start of the message, SPIRE style:
 * `unknown key "server.bind_adress"`, `trustDomain must be configured`.
 */
export class ConfigError extends TesseraError {
  readonly path: string;
  readonly reason: ConfigErrorReason;

  constructor(reason: ConfigErrorReason, path: string, message: string, options?: { cause?: unknown }) {
    super('INVALID_ARGUMENT', message, options);
    this.reason = reason;
    this.path = path;
  }
}
