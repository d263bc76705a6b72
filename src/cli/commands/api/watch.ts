import { integerFlag } from '../../admin-command.js';
import { apiCommand, type ApiCommandSpec } from '../../api-command.js';
import { CommandFailure, ExitCode } from '../../command.js';
import { formatUnixMs, withRelative } from '../../format.js';
import { WorkloadFailure, type X509SvidResponse } from '../../workload-messages.js';
import { iso, readX509Context } from './shared.js';

/** gRPC INVALID_ARGUMENT: go-spiffe stops a watch on it instead of retrying. */
const INVALID_ARGUMENT = 3;
/** go-spiffe's linear backoff: n × 1 s, at most 30 s, reset by the next message. */
const BACKOFF_STEP_MS = 1000;
const BACKOFF_MAX_MS = 30_000;

export const apiWatchSpec: ApiCommandSpec = {
  name: 'watch',
  path: 'api watch',
  summary: "watch this process's X509-SVID updates",
  description:
    'Streams FetchX509SVID and prints one line per update (time, SPIFFE IDs, serials, expiry); --output json prints\n' +
    'one JSON object per line. Runs until interrupted (SIGINT/SIGTERM, exit 0) or until --count updates arrived.\n' +
    'If the first connection fails it exits 1; once updates have arrived, a broken stream is reported on stderr\n' +
    'and re-opened with backoff (1 s, 2 s, ... up to 30 s), except when the Workload API refuses the request.',
  options: {
    count: { type: 'string', value: 'N', description: 'exit 0 after N updates' },
  },
  async run(ctx) {
    const count = integerFlag(ctx.flags, 'count', 1, 1_000_000);
    const stop = new AbortController();
    const onSignal = () => stop.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    let updates = 0;
    let failures = 0;
    const onMessage = (m: X509SvidResponse) => {
      if (stop.signal.aborted) return;
      let line: string;
      try {
        line = updateLine(m, updates + 1, ctx.output);
      } catch (err) {
        // As go-spiffe: a message that does not parse is reported and the stream kept for the next one.
        ctx.io.err(`tessera: watch: ${(err as Error).message.split('\n')[0]}\n`);
        return;
      }
      updates++;
      failures = 0;
      ctx.io.out(line);
      if (count !== undefined && updates >= count) stop.abort();
    };
    try {
      while (!stop.signal.aborted) {
        let reason: string;
        try {
          const how = await ctx.workload.watchX509Svid(onMessage, stop.signal);
          if (how === 'aborted') break;
          reason = 'the Workload API ended the stream';
          if (updates === 0) throw new CommandFailure(`${reason} before sending an update`);
        } catch (err) {
          if (!(err instanceof WorkloadFailure)) throw err;
          if (updates === 0 || err.code === INVALID_ARGUMENT) throw err;
          reason = err.message;
        }
        failures++;
        const delay = Math.min(failures * BACKOFF_STEP_MS, BACKOFF_MAX_MS);
        ctx.io.err(`tessera: watch: ${reason}; reconnecting in ${delay / 1000} s\n`);
        await sleep(delay, stop.signal);
      }
      return ExitCode.ok;
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  },
};

/** One update: `<time>  #<n>  <id> serial <hex> expires <time> (in 59m); ...`, or one JSON object. */
function updateLine(m: X509SvidResponse, n: number, output: 'text' | 'json'): string {
  const now = Date.now();
  const context = readX509Context(m);
  if (output === 'json') {
    return (
      JSON.stringify({
        time: formatUnixMs(now),
        update: n,
        svids: context.svids.map((s) => ({
          spiffeId: s.spiffeId,
          hint: s.hint,
          serial: s.serial,
          notBefore: iso(s.notBefore),
          notAfter: iso(s.notAfter),
        })),
        federatedTrustDomains: context.federated.map((b) => b.trustDomain.name),
      }) + '\n'
    );
  }
  const svids = context.svids
    .map((s) => `${s.spiffeId} serial ${s.serial} expires ${withRelative(s.notAfter.getTime() / 1000, now)}`)
    .join('; ');
  return `${formatUnixMs(now)}  #${n}  ${svids}\n`;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

export const apiWatchCommand = apiCommand(apiWatchSpec);
