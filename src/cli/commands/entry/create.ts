import { readFileSync } from 'node:fs';
import { adminCommand, requireFlag, type AdminCommandSpec } from '../../admin-command.js';
import type { EntryResultMessage } from '../../admin-messages.js';
import { UsageError } from '../../command.js';
import {
  defaultEntryFields,
  ENTRY_FIELD_OPTIONS,
  entriesFromData,
  entryFieldsFromFlags,
  printCreateResults,
  type EntryFields,
} from './shared.js';

export const entryCreateSpec: AdminCommandSpec = {
  name: 'create',
  path: 'entry create',
  summary: 'create a registration entry (or a batch from a JSON file)',
  synopsis: '--spiffe-id ID --parent-id ID --selector TYPE:VALUE [--selector ...] | --data FILE',
  description:
    'Creates a registration entry: workloads under the parent that show every selector get the SPIFFE ID.\n' +
    'With --data, creates every entry of a JSON file {"entries": [{"spiffeId": ..., "parentId": ...,\n' +
    '"selectors": ["unix:uid:1000"], ...}]} (the form "entry show -o json" prints); each entry succeeds or fails on\n' +
    'its own, and the exit status is 1 if any failed.',
  options: {
    ...ENTRY_FIELD_OPTIONS,
    data: { type: 'string', value: 'FILE', description: 'create the entries of a JSON file ("-" = standard input)' },
  },
  async run(ctx) {
    const { flags } = ctx;
    let items: EntryFields[];
    const data = flags.string('data');
    if (data !== undefined) {
      const other = Object.keys(ENTRY_FIELD_OPTIONS).find((name) => flags.has(name));
      if (other !== undefined) throw new UsageError(`--data cannot be combined with --${other}`);
      let text: string;
      try {
        text = data === '-' ? ctx.io.readStdin().toString('utf8') : readFileSync(data, 'utf8');
      } catch (err) {
        throw new UsageError(`cannot read --data ${data}: ${(err as Error).message}`);
      }
      items = entriesFromData(text, data === '-' ? 'standard input' : data);
    } else {
      requireFlag(flags, 'spiffe-id', 'the SPIFFE ID to issue');
      requireFlag(flags, 'parent-id', 'the agent or node alias the workload runs under');
      if (flags.strings('selector').length === 0) {
        throw new UsageError('--selector is required (at least one, e.g. --selector unix:uid:1000)');
      }
      items = [{ ...defaultEntryFields(), ...entryFieldsFromFlags(flags) }];
    }
    const { results } = await ctx.admin.call<{ results: EntryResultMessage[] }>('EntryService', 'BatchCreateEntry', {
      entries: items,
    });
    return printCreateResults(ctx, results, items);
  },
};

export const entryCreateCommand = adminCommand(entryCreateSpec);
