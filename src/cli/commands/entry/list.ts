import { adminCommand, type AdminCommandSpec } from '../../admin-command.js';
import { entryJson, roleText, selectorText, type EntryMessage } from '../../admin-messages.js';
import { ExitCode } from '../../command.js';
import { plural, table } from '../../format.js';

export const entryListSpec: AdminCommandSpec = {
  name: 'list',
  path: 'entry list',
  summary: 'list registration entries',
  options: {
    'spiffe-id': { type: 'string', value: 'ID', description: 'only entries issuing this SPIFFE ID' },
    'parent-id': { type: 'string', value: 'ID', description: 'only entries under this parent' },
  },
  async run(ctx) {
    const spiffeId = ctx.flags.string('spiffe-id');
    const parentId = ctx.flags.string('parent-id');
    const { entries } = await ctx.admin.call<{ entries: EntryMessage[] }>('EntryService', 'ListEntries', {
      ...(spiffeId !== undefined ? { spiffe_id: spiffeId } : {}),
      ...(parentId !== undefined ? { parent_id: parentId } : {}),
    });
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
