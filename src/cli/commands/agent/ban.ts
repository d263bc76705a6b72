import { adminCommand, requireFlag, type AdminCommandSpec } from '../../admin-command.js';
import { ExitCode } from '../../command.js';
import { AGENT_ID_OPTION } from './shared.js';

export const agentBanSpec: AdminCommandSpec = {
  name: 'ban',
  path: 'agent ban',
  summary: 'refuse an agent every call and re-attestation until it is evicted',
  synopsis: '--spiffe-id ID',
  options: AGENT_ID_OPTION,
  async run(ctx) {
    const spiffeId = requireFlag(ctx.flags, 'spiffe-id', 'the agent SPIFFE ID');
    await ctx.admin.call('AgentAdminService', 'BanAgent', { spiffe_id: spiffeId });
    if (ctx.output === 'json') ctx.json({ spiffeId, banned: true });
    else ctx.io.out(`Banned agent ${spiffeId}: its calls and re-attestation are refused until it is evicted.\n`);
    return ExitCode.ok;
  },
};

export const agentBanCommand = adminCommand(agentBanSpec);
