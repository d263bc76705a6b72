import { invalidArgument, permissionDenied } from '../../../common/errors.js';
import { unary } from './call.js';
import type { AgentApiContext } from './context.js';
import type { ReportWorkloadEventRequest, ReportWorkloadEventResponse } from './messages.js';

/** Audit kinds of the workload events agents report. */
export const WORKLOAD_EVENT_AUDIT_KINDS: Readonly<Record<string, string>> = {
  WORKLOAD_EVENT_KIND_ROLE_CONFLICT: 'workload.role_conflict',
};

const INSTANCE_ID = /^[0-9a-f]{32}$/;
const MAX_MESSAGE = 2048;
const MAX_ENTRIES = 100;

/**
 * ReportWorkloadEvent: an authenticated agent reports a decision it took about one of its workloads (architecture §5
 * rule 1: a role conflict refused). Every entry named must be one the agent may serve (PERMISSION_DENIED otherwise:
 * an agent cannot write about entries that are not its own). Appended to the audit trail with the agent, the instance
 * and the pid.
 */
export function reportWorkloadEventHandler(ctx: AgentApiContext) {
  return unary<ReportWorkloadEventRequest, ReportWorkloadEventResponse>(ctx.log, async (call) => {
    const caller = await ctx.authenticate(call);
    const req = call.request;
    const kind = WORKLOAD_EVENT_AUDIT_KINDS[req.kind];
    if (kind === undefined) throw invalidArgument(`kind ${JSON.stringify(req.kind)} is not a reportable workload event`);
    if (req.entry_ids.length === 0 || req.entry_ids.length > MAX_ENTRIES) {
      throw invalidArgument(`entry_ids must name 1 to ${MAX_ENTRIES} entries`);
    }
    if (req.instance_id !== '' && !INSTANCE_ID.test(req.instance_id)) {
      throw invalidArgument('instance_id must be 32 lowercase hexadecimal digits');
    }
    if (!Number.isInteger(req.pid) || req.pid < 0) throw invalidArgument('pid must not be negative');
    if (req.message.length > MAX_MESSAGE) throw invalidArgument(`message must be at most ${MAX_MESSAGE} characters`);
    const authorized = ctx.entries.authorizedFor(caller.agentId, caller.record.selectors);
    for (const id of req.entry_ids) {
      if (!authorized.byId.has(id)) throw permissionDenied(`entry ${JSON.stringify(id)} is not authorized for this agent`);
    }
    await ctx.record([
      {
        kind,
        agentId: caller.agentId,
        entryId: req.entry_ids[0]!,
        ...(req.instance_id !== '' && { instanceId: req.instance_id }),
        details: { entryIds: [...new Set(req.entry_ids)], pid: req.pid, message: req.message },
      },
    ]);
    return {};
  });
}
