import type * as grpc from '@grpc/grpc-js';
import type { AuditEventMessage } from '../../../common/grpc/messages.js';
import { invalidArgument } from '../../../common/errors.js';
import { AUDIT_DEFAULT_LIMIT, AUDIT_MAX_LIMIT, type AuditQuery } from '../../datastore/index.js';
import { parseIdFilter } from '../../entries/validate.js';
import type { AdminContext } from './config.js';
import { auditEventToMessage } from './messages.js';
import { unary } from './unary.js';

const MAX_INSTANCE_ID_LENGTH = 256;
/** A page of ListAuditEvents holds events up to about this many bytes (the CLI's gRPC limit is 4 MiB). */
export const AUDIT_PAGE_MAX_BYTES = 1024 * 1024;
/** Stored details larger than this are left out of listings (only their size is returned). */
export const AUDIT_LIST_MAX_DETAILS_BYTES = 64 * 1024;
/** Events read from the datastore at a time while a page fills (bounds the server's memory per call). */
const READ_CHUNK = 256;
/** Fixed per-event allowance for field tags, numbers and lengths on top of the string bytes. */
const EVENT_OVERHEAD_BYTES = 64;

interface ListRequest {
  since_ms?: unknown;
  spiffe_id?: unknown;
  instance_id?: unknown;
  limit?: unknown;
  page_token?: unknown;
}

/**
 * tessera.admin.v1.AuditService: the audit trail, oldest first, filtered, in pages cut at `limit` events or
 * AUDIT_PAGE_MAX_BYTES, whichever comes first; `next_page_token` (the last id returned) says more events match.
 * Events are read in chunks and oversized details stay in the datastore, so one call's memory is bounded whatever the
 * trail holds.
 */
export function auditService(ctx: AdminContext): grpc.UntypedServiceImplementation {
  return {
    ListAuditEvents: unary(ctx.log, async (req: ListRequest) => {
      const { query, limit } = parseRequest(req);
      const events: AuditEventMessage[] = [];
      let bytes = 0;
      let more = false;
      let afterId = query.afterId;
      reading: while (events.length < limit) {
        const want = Math.min(READ_CHUNK, limit - events.length + 1); // one extra row tells whether more exist
        const chunk = await ctx.audit.list({
          ...query,
          ...(afterId !== undefined && { afterId }),
          limit: want,
          maxDetailsBytes: AUDIT_LIST_MAX_DETAILS_BYTES,
        });
        for (const event of chunk) {
          const message = auditEventToMessage(event);
          const size = messageBytes(message);
          if (events.length === limit || (events.length > 0 && bytes + size > AUDIT_PAGE_MAX_BYTES)) {
            more = true;
            break reading;
          }
          events.push(message);
          bytes += size;
          afterId = event.id;
        }
        if (chunk.length < want) break;
      }
      return { events, next_page_token: more ? String(events[events.length - 1]!.id) : '' };
    }),
  };
}

function parseRequest(req: ListRequest): { query: AuditQuery; limit: number } {
  const since = req.since_ms ?? 0;
  if (typeof since !== 'number' || !Number.isSafeInteger(since) || since < 0) {
    throw invalidArgument(`since_ms ${JSON.stringify(since)} must be Unix milliseconds (0 = from the start)`);
  }
  const limit = req.limit ?? 0;
  if (typeof limit !== 'number' || !Number.isSafeInteger(limit) || limit < 0 || limit > AUDIT_MAX_LIMIT) {
    throw invalidArgument(
      `limit ${JSON.stringify(limit)} is out of range; use 1 to ${AUDIT_MAX_LIMIT} (0 means ${AUDIT_DEFAULT_LIMIT})`,
    );
  }
  const spiffeId = parseIdFilter('spiffe_id', req.spiffe_id);
  const instance = req.instance_id ?? '';
  if (typeof instance !== 'string' || instance.length > MAX_INSTANCE_ID_LENGTH) {
    throw invalidArgument(`instance_id must be a string of at most ${MAX_INSTANCE_ID_LENGTH} characters`);
  }
  const token = req.page_token ?? '';
  if (typeof token !== 'string' || (token !== '' && !(/^[1-9][0-9]{0,15}$/.test(token) && Number.isSafeInteger(Number(token))))) {
    throw invalidArgument(`page_token ${JSON.stringify(token)} is not a token from a previous response`);
  }
  const query: AuditQuery = {
    ...(since > 0 ? { sinceMs: since } : {}),
    ...(spiffeId !== undefined ? { spiffeId } : {}),
    ...(instance !== '' ? { instanceId: instance } : {}),
    ...(token !== '' ? { afterId: Number(token) } : {}),
  };
  return { query, limit: limit === 0 ? AUDIT_DEFAULT_LIMIT : limit };
}

/** Upper estimate of the event's encoded size: its strings' UTF-8 bytes plus a fixed allowance. */
function messageBytes(m: AuditEventMessage): number {
  let n = EVENT_OVERHEAD_BYTES;
  for (const v of [m.kind, m.spiffe_id, m.entry_id, m.agent_id, m.instance_id, m.serial, m.jti, m.details]) {
    n += Buffer.byteLength(v, 'utf8');
  }
  return n;
}
