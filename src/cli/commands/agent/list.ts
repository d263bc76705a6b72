import { adminCommand, type AdminCommandSpec } from '../../admin-command.js';
import { agentJson, type AgentMessage } from '../../admin-messages.js';
import { ExitCode } from '../../command.js';
import { formatUnixSeconds, plural, table } from '../../format.js';
import { agentStatus } from './shared.js';

export const agentListSpec: AdminCommandSpec = {
  name: 'list',
  path: 'agent list',
  summary: 'list attested agents',
  async run(ctx) {
    const { agents } = await ctx.admin.call<{ agents: AgentMessage[] }>('AgentAdminService', 'ListAgents', {});
    if (ctx.output === 'json') {
      ctx.json({ agents: agents.map(agentJson) });
      return ExitCode.ok;
    }
    if (agents.length === 0) {
      ctx.io.out('No attested agents.\n');
      return ExitCode.ok;
    }
    ctx.io.out(
      table(
        ['SPIFFE ID', 'ATTESTOR', 'STATUS', 'SVID EXPIRES', 'LAST SEEN'],
        agents.map((a) => [
          a.spiffe_id,
          a.attestor,
          agentStatus(a),
          formatUnixSeconds(a.svid_expires_at, '-'),
          formatUnixSeconds(a.last_seen_at, '-'),
        ]),
      ) + `\n${plural(agents.length, 'agent')}\n`,
    );
    return ExitCode.ok;
  },
};

export const agentListCommand = adminCommand(agentListSpec);
