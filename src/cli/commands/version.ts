import { parseArgs } from 'node:util';
import { ExitCode, UsageError, parseArgsReason, type Command } from '../command.js';
import type { Io } from '../io.js';
import { readPackageInfo } from '../../common/version.js';

const HELP = `Usage: tessera version [--output text|json]

Prints the version of this tessera build.

Options:
  -o, --output <format>  text (default) or json
  -h, --help             show this help
`;

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
