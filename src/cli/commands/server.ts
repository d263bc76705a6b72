import type { Command, ExitCode } from '../command.js';

/**
 * `tessera server …` hands the process over to the server's entry point. This is the one place the CLI reaches into
 * src/server, and only by loading its main module at run time: the server is a process the binary starts, not a
 * library the CLI uses (every other command talks to a running server over its API).
 */
export const serverCommand: Command = {
  name: 'server',
  summary: 'run the tessera server (server run --config FILE)',
  async run(args): Promise<ExitCode> {
    const { runServerCli } = await import('../../server/main.js');
    return (await runServerCli(args)) as ExitCode;
  },
};
