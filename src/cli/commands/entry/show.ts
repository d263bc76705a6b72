import { adminCommand, type AdminCommandSpec } from '../../admin-command.js';
import type { EntryMessage } from '../../admin-messages.js';
import { CommandFailure, ExitCode, UsageError } from '../../command.js';
import { printEntries } from './shared.js';

export const entryShowSpec: AdminCommandSpec = {
  name: 'show',
  path: 'entry show',
  summary: 'show registration entries by ID or SPIFFE ID',
  synopsis: '--id ID | --spiffe-id ID',
  options: {
    id: { type: 'string', value: 'ID', description: 'the entry ID' },
    'spiffe-id': { type: 'string', value: 'ID', description: 'every entry issuing this SPIFFE ID (or ID template)' },
  },
  async run(ctx) {
    const id = ctx.flags.string('id');
    const spiffeId = ctx.flags.string('spiffe-id');
    if ((id === undefined) === (spiffeId === undefined)) {
      throw new UsageError('give exactly one of --id or --spiffe-id');
    }
    let entries: EntryMessage[];
    if (id !== undefined) {
      entries = [(await ctx.admin.call<{ entry: EntryMessage }>('EntryService', 'GetEntry', { id })).entry];
    } else {
      entries = (
        await ctx.admin.call<{ entries: EntryMessage[] }>('EntryService', 'ListEntries', { spiffe_id: spiffeId })
      ).entries;
      if (entries.length === 0) throw new CommandFailure(`no entry has SPIFFE ID ${JSON.stringify(spiffeId)}`);
    }
    printEntries(ctx, entries);
    return ExitCode.ok;
  },
};

export const entryShowCommand = adminCommand(entryShowSpec);
