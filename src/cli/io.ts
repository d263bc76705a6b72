/**
 * The CLI's view of the outside world: where text goes. Commands write through an `Io` and never touch
 * `process.stdout`/`process.stderr` themselves, so tests can run them in-process and capture everything.
 */

export interface Io {
  /** Writes `text` as-is to standard output (add the newline yourself). */
  out(text: string): void;
  /** Writes `text` as-is to standard error. */
  err(text: string): void;
}

/** The real process streams. */
export function processIo(): Io {
  return {
    out: (text) => void process.stdout.write(text),
    err: (text) => void process.stderr.write(text),
  };
}

/** An `Io` that keeps everything written, for tests. */
export interface BufferIo extends Io {
  readonly stdout: string;
  readonly stderr: string;
}

export function bufferIo(): BufferIo {
  let stdout = '';
  let stderr = '';
  return {
    out: (text) => void (stdout += text),
    err: (text) => void (stderr += text),
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
  };
}
