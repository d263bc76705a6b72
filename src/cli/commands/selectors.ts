import { SELECTOR_FORMS, formName } from '../../common/selectors.js';
import { ExitCode, UsageError, type Command } from '../command.js';
import { table } from '../format.js';
import type { Io } from '../io.js';
import { parseOptions } from '../parse-options.js';

const HELP = `Usage: tessera selectors [--output text|json]

List the selector forms an entry may hold: type, key, value syntax, whether a workload or a node shows it, and which
attestor emits it. The server refuses any other form at "entry create" and "entry update". An entry matches a
workload when every one of its selectors is among those the agent attested for the process; "tessera entry explain
--pid PID" shows a process's selectors and why each entry did or did not match.

Options:
  -o, --output <format>  text (default) or json
  -h, --help             show this help
`;

/** `tessera selectors`: the selector registry (src/common/selectors.ts), offline. */
export const selectorsCommand: Command = {
  name: 'selectors',
  summary: 'list the selector types entries may use and which attestor emits each',
  async run(args: readonly string[], io: Io): Promise<ExitCode> {
    const values = parseOptions(args, {
      output: { type: 'string', short: 'o', default: 'text' },
      help: { type: 'boolean', short: 'h' },
    }) as { output?: string; help?: boolean };
    if (values.help === true) {
      io.out(HELP);
      return ExitCode.ok;
    }
    const output = values.output;
    if (output !== 'text' && output !== 'json') {
      throw new UsageError(`--output must be "text" or "json", not ${JSON.stringify(output)}`);
    }
    if (output === 'json') {
      const selectors = SELECTOR_FORMS.map((f) => ({
        type: f.type,
        key: f.key,
        value: f.value,
        form: formName(f),
        kind: f.kind,
        emittedBy: f.emittedBy,
        example: f.example,
      }));
      io.out(JSON.stringify({ selectors }, null, 2) + '\n');
      return ExitCode.ok;
    }
    io.out(
      table(
        ['SELECTOR', 'KIND', 'EMITTED BY', 'EXAMPLE'],
        SELECTOR_FORMS.map((f) => [formName(f), f.kind, f.emittedBy, f.example]),
      ) + '\n',
    );
    return ExitCode.ok;
  },
};
