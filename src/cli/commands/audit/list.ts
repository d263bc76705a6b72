import { adminCommand, integerFlag, type AdminCommandSpec, type Flags } from '../../admin-command.js';
import { auditEventJson, type AuditEventMessage } from '../../admin-messages.js';
import { ExitCode, UsageError } from '../../command.js';
import { formatUnixMs, plural, table } from '../../format.js';

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;
const DURATION = /^(\d+)(s|m|h|d)$/;
const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** `--since`: Unix milliseconds, an RFC 3339 time, or a duration back from now (30m, 2h, 7d). */
export function parseSince(text: string, nowMs = Date.now()): number {
  if (/^\d+$/.test(text) && Number.isSafeInteger(Number(text))) return Number(text);
  if (RFC3339.test(text)) {
    const ms = Date.parse(text);
    if (!Number.isNaN(ms)) return ms;
  }
  const d = DURATION.exec(text);
  if (d) return Math.max(0, nowMs - Number(d[1]) * UNIT_MS[d[2] as keyof typeof UNIT_MS]);
  throw new UsageError(
    `--since ${JSON.stringify(text)} must be Unix milliseconds, an RFC 3339 time (2026-01-02T15:04:05Z) or a duration (30m, 2h, 7d)`,
  );
}

function detail(e: AuditEventMessage): string {
  const parts: string[] = [];
  if (e.serial) parts.push(`serial=${e.serial}`);
  if (e.jti) parts.push(`jti=${e.jti}`);
  if (e.entry_id) parts.push(`entry=${e.entry_id}`);
  if (e.agent_id && e.spiffe_id && e.agent_id !== e.spiffe_id) parts.push(`agent=${e.agent_id}`);
  if (e.details_omitted_bytes) parts.push(`details=omitted(${e.details_omitted_bytes} bytes)`);
  return parts.join(' ');
}

export const auditListSpec: AdminCommandSpec = {
  name: 'list',
  path: 'audit list',
  summary: 'list audit events, oldest first, one page (at most --limit events and 1 MiB) at a time',
  options: {
    since: { type: 'string', value: 'TIME', description: 'from this time: Unix ms, RFC 3339, or a duration ago (2h)' },
    'spiffe-id': { type: 'string', value: 'ID', description: 'only events about this SPIFFE ID' },
    instance: { type: 'string', value: 'ID', description: 'only events of this workload instance' },
    limit: { type: 'string', value: 'N', description: 'at most N events (default 1000, at most 10000)' },
    'page-token': { type: 'string', value: 'TOKEN', description: 'continue a listing (the token it printed; same filters)' },
  },
  async run(ctx) {
    const request = auditRequest(ctx.flags);
    const { events, next_page_token: next } = await ctx.admin.call<{ events: AuditEventMessage[]; next_page_token: string }>(
      'AuditService',
      'ListAuditEvents',
      request,
    );
    if (ctx.output === 'json') {
      ctx.json({ events: events.map(auditEventJson), nextPageToken: next });
      return ExitCode.ok;
    }
    const more = next ? `more events match: add --page-token ${next} (with the same filters) for the next page\n` : '';
    if (events.length === 0) {
      ctx.io.out('No audit events found.\n' + more);
      return ExitCode.ok;
    }
    ctx.io.out(
      table(
        ['TIME', 'KIND', 'SPIFFE ID', 'INSTANCE', 'DETAILS'],
        events.map((e) => [formatUnixMs(e.at_ms), e.kind, e.spiffe_id || e.agent_id || '-', e.instance_id || '-', detail(e)]),
      ) + `\n${plural(events.length, 'event')}\n${more}`,
    );
    return ExitCode.ok;
  },
};

function auditRequest(flags: Flags) {
  const since = flags.string('since');
  const spiffeId = flags.string('spiffe-id');
  const instance = flags.string('instance');
  const limit = integerFlag(flags, 'limit', 1, 10_000);
  const pageToken = flags.string('page-token');
  return {
    ...(pageToken !== undefined ? { page_token: pageToken } : {}),
    ...(since !== undefined ? { since_ms: parseSince(since) } : {}),
    ...(spiffeId !== undefined ? { spiffe_id: spiffeId } : {}),
    ...(instance !== undefined ? { instance_id: instance } : {}),
    ...(limit !== undefined ? { limit } : {}),
  };
}

export const auditListCommand = adminCommand(auditListSpec);
