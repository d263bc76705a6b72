import type * as grpc from '@grpc/grpc-js';
import { invalidArgument, notFound } from '../../../common/errors.js';
import { toStatus } from '../../../common/grpc/status.js';
import type { Entry, EntryInput } from '../../datastore/index.js';
import { checkFederatesWithKnown, checkRoleDisjoint, validateEntryInput, type RawEntry } from '../../entries/validate.js';
import type { AdminContext } from './config.js';
import { parseEntryFilter, type RawEntryFilter } from './entry-filter.js';
import { entryToMessage, type EntryMessage, type EntryResultMessage, type Incoming } from './messages.js';
import { isItemError, Serializer, unary } from './unary.js';

/** At most this many entries per BatchCreateEntry call. */
export const MAX_BATCH_ENTRIES = 1000;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** An entry ID field: required, and shaped like the UUIDs the datastore assigns. */
export function parseEntryId(field: string, value: unknown): string {
  if (value === undefined || value === '') throw invalidArgument(`${field} is required`);
  if (typeof value !== 'string' || !UUID.test(value)) {
    throw invalidArgument(`${field} ${JSON.stringify(value)} is not an entry ID (a UUID)`);
  }
  return value.toLowerCase();
}

function auditDetails(e: Entry) {
  return { spiffeId: e.spiffeId, entryId: e.id, details: { parentId: e.parentId, role: e.role, revision: e.revision } };
}

/** tessera.admin.v1.EntryService. Entry writes run one at a time so the supervisor/worker check cannot be raced. */
export function entryService(ctx: AdminContext, writes: Serializer): grpc.UntypedServiceImplementation {
  const { entries, log } = ctx;

  async function batchCreate(req: { entries?: unknown }) {
    const items = req.entries;
    if (!Array.isArray(items) || items.length === 0) throw invalidArgument('entries must hold at least one entry');
    if (items.length > MAX_BATCH_ENTRIES) {
      throw invalidArgument(`entries holds ${items.length} entries; at most ${MAX_BATCH_ENTRIES} per call`);
    }
    return writes.run(async () => {
      const results: EntryResultMessage[] = new Array<EntryResultMessage>(items.length);
      const accepted: { index: number; input: EntryInput }[] = [];
      for (const [index, raw] of items.entries()) {
        try {
          const input = validateEntryInput(raw as RawEntry, ctx.validation);
          await checkRoleDisjoint(input, entries, { pending: accepted.map((a) => a.input) });
          await checkFederatesWithKnown(input, ctx.federation);
          accepted.push({ index, input });
        } catch (err) {
          if (!isItemError(err)) throw err;
          results[index] = failure(err);
        }
      }
      const created = accepted.length > 0 ? await entries.createMany(accepted.map((a) => a.input)) : [];
      const stored: Entry[] = [];
      created.forEach((r, k) => {
        const index = accepted[k]!.index;
        if (r.ok) {
          stored.push(r.entry);
          results[index] = { entry: entryToMessage(r.entry), error_code: 0, error_message: '' };
        } else {
          results[index] = failure(r.error);
        }
      });
      if (stored.length > 0) log.info({ entryIds: stored.map((e) => e.id) }, 'Entries created');
      await ctx.record(stored.map((e) => ({ kind: 'entry.created', ...auditDetails(e) })));
      return { results };
    });
  }

  function failure(err: unknown): EntryResultMessage {
    const status = toStatus(err, log);
    return { error_code: status.code, error_message: status.details };
  }

  async function update(req: { entry?: unknown }) {
    const raw = req.entry as (RawEntry & Incoming<Pick<EntryMessage, 'id' | 'revision'>>) | null | undefined;
    if (raw === undefined || raw === null || typeof raw !== 'object') throw invalidArgument('entry is required');
    const id = parseEntryId('entry.id', raw.id);
    const revision = raw.revision ?? 0;
    if (typeof revision !== 'number' || !Number.isSafeInteger(revision) || revision < 0) {
      throw invalidArgument('entry.revision must be 0 (any) or the revision the update was based on');
    }
    const input = validateEntryInput(raw, ctx.validation);
    return writes.run(async () => {
      await checkRoleDisjoint(input, entries, { excludeId: id });
      await checkFederatesWithKnown(input, ctx.federation);
      const entry = await entries.update(id, input, revision > 0 ? { expectedRevision: revision } : {});
      log.info({ entryId: entry.id, revision: entry.revision }, 'Entry updated');
      await ctx.record([{ kind: 'entry.updated', ...auditDetails(entry) }]);
      return { entry: entryToMessage(entry) };
    });
  }

  async function remove(req: { id?: unknown }) {
    const id = parseEntryId('id', req.id);
    return writes.run(async () => {
      const entry = await entries.delete(id);
      log.info({ entryId: entry.id }, 'Entry deleted');
      await ctx.record([{ kind: 'entry.deleted', ...auditDetails(entry) }]);
      return {};
    });
  }

  async function get(req: { id?: unknown }) {
    const id = parseEntryId('id', req.id);
    const entry = await entries.get(id);
    if (entry === null) throw notFound(`entry ${JSON.stringify(id)} not found`);
    return { entry: entryToMessage(entry) };
  }

  async function list(req: RawEntryFilter) {
    const found = await entries.list(parseEntryFilter(req));
    return { entries: found.map(entryToMessage) };
  }

  async function count(req: RawEntryFilter) {
    return { count: await entries.count(parseEntryFilter(req)) };
  }

  return {
    BatchCreateEntry: unary(log, batchCreate),
    UpdateEntry: unary(log, update),
    DeleteEntry: unary(log, remove),
    GetEntry: unary(log, get),
    ListEntries: unary(log, list),
    CountEntries: unary(log, count),
  };
}
