import * as grpc from '@grpc/grpc-js';
import { loadService } from '../../../common/grpc/protos.js';
import { CommandFailure, ExitCode, UsageError, type Command } from '../../command.js';
import { table } from '../../format.js';
import type { Io } from '../../io.js';
import { parseOptions } from '../../parse-options.js';
import { AGENT_ADMIN_SOCKET_ENV, DEFAULT_AGENT_ADMIN_SOCKET } from '../instance/list.js';

const AGENT_ADMIN_PROTO = 'tessera/agentadmin/v1/instance.proto';
const AGENT_ADMIN_SERVICE = 'tessera.agentadmin.v1.InstanceService';
const DEADLINE_MS = 10_000;
/** Entries that do not match shown by default (fewest missing selectors first); --all shows every one. */
const NO_MATCH_SHOWN = 20;

interface ExplanationMessage {
  pid: number;
  selectors: string[];
  instance_id: string;
  lineage_known: boolean;
  applies: string[];
  refusal: string;
  entries: {
    entry_id: string;
    spiffe_id: string;
    role: string;
    verdict: string;
    missing_selectors: string[];
    reason: string;
  }[];
}

const HELP = `Usage: tessera entry explain --pid PID [options]

Why a process gets the SVIDs it gets, or none: asks the local agent (its admin socket) to attest the process as it
is now, and prints its selectors and, for each entry the agent holds, whether it applies, which of its selectors the
process does not show, or which supervisor/worker rule refuses it. Changes nothing; run it as the agent's user.

Options:
  --pid PID             the process to explain (required)
  --all                 list every entry that does not match (default: the ${NO_MATCH_SHOWN} closest)
  --socket PATH         admin socket of the agent (default $${AGENT_ADMIN_SOCKET_ENV} or ${DEFAULT_AGENT_ADMIN_SOCKET})
  -o, --output FORMAT   text (default) or json
  -h, --help            show this help
`;

export const entryExplainCommand: Command = {
  name: 'explain',
  summary: "show a process's selectors and why each entry does or does not apply to it (agent admin socket)",
  async run(args: readonly string[], io: Io): Promise<ExitCode> {
    const values = parseOptions(args, {
      pid: { type: 'string' },
      all: { type: 'boolean' },
      socket: { type: 'string' },
      output: { type: 'string', short: 'o' },
      help: { type: 'boolean', short: 'h' },
    }) as { pid?: string; all?: boolean; socket?: string; output?: string; help?: boolean };
    if (values.help === true) {
      io.out(HELP);
      return ExitCode.ok;
    }
    const output = values.output ?? 'text';
    if (output !== 'text' && output !== 'json') throw new UsageError(`--output must be "text" or "json", not ${JSON.stringify(output)}`);
    const pidText = values.pid;
    if (pidText === undefined) throw new UsageError('--pid is required (the process to explain)');
    if (!/^[1-9][0-9]{0,6}$/.test(pidText)) {
      throw new UsageError(`--pid must be a process ID (a positive whole number), not ${JSON.stringify(pidText)}`);
    }
    const socket = values.socket ?? process.env[AGENT_ADMIN_SOCKET_ENV] ?? DEFAULT_AGENT_ADMIN_SOCKET;
    if (socket === '') throw new UsageError('--socket must not be empty');

    const e = await explain(socket, Number(pidText));
    if (output === 'json') {
      io.out(
        JSON.stringify(
          {
            pid: e.pid,
            selectors: e.selectors,
            instanceId: e.instance_id,
            lineageKnown: e.lineage_known,
            applies: e.applies,
            refusal: e.refusal,
            entries: e.entries.map((x) => ({
              entryId: x.entry_id,
              spiffeId: x.spiffe_id,
              role: x.role,
              verdict: x.verdict,
              missingSelectors: x.missing_selectors,
              reason: x.reason,
            })),
          },
          null,
          2,
        ) + '\n',
      );
      return ExitCode.ok;
    }
    io.out(text(e, values['all'] === true));
    return ExitCode.ok;
  },
};

function text(e: ExplanationMessage, all: boolean): string {
  const lines: string[] = [];
  lines.push(`Process ${e.pid}` + (e.instance_id ? ` (live instance ${e.instance_id})` : ' (no live instance)'));
  lines.push('Selectors:');
  for (const s of e.selectors) lines.push(`  ${s}`);
  if (!e.lineage_known) lines.push('Fork lineage: unknown (no supervisor entry can apply)');
  lines.push('');
  const shownNoMatch = all ? Infinity : NO_MATCH_SHOWN;
  let noMatch = 0;
  const rows: string[][] = [];
  for (const x of e.entries) {
    if (x.verdict === 'no_match' && ++noMatch > shownNoMatch) continue;
    const why = [
      ...(x.missing_selectors.length > 0 ? [`missing ${x.missing_selectors.join(', ')}`] : []),
      ...(x.reason ? [x.reason] : []),
    ].join('; ');
    rows.push([verdictText(x.verdict), x.entry_id, x.spiffe_id, x.role, why || '-']);
  }
  if (rows.length === 0) lines.push('The agent holds no entries.');
  else lines.push(table(['VERDICT', 'ENTRY', 'SPIFFE ID', 'ROLE', 'WHY'], rows));
  if (noMatch > shownNoMatch) lines.push(`… ${noMatch - shownNoMatch} more entries do not match (--all lists them)`);
  lines.push('');
  lines.push(e.applies.length > 0 ? `Served: ${e.applies.join(', ')}` : `Refused: ${e.refusal}`);
  return lines.join('\n') + '\n';
}

function verdictText(verdict: string): string {
  switch (verdict) {
    case 'applies':
      return 'APPLIES';
    case 'refused':
      return 'REFUSED';
    default:
      return 'NO MATCH';
  }
}

async function explain(socketPath: string, pid: number): Promise<ExplanationMessage> {
  const { Client } = loadService(AGENT_ADMIN_PROTO, AGENT_ADMIN_SERVICE);
  const client = new Client(`unix://${socketPath}`, grpc.credentials.createInsecure(), { 'grpc.enable_retries': 0 });
  try {
    return await new Promise<ExplanationMessage>((resolve, reject) => {
      (client as unknown as { ExplainProcess: (...a: unknown[]) => void }).ExplainProcess(
        { pid },
        { deadline: Date.now() + DEADLINE_MS },
        (err: grpc.ServiceError | null, r: ExplanationMessage) => (err ? reject(err) : resolve(r)),
      );
    });
  } catch (err) {
    const e = err as grpc.ServiceError;
    const details = (e.details || e.message || '').split('\n')[0]!;
    if (e.code === grpc.status.UNAVAILABLE || e.code === undefined) {
      const code = /\b(ENOENT|ECONNREFUSED|EACCES|EPERM)\b/.exec(details)?.[1];
      if (code) {
        throw new CommandFailure(
          `cannot reach the agent admin socket at ${socketPath}: ${code} (pass --socket or set ${AGENT_ADMIN_SOCKET_ENV})`,
        );
      }
    }
    if (e.code === grpc.status.UNIMPLEMENTED) {
      throw new CommandFailure(`the agent at ${socketPath} does not support explain (an older agent); upgrade it`);
    }
    throw new CommandFailure(details);
  } finally {
    client.close();
  }
}
