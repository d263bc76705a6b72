import { adminCommand, requireFlag, type AdminCommandSpec } from '../../admin-command.js';
import { ExitCode } from '../../command.js';

export const entryDeleteSpec: AdminCommandSpec = {
  name: 'delete',
  path: 'entry delete',
  summary: 'delete a registration entry',
  synopsis: '--id ID',
  options: { id: { type: 'string', value: 'ID', description: 'the entry to delete' } },
  async run(ctx) {
    const id = requireFlag(ctx.flags, 'id', 'the entry ID, see "tessera entry list"');
    await ctx.admin.call('EntryService', 'DeleteEntry', { id });
    if (ctx.output === 'json') ctx.json({ deleted: id });
    else ctx.io.out(`Deleted entry ${id}\n`);
    return ExitCode.ok;
  },
};

export const entryDeleteCommand = adminCommand(entryDeleteSpec);
