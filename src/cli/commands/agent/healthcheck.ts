import { request } from 'node:http';
import { CommandFailure, ExitCode, UsageError, type Command } from '../../command.js';
import type { Io } from '../../io.js';
import { parseOptions } from '../../parse-options.js';

/** The agent's http.listen in deploy/agent.example.yaml. */
export const DEFAULT_AGENT_HTTP_ADDRESS = '127.0.0.1:8082';
const DEFAULT_TIMEOUT_MS = 10_000;
/** Enough for {"status":"not ready","reason":"..."}; a longer answer is cut, never buffered whole. */
const MAX_BODY_BYTES = 4096;
const MAX_REASON_CHARS = 200;

const HELP = `Usage: tessera agent healthcheck [options]

Asks this node's agent whether it is ready (GET /readyz on its http.listen address: agent SVID valid, synchronised
with the server, Workload API serving). Exits 0 when ready and 1 otherwise (also when nothing answers), with one line
saying which. With --shallow asks only whether the process is live (GET /healthz), for a liveness probe.

Options:
      --address <HOST:PORT>  the agent's http.listen address (default ${DEFAULT_AGENT_HTTP_ADDRESS})
      --shallow              liveness only: the agent process answers HTTP
  -o, --output <FORMAT>      text (default) or json
  -h, --help                 show this help
`;

/** Test seam: how long to wait for the agent's answer (default 10 s). */
export interface AgentHealthcheckEnv {
  readonly timeoutMs?: number;
}

export function agentHealthcheck(env: AgentHealthcheckEnv = {}): Command {
  const timeoutMs = env.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  return {
    name: 'healthcheck',
    summary: "check that this node's agent is ready (exit 0) or not (exit 1)",
    async run(args: readonly string[], io: Io): Promise<ExitCode> {
      const values = parseOptions(args, {
        address: { type: 'string' },
        shallow: { type: 'boolean' },
        output: { type: 'string', short: 'o' },
        help: { type: 'boolean', short: 'h' },
      });
      if (values['help'] === true) {
        io.out(HELP);
        return ExitCode.ok;
      }
      const output = values['output'] ?? 'text';
      if (output !== 'text' && output !== 'json') {
        throw new UsageError(`--output must be "text" or "json", not ${JSON.stringify(output)}`);
      }
      const address = parseAddress((values['address'] as string | undefined) ?? DEFAULT_AGENT_HTTP_ADDRESS);
      const shallow = values['shallow'] === true;
      const url = `http://${address}${shallow ? '/healthz' : '/readyz'}`;
      const answer = await get(url, timeoutMs);
      const check = shallow ? 'live' : 'ready';
      if (answer.status === 200) {
        if (output === 'json') io.out(JSON.stringify({ [check]: true, url }) + '\n');
        else io.out(`Agent is ${check} (${url}).\n`);
        return ExitCode.ok;
      }
      if (answer.status === 503 && !shallow) {
        const reason = notReadyReason(answer.body);
        if (output === 'json') {
          io.out(JSON.stringify({ ready: false, url, reason }) + '\n');
          return ExitCode.failure;
        }
        throw new CommandFailure(`agent at ${address} is not ready: ${reason}`, { status: 'UNAVAILABLE' });
      }
      throw new CommandFailure(
        `${url} answered HTTP ${answer.status}, not 200 (is ${address} the agent's http.listen address?)`,
        { status: 'UNAVAILABLE' },
      );
    },
  };
}

export const agentHealthcheckCommand = agentHealthcheck();

function parseAddress(value: string): string {
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port < 1 || port > 65535) {
    throw new UsageError(
      `--address must be "host:port" with a port from 1 to 65535 (e.g. "${DEFAULT_AGENT_HTTP_ADDRESS}"), ` +
        `not ${JSON.stringify(value)}`,
    );
  }
  return value;
}

/** The reason of a /readyz 503 body, as one short line (the agent's own words, bounded). */
function notReadyReason(body: string): string {
  let reason: unknown;
  try {
    reason = (JSON.parse(body) as { reason?: unknown }).reason;
  } catch {
    reason = undefined;
  }
  const text = typeof reason === 'string' && reason !== '' ? reason : 'no reason given';
  const line = text.split('\n')[0]!;
  return line.length > MAX_REASON_CHARS ? line.slice(0, MAX_REASON_CHARS) + '…' : line;
}

function get(url: string, timeoutMs: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'GET', timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        if (size >= MAX_BODY_BYTES) return;
        chunks.push(chunk);
        size += chunk.length;
      });
      res.on('end', () => {
        const body = Buffer.concat(chunks).subarray(0, MAX_BODY_BYTES).toString('utf8');
        resolve({ status: res.statusCode ?? 0, body });
      });
      res.on('error', (err) => reject(unreachable(url, err)));
    });
    req.on('timeout', () => {
      req.destroy();
      const message = `the agent did not answer ${url} within ${timeoutMs / 1000} s`;
      reject(new CommandFailure(message, { status: 'DEADLINE_EXCEEDED' }));
    });
    req.on('error', (err) => reject(unreachable(url, err)));
    req.end();
  });
}

function unreachable(url: string, err: NodeJS.ErrnoException): CommandFailure {
  const reason =
    err.code === 'ECONNREFUSED'
      ? 'connection refused (is the agent running, and is this its http.listen address?)'
      : (err.code ?? err.message.split('\n')[0]!);
  return new CommandFailure(`cannot reach the agent at ${url}: ${reason}`, { status: 'UNAVAILABLE' });
}
