import { adminCommand, requireFlag, type AdminCommandSpec } from '../../admin-command.js';
import { entryJson, type EntryMessage } from '../../admin-messages.js';
import { ExitCode, UsageError } from '../../command.js';
import { ENTRY_FIELD_OPTIONS, entryFieldsFromFlags, formatEntry } from './shared.js';

export const entryUpdateSpec: AdminCommandSpec = {
  name: 'update',
  path: 'entry update',
  summary: 'change fields of a registration entry',
  synopsis: '--id ID [field options]',
  description:
    'Changes the given fields of an entry and keeps the others: the entry is read, the options given replace\n' +
    'their fields (a repeatable option replaces the whole list), and the result is written back. The write fails\n' +
    'if the entry changed in between.',
  options: {
    id: { type: 'string', value: 'ID', description: 'the entry to change' },
    ...ENTRY_FIELD_OPTIONS,
    'no-admin': { type: 'boolean', description: 'clear the admin flag' },
  },
  async run(ctx) {
    const id = requireFlag(ctx.flags, 'id', 'the entry ID, see "tessera entry list"');
    const changes = entryFieldsFromFlags(ctx.flags);
    if (Object.keys(changes).length === 0) {
      throw new UsageError('nothing to change: give at least one field option (see "tessera entry update --help")');
    }
    const { entry: current } = await ctx.admin.call<{ entry: EntryMessage }>('EntryService', 'GetEntry', { id });
    const { entry } = await ctx.admin.call<{ entry: EntryMessage }>('EntryService', 'UpdateEntry', {
      entry: { ...current, ...changes },
    });
    if (ctx.output === 'json') ctx.json({ entry: entryJson(entry) });
    else ctx.io.out(formatEntry(entry));
    return ExitCode.ok;
  },
};

export const entryUpdateCommand = adminCommand(entryUpdateSpec);
