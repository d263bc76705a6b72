/**
 * The CLI's view of the outside world: where text goes and what standard input holds. Commands write and read through
 * an `Io` and never touch `process.stdout`/`process.stderr`/fd 0 themselves, so tests can run them in-process.
 */
import { readFileSync } from 'node:fs';

export interface Io {
  /** Writes `text` as-is to standard output (add the newline yourself). */
  out(text: string): void;
  /** Writes `text` as-is to standard error. */
  err(text: string): void;
  /** Reads standard input to its end (for `--data -`, `--trust-bundle -`); throws when it cannot be read. */
  readStdin(): Buffer;
}

/** The real process streams. */
export function processIo(): Io {
  return {
    out: (text) => void process.stdout.write(text),
    err: (text) => void process.stderr.write(text),
    readStdin: () => readFileSync(0),
  };
}

/** An `Io` that keeps everything written, for tests. */
export interface BufferIo extends Io {
  readonly stdout: string;
  readonly stderr: string;
}

/** `stdin` is what standard input holds (default: empty); `onOut` sees standard output after each write. */
export function bufferIo(options: { stdin?: string | Buffer; onOut?: (stdout: string) => void } = {}): BufferIo {
  let stdout = '';
  let stderr = '';
  const stdin = Buffer.from(options.stdin ?? '');
  return {
    out: (text) => {
      stdout += text;
      options.onOut?.(stdout);
    },
    err: (text) => void (stderr += text),
    readStdin: () => Buffer.from(stdin),
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
  };
}
