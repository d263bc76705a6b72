import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ExitCode, UsageError, parseArgsReason, type Command } from '../command.js';
import type { Io } from '../io.js';

const HELP = `Usage: tessera version [--output text|json]

Prints the version of this tessera build.

Options:
  -o, --output <format>  text (default) or json
  -h, --help             show this help
`;

interface PackageInfo {
  readonly name: string;
  readonly version: string;
}

/**
 * Reads our package.json at run time. The file is found by walking up from this module, so it works the same from
 * src/cli/commands (tsx, vitest) and from dist/cli/commands (the built bin) and through npm's bin symlink.
 */
export function readPackageInfo(from: string = fileURLToPath(import.meta.url)): PackageInfo {
  let dir = dirname(from);
  for (;;) {
    let text: string | undefined;
    try {
      text = readFileSync(join(dir, 'package.json'), 'utf8');
    } catch {
      text = undefined;
    }
    if (text !== undefined) {
      const pkg = JSON.parse(text) as { name?: unknown; version?: unknown };
      if (pkg.name === 'tessera' && typeof pkg.version === 'string') return { name: pkg.name, version: pkg.version };
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error('cannot find the tessera package.json above ' + JSON.stringify(from));
    dir = parent;
  }
}

export const versionCommand: Command = {
  name: 'version',
  summary: 'print the tessera version',
  async run(args: readonly string[], io: Io): Promise<ExitCode> {
    let values: { output?: string; help?: boolean };
    try {
      ({ values } = parseArgs({
        args: [...args],
        options: {
          output: { type: 'string', short: 'o', default: 'text' },
          help: { type: 'boolean', short: 'h' },
        },
        allowPositionals: false,
        strict: true,
      }));
    } catch (err) {
      throw new UsageError(parseArgsReason(err));
    }
    if (values.help === true) {
      io.out(HELP);
      return ExitCode.ok;
    }
    const output = values.output;
    if (output !== 'text' && output !== 'json') {
      throw new UsageError(`--output must be "text" or "json", not ${JSON.stringify(output)}`);
    }
    const pkg = readPackageInfo();
    if (output === 'json') {
      io.out(JSON.stringify({ name: pkg.name, version: pkg.version, node: process.version }) + '\n');
    } else {
      io.out(`${pkg.name} ${pkg.version}\n`);
    }
    return ExitCode.ok;
  },
};
