import { checkConfigFile } from '../../../common/config/check.js';
import { loadConfigFile } from '../../../common/config/index.js';
import { ExitCode, UsageError, type Command } from '../../command.js';
import { parseOptions } from '../../parse-options.js';

const HELP = `Usage: tessera config validate --config <file> [--kind server|agent]

Checks a server or agent configuration file as the process would load it at start: YAML/JSON, \${ENV} references,
every setting (deploy/server.example.yaml, deploy/agent.example.yaml), and the files it names (TLS files, the join
token file). Prints "ok" and exits 0, or prints one line per problem naming the setting and exits 1.

Options:
  -c, --config <file>   the configuration file (required)
  -k, --kind <kind>     server or agent (default: agent when the file has nodeAttestor or serverAddress, else server)
  -h, --help            show this help
`;

/**
 * `tessera config validate`. Like `server run`/`agent run`, it loads the process's configuration module at run time
 * (test/arch/imports.test.ts allows exactly these imports).
 */
export const configValidateCommand: Command = {
  name: 'validate',
  summary: 'check a server or agent configuration file',
  async run(args, io): Promise<ExitCode> {
    const values = parseOptions(args, {
      config: { type: 'string', short: 'c' },
      kind: { type: 'string', short: 'k' },
      help: { type: 'boolean', short: 'h' },
    }) as { config?: string; kind?: string; help?: boolean };
    if (values.help === true) {
      io.out(HELP);
      return ExitCode.ok;
    }
    const file = values.config;
    if (file === undefined || file === '') throw new UsageError('config validate needs --config <file>');
    if (values.kind !== undefined && values.kind !== 'server' && values.kind !== 'agent') {
      throw new UsageError(`--kind must be "server" or "agent", not ${JSON.stringify(values.kind)}`);
    }
    const kind = values.kind ?? guessKind(file);
    const check =
      kind === 'agent'
        ? await import('../../../agent/config.js').then((m) => checkConfigFile(file, m.agentConfigSchema, m.parseAgentConfig))
        : await import('../../../server/config.js').then((m) => checkConfigFile(file, m.serverConfigSchema, m.parseServerConfig));
    for (const warning of check.warnings) io.err(`warning: ${warning}\n`);
    if (check.problems.length === 0) {
      io.out('ok\n');
      return ExitCode.ok;
    }
    for (const problem of check.problems) io.err(`${file}: ${problem}\n`);
    return ExitCode.failure;
  },
};

/** The agent's file names its server and its node attestor; a file that cannot be read is checked as a server's. */
function guessKind(file: string): 'server' | 'agent' {
  try {
    const raw = loadConfigFile(file);
    if (typeof raw === 'object' && raw !== null && ('nodeAttestor' in raw || 'serverAddress' in raw)) return 'agent';
  } catch {
    // reported by the check itself
  }
  return 'server';
}
