import { adminCommand, requireFlag, type AdminCommandSpec } from '../../admin-command.js';
import { agentJson, type AgentMessage } from '../../admin-messages.js';
import { ExitCode } from '../../command.js';
import { durationFlag } from '../../duration.js';
import { formatUnixSeconds, plural, table } from '../../format.js';

/** Ten years: a bound that still catches a typo's extra digits. */
const MAX_EXPIRED_FOR_SECONDS = 3650 * 86_400;

export const agentPurgeSpec: AdminCommandSpec = {
  name: 'purge',
  path: 'agent purge',
  summary: 'delete agents whose SVID expired long ago',
  synopsis: '--expired-for DURATION',
  description:
    'Delete the records of agents whose SVID expired at least DURATION ago (like spire-server agent purge). Banned\n' +
    'agents are kept, so their ban holds. --dry-run lists them without deleting.',
  options: {
    'expired-for': { type: 'string', value: 'DURATION', description: 'e.g. 30d, 12h, 1h30m (at least 1s)' },
    'dry-run': { type: 'boolean', description: 'only list the agents that would be purged' },
  },
  async run(ctx) {
    const text = requireFlag(ctx.flags, 'expired-for', 'how long ago the SVID must have expired, e.g. 30d');
    const expiredFor = durationFlag('expired-for', text, 1, MAX_EXPIRED_FOR_SECONDS);
    const dryRun = ctx.flags.boolean('dry-run');
    const { agents } = await ctx.admin.call<{ agents: AgentMessage[] }>('AgentAdminService', 'PurgeAgents', {
      expired_for_seconds: expiredFor,
      dry_run: dryRun,
    });
    if (ctx.output === 'json') {
      ctx.json({ dryRun, expiredForSeconds: expiredFor, agents: agents.map(agentJson) });
      return ExitCode.ok;
    }
    if (agents.length === 0) {
      ctx.io.out(`No agent's SVID expired ${text} ago or earlier; nothing to purge.\n`);
      return ExitCode.ok;
    }
    ctx.io.out(
      table(
        ['SPIFFE ID', 'ATTESTOR', 'SVID EXPIRED'],
        agents.map((a) => [a.spiffe_id, a.attestor, formatUnixSeconds(a.svid_expires_at, '-')]),
      ) + `\n${dryRun ? 'Would purge' : 'Purged'} ${plural(agents.length, 'agent')}.\n`,
    );
    return ExitCode.ok;
  },
};

export const agentPurgeCommand = adminCommand(agentPurgeSpec);
