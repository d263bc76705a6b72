import { Writable } from 'node:stream';
import { createLogger, type Logger, type LogLevel } from '../../src/common/log.js';

/** A real logger whose JSON lines are kept in memory. */
export function captureLogger(level: LogLevel = 'trace'): { log: Logger; lines: () => Record<string, unknown>[] } {
  const chunks: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk.toString('utf8'));
      done();
    },
  });
  const log = createLogger({ name: 'test', level, destination });
  return {
    log,
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter((l) => l.length > 0)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}
