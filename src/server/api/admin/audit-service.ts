import type * as grpc from '@grpc/grpc-js';
import { invalidArgument } from '../../../common/errors.js';
import { AUDIT_DEFAULT_LIMIT, AUDIT_MAX_LIMIT, type AuditQuery } from '../../datastore/index.js';
import { parseIdFilter } from '../../entries/validate.js';
import type { AdminContext } from './config.js';
import { auditEventToMessage } from './messages.js';
import { unary } from './unary.js';

const MAX_INSTANCE_ID_LENGTH = 256;

/** tessera.admin.v1.AuditService: the audit trail, oldest first, filtered. */
export function auditService(ctx: AdminContext): grpc.UntypedServiceImplementation {
  return {
    ListAuditEvents: unary(
      ctx.log,
      async (req: { since_ms?: unknown; spiffe_id?: unknown; instance_id?: unknown; limit?: unknown }) => {
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
        const query: AuditQuery = {
          limit: limit === 0 ? AUDIT_DEFAULT_LIMIT : limit,
          ...(since > 0 ? { sinceMs: since } : {}),
          ...(spiffeId !== undefined ? { spiffeId } : {}),
          ...(instance !== '' ? { instanceId: instance } : {}),
        };
        return { events: (await ctx.audit.list(query)).map(auditEventToMessage) };
      },
    ),
  };
}
