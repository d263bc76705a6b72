import { adminCommand, type AdminCommandSpec } from '../../admin-command.js';
import { ExitCode } from '../../command.js';
import { plural } from '../../format.js';

export const agentCountSpec: AdminCommandSpec = {
  name: 'count',
  path: 'agent count',
  summary: 'count attested agents (banned ones included)',
  async run(ctx) {
    const { count } = await ctx.admin.call<{ count: number }>('AgentAdminService', 'CountAgents', {});
    if (ctx.output === 'json') ctx.json({ count });
    else ctx.io.out(`${plural(count, 'agent')}\n`);
    return ExitCode.ok;
  },
};

export const agentCountCommand = adminCommand(agentCountSpec);
