import { adminCommand, type AdminCommandSpec } from '../../admin-command.js';
import { entryJson, roleText, selectorText, type EntryMessage } from '../../admin-messages.js';
import { ExitCode } from '../../command.js';
import { plural, table } from '../../format.js';
import { ENTRY_FILTER_OPTIONS, entryFilterFromFlags } from './filter.js';

export const entryListSpec: AdminCommandSpec = {
  name: 'list',
  path: 'entry list',
  summary: 'list registration entries',
  description: 'List registration entries; every filter given must hold.',
  options: ENTRY_FILTER_OPTIONS,
  async run(ctx) {
    const request = entryFilterFromFlags(ctx.flags);
    const { entries } = await ctx.admin.call<{ entries: EntryMessage[] }>('EntryService', 'ListEntries', request);
    if (ctx.output === 'json') {
      ctx.json({ entries: entries.map(entryJson) });
      return ExitCode.ok;
    }
    if (entries.length === 0) {
      ctx.io.out('No entries found.\n');
      return ExitCode.ok;
    }
    ctx.io.out(
      table(
        ['ENTRY ID', 'SPIFFE ID', 'PARENT ID', 'ROLE', 'SELECTORS'],
        entries.map((e) => [e.id, e.spiffe_id, e.parent_id, roleText(e.role), e.selectors.map(selectorText).join(', ')]),
      ) + `\n${plural(entries.length, 'entry', 'entries')}\n`,
    );
    return ExitCode.ok;
  },
};

export const entryListCommand = adminCommand(entryListSpec);
