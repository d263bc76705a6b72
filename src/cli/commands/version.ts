import { ExitCode, UsageError, type Command } from '../command.js';
import type { Io } from '../io.js';
import { parseOptions } from '../parse-options.js';
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
    const values = parseOptions(args, {
      output: { type: 'string', short: 'o' },
      help: { type: 'boolean', short: 'h' },
    });
    if (values['help'] === true) {
      io.out(HELP);
      return ExitCode.ok;
    }
    const output = values['output'] ?? 'text';
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
