/**
 * Runs `tessera <args>` in this process through the CLI's own entry point, `main(argv, io)`, with a buffer Io: the
 * same parsing, dispatch, output and exit codes as the built binary, without starting a `node` per command. The
 * built binary keeps a few spawn smoke tests (test/cli/cli.test.ts and one per CLI family).
 *
 * Environment variables and the working directory are process-wide, so calls run one at a time: each applies its
 * `env` (undefined = unset) and `cwd`, and puts both back when the command ends.
 */
import { bufferIo } from '../../src/cli/io.js';
import { main } from '../../src/cli/main.js';

export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface InProcessOptions {
  /** Variables set for the call; `undefined` unsets one. The rest of process.env stays as it is. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** What standard input holds (default: empty). */
  readonly stdin?: string;
  /** Working directory for the call (relative paths, default sockets). */
  readonly cwd?: string;
  /** Sees standard output so far after each write (e.g. to act on the first line of `api watch`). */
  readonly onStdout?: (stdout: string) => void;
}

let queue: Promise<unknown> = Promise.resolve();

export function runTessera(args: readonly string[], options: InProcessOptions = {}): Promise<CliRun> {
  const run = queue.then(() => runNow(args, options));
  queue = run.catch(() => undefined);
  return run;
}

async function runNow(args: readonly string[], options: InProcessOptions): Promise<CliRun> {
  const io = bufferIo({
    ...(options.stdin !== undefined ? { stdin: options.stdin } : {}),
    ...(options.onStdout !== undefined ? { onOut: options.onStdout } : {}),
  });
  const saved = Object.keys(options.env ?? {}).map((k) => [k, process.env[k]] as const);
  const cwd = process.cwd();
  try {
    for (const [k, v] of Object.entries(options.env ?? {})) setEnv(k, v);
    if (options.cwd !== undefined) process.chdir(options.cwd);
    const code = await main(args, io);
    return { code, stdout: io.stdout, stderr: io.stderr };
  } finally {
    process.chdir(cwd);
    for (const [k, v] of saved) setEnv(k, v);
  }
}

function setEnv(name: string, value: string | undefined): void {
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
}
