/**
 * Shared by the Workload API client interop tests (java-spiffe, py-spiffe): the built server and agent as child
 * processes in a temp dir, an entry for this test's uid (the client processes run as it), and our own checks of
 * what a client received (chain verified against the server's bundle, JWT-SVID validated against its JWT keys).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SpiffeBundle } from '../../src/spiffe/bundle/index.js';
import { parseAndValidateJwtSvid } from '../../src/spiffe/jwtsvid/index.js';
import { verifyX509Svid } from '../../src/spiffe/x509svid/index.js';
import {
  cliJson,
  runCli,
  startJoinedAgent,
  startServerProcess,
  type ServerProcess,
  type TesseraProcess,
} from '../helpers/server-process.js';

export const INTEROP_TD = 'example.org';

export interface InteropAgent {
  /** The agent's Workload API socket path. */
  readonly socket: string;
  /** The SPIFFE ID of the entry that selects this test's uid. */
  readonly spiffeId: string;
  readonly agent: TesseraProcess;
  /** The trust domain's bundle as the server's admin API gives it (not through the Workload API). */
  bundle(): SpiffeBundle;
  close(): Promise<void>;
}

export async function startInteropAgent(prefix: string, spiffeId: string): Promise<InteropAgent> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  let server: ServerProcess | undefined;
  let agent: TesseraProcess | undefined;
  try {
    server = await startServerProcess(dir, {
      trustDomain: INTEROP_TD,
      dataDir: './server',
      agentApi: { listen: '127.0.0.1:0' },
      http: { listen: '127.0.0.1:0' },
    });
    const joined = await startJoinedAgent(dir, server, INTEROP_TD);
    agent = joined.agent;
    cliJson(server.adminSocket, [
      'entry', 'create',
      '--parent-id', joined.agentId,
      '--spiffe-id', spiffeId,
      '--selector', `unix:uid:${process.getuid!()}`,
    ]);
    const adminSocket = server.adminSocket;
    const s = server;
    const a = agent;
    return {
      socket: joined.socket,
      spiffeId,
      agent: a,
      bundle() {
        const r = runCli(['bundle', 'show', '--format', 'spiffe', '--socket', adminSocket]);
        if (r.code !== 0) throw new Error(`tessera bundle show exited ${r.code}: ${r.stderr}`);
        return SpiffeBundle.parse(INTEROP_TD, r.stdout);
      },
      async close() {
        await a.stop();
        await s.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await agent?.stop();
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

/** Verifies a chain a client received (DER, leaf first) against `bundle`; returns the SVID's SPIFFE ID. */
export function verifyReceivedChain(chain: readonly Uint8Array[], bundle: SpiffeBundle): string {
  return verifyX509Svid(chain, bundle.x509Bundle, { now: new Date() }).spiffeId.toString();
}

/** Validates a JWT-SVID a client received against `bundle`'s JWT authorities; returns its subject. */
export async function validateReceivedJwt(token: string, bundle: SpiffeBundle, audience: string): Promise<string> {
  const svid = await parseAndValidateJwtSvid(token, bundle.jwtBundle, [audience], { now: new Date() });
  return svid.spiffeId.toString();
}
