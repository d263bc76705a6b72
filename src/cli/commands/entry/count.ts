import { adminCommand, type AdminCommandSpec } from '../../admin-command.js';
import { ExitCode } from '../../command.js';
import { plural } from '../../format.js';

export const entryCountSpec: AdminCommandSpec = {
  name: 'count',
  path: 'entry count',
  summary: 'count registration entries',
  async run(ctx) {
    const { count } = await ctx.admin.call<{ count: number }>('EntryService', 'CountEntries', {});
    if (ctx.output === 'json') ctx.json({ count });
    else ctx.io.out(`${plural(count, 'entry', 'entries')}\n`);
    return ExitCode.ok;
  },
};

export const entryCountCommand = adminCommand(entryCountSpec);
