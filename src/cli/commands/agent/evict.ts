import { adminCommand, requireFlag, type AdminCommandSpec } from '../../admin-command.js';
import { ExitCode } from '../../command.js';
import { AGENT_ID_OPTION } from './shared.js';

export const agentEvictSpec: AdminCommandSpec = {
  name: 'evict',
  path: 'agent evict',
  summary: 'delete an agent record: its SVID is refused and it must attest again',
  synopsis: '--spiffe-id ID',
  options: AGENT_ID_OPTION,
  async run(ctx) {
    const spiffeId = requireFlag(ctx.flags, 'spiffe-id', 'the agent SPIFFE ID');
    await ctx.admin.call('AgentAdminService', 'EvictAgent', { spiffe_id: spiffeId });
    if (ctx.output === 'json') ctx.json({ spiffeId, evicted: true });
    else ctx.io.out(`Evicted agent ${spiffeId}: it must attest again.\n`);
    return ExitCode.ok;
  },
};

export const agentEvictCommand = adminCommand(agentEvictSpec);
