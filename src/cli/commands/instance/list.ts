import * as grpc from '@grpc/grpc-js';
import { loadService } from '../../../common/grpc/protos.js';
import { AdminClient } from '../../admin-client.js';
import { resolveAdminSocket } from '../../admin-socket.js';
import { CommandFailure, ExitCode, UsageError, type Command } from '../../command.js';
import { formatUnixSeconds, plural, table } from '../../format.js';
import type { Io } from '../../io.js';
import { parseOptions } from '../../parse-options.js';

export const DEFAULT_AGENT_ADMIN_SOCKET = './.tessera/agent/admin.sock';
export const AGENT_ADMIN_SOCKET_ENV = 'TESSERA_AGENT_ADMIN_SOCKET';
const AGENT_ADMIN_PROTO = 'tessera/agentadmin/v1/instance.proto';
const AGENT_ADMIN_SERVICE = 'tessera.agentadmin.v1.InstanceService';
const DEADLINE_MS = 10_000;

/** One instance as this command prints it (both modes). */
export interface InstanceRow {
  instanceId: string;
  /** 0 when unknown (server mode: the server does not see pids). */
  pid: number;
  role: string;
  supervisorInstanceId: string;
  entryIds: string[];
  spiffeIds: string[];
  /** Unix seconds: the latest SVID expiry. */
  expiresAt: number;
}

interface InstanceMessage {
  instance_id: string;
  pid: number;
  role: string;
  supervisor_instance_id: string;
  svids: { entry_id: string; spiffe_id: string; serial: string; expires_at: number; supervisor_instance_id: string }[];
}

interface AuditEventMessage {
  kind: string;
  spiffe_id: string;
  entry_id: string;
  instance_id: string;
  expires_at: number;
  details: string;
}

const HELP = `Usage: tessera instance list [options]

List live workload instances: instance ID, pid, entries, SPIFFE IDs, role, supervisor instance, SVID expiry.
By default asks the local agent over its admin socket; with --server, derives them from the server's audit trail
(instances X509-SVIDs were issued to, with their latest expiry; pids are not known there).

Options:
  --socket PATH         admin socket of the agent (default $${AGENT_ADMIN_SOCKET_ENV} or ${DEFAULT_AGENT_ADMIN_SOCKET})
  --server              read the server's audit trail instead of the agent
  --server-socket PATH  admin socket of the server (default $TESSERA_ADMIN_SOCKET or ./.tessera/server/admin.sock)
  -o, --output FORMAT   text (default) or json
  -h, --help            show this help
`;

export const instanceListCommand: Command = {
  name: 'list',
  summary: 'list live workload instances and their SVIDs',
  async run(args: readonly string[], io: Io): Promise<ExitCode> {
    const values = parseOptions(args, {
      socket: { type: 'string' },
      server: { type: 'boolean' },
      'server-socket': { type: 'string' },
      output: { type: 'string', short: 'o' },
      help: { type: 'boolean', short: 'h' },
    });
    if (values['help'] === true) {
      io.out(HELP);
      return ExitCode.ok;
    }
    const output = (values['output'] as string | undefined) ?? 'text';
    if (output !== 'text' && output !== 'json') throw new UsageError(`--output must be "text" or "json", not ${JSON.stringify(output)}`);
    const server = values['server'] === true;
    if (server && values['socket'] !== undefined) throw new UsageError('--socket is the agent socket; with --server use --server-socket');
    if (!server && values['server-socket'] !== undefined) throw new UsageError('--server-socket needs --server');
    for (const name of ['socket', 'server-socket']) if (values[name] === '') throw new UsageError(`--${name} must not be empty`);

    const rows = server
      ? await fromServer(resolveAdminSocket(values['server-socket'] as string | undefined))
      : await fromAgent((values['socket'] as string | undefined) ?? process.env[AGENT_ADMIN_SOCKET_ENV] ?? DEFAULT_AGENT_ADMIN_SOCKET);
    if (output === 'json') {
      io.out(JSON.stringify({ instances: rows }, null, 2) + '\n');
      return ExitCode.ok;
    }
    if (rows.length === 0) {
      io.out('No live instances.\n');
      return ExitCode.ok;
    }
    io.out(
      table(
        ['INSTANCE', 'PID', 'ROLE', 'SPIFFE ID', 'ENTRY', 'SUPERVISOR', 'EXPIRES'],
        rows.map((r) => [
          r.instanceId,
          r.pid === 0 ? '-' : String(r.pid),
          r.role || '-',
          r.spiffeIds.join(', ') || '-',
          r.entryIds.join(', ') || '-',
          r.supervisorInstanceId || '-',
          r.expiresAt === 0 ? '-' : formatUnixSeconds(r.expiresAt),
        ]),
      ) + `\n${plural(rows.length, 'instance')}\n`,
    );
    return ExitCode.ok;
  },
};

async function fromAgent(socketPath: string): Promise<InstanceRow[]> {
  const { Client } = loadService(AGENT_ADMIN_PROTO, AGENT_ADMIN_SERVICE);
  const client = new Client(`unix://${socketPath}`, grpc.credentials.createInsecure(), { 'grpc.enable_retries': 0 });
  try {
    const res = await new Promise<{ instances: InstanceMessage[] }>((resolve, reject) => {
      (client as unknown as { ListInstances: (...a: unknown[]) => void }).ListInstances(
        {},
        { deadline: Date.now() + DEADLINE_MS },
        (err: grpc.ServiceError | null, r: { instances: InstanceMessage[] }) => (err ? reject(err) : resolve(r)),
      );
    });
    return res.instances.map((i) => ({
      instanceId: i.instance_id,
      pid: i.pid,
      role: i.role,
      supervisorInstanceId: i.supervisor_instance_id,
      entryIds: i.svids.map((s) => s.entry_id),
      spiffeIds: i.svids.map((s) => s.spiffe_id),
      expiresAt: Math.max(0, ...i.svids.map((s) => Number(s.expires_at))),
    }));
  } catch (err) {
    const e = err as grpc.ServiceError;
    const details = (e.details || e.message || '').split('\n')[0]!;
    const code = /\b(ENOENT|ECONNREFUSED|EACCES|EPERM)\b/.exec(details)?.[1];
    throw new CommandFailure(
      code
        ? `cannot reach the agent admin socket at ${socketPath}: ${code} (pass --socket or set ${AGENT_ADMIN_SOCKET_ENV})`
        : `the agent admin socket at ${socketPath} failed: ${details}`,
    );
  } finally {
    client.close();
  }
}

const AUDIT_EVENTS_READ = 10_000;

async function fromServer(socketPath: string): Promise<InstanceRow[]> {
  const admin = new AdminClient(socketPath);
  try {
    // The first 10 000 events, over as many size-cut pages as the server sends.
    const events: AuditEventMessage[] = [];
    let pageToken = '';
    do {
      const page = await admin.call<{ events: AuditEventMessage[]; next_page_token: string }>('AuditService', 'ListAuditEvents', {
        limit: AUDIT_EVENTS_READ - events.length,
        page_token: pageToken,
      });
      events.push(...page.events);
      pageToken = page.events.length > 0 ? page.next_page_token : '';
    } while (pageToken !== '' && events.length < AUDIT_EVENTS_READ);
    const nowS = Math.floor(Date.now() / 1000);
    const byInstance = new Map<string, InstanceRow>();
    for (const e of events) {
      if (e.kind !== 'x509_svid.issued' || e.instance_id === '') continue;
      let row = byInstance.get(e.instance_id);
      if (!row) {
        row = { instanceId: e.instance_id, pid: 0, role: '', supervisorInstanceId: '', entryIds: [], spiffeIds: [], expiresAt: 0 };
        byInstance.set(e.instance_id, row);
      }
      if (e.entry_id && !row.entryIds.includes(e.entry_id)) row.entryIds.push(e.entry_id);
      if (e.spiffe_id && !row.spiffeIds.includes(e.spiffe_id)) row.spiffeIds.push(e.spiffe_id);
      row.expiresAt = Math.max(row.expiresAt, Number(e.expires_at));
      const supervisor = supervisorOf(e.details);
      if (supervisor) row.supervisorInstanceId = supervisor;
    }
    // Live = holding an SVID that has not expired yet.
    return [...byInstance.values()].filter((r) => r.expiresAt > nowS);
  } finally {
    admin.close();
  }
}

function supervisorOf(details: string): string | undefined {
  if (details === '') return undefined;
  try {
    const v = (JSON.parse(details) as Record<string, unknown>)['supervisorInstanceId'];
    return typeof v === 'string' ? v : undefined;
  } catch {
    return undefined;
  }
}
