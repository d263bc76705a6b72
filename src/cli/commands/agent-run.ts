import type { Command, ExitCode } from '../command.js';

/**
 * `tessera agent run …` hands the process over to the node agent's entry point (see ./server.ts for why this is a
 * run-time import of a main module and not a code dependency).
 */
export const agentRunCommand: Command = {
  name: 'run',
  summary: 'run the node agent (agent run --config FILE)',
  async run(args): Promise<ExitCode> {
    const { runAgentCli } = await import('../../agent/main.js');
    return (await runAgentCli(['run', ...args])) as ExitCode;
  },
};
