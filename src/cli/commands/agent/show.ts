import { adminCommand, requireFlag, type AdminCommandSpec } from '../../admin-command.js';
import { agentJson, type AgentMessage } from '../../admin-messages.js';
import { ExitCode } from '../../command.js';
import { AGENT_ID_OPTION, formatAgent } from './shared.js';

export const agentShowSpec: AdminCommandSpec = {
  name: 'show',
  path: 'agent show',
  summary: 'show one attested agent',
  synopsis: '--spiffe-id ID',
  options: AGENT_ID_OPTION,
  async run(ctx) {
    const spiffeId = requireFlag(ctx.flags, 'spiffe-id', 'the agent SPIFFE ID');
    const { agent } = await ctx.admin.call<{ agent: AgentMessage }>('AgentAdminService', 'GetAgent', {
      spiffe_id: spiffeId,
    });
    if (ctx.output === 'json') ctx.json({ agent: agentJson(agent) });
    else ctx.io.out(formatAgent(agent));
    return ExitCode.ok;
  },
};

export const agentShowCommand = adminCommand(agentShowSpec);
