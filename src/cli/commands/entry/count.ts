import { adminCommand, type AdminCommandSpec } from '../../admin-command.js';
import { ExitCode } from '../../command.js';
import { plural } from '../../format.js';
import { ENTRY_FILTER_OPTIONS, entryFilterFromFlags } from './filter.js';

export const entryCountSpec: AdminCommandSpec = {
  name: 'count',
  path: 'entry count',
  summary: 'count registration entries',
  description: 'Count registration entries; takes the filters of "tessera entry list", and every filter given must hold.',
  options: ENTRY_FILTER_OPTIONS,
  async run(ctx) {
    const request = entryFilterFromFlags(ctx.flags);
    const { count } = await ctx.admin.call<{ count: number }>('EntryService', 'CountEntries', request);
    if (ctx.output === 'json') ctx.json({ count });
    else ctx.io.out(`${plural(count, 'entry', 'entries')}\n`);
    return ExitCode.ok;
  },
};

export const entryCountCommand = adminCommand(entryCountSpec);
