/**
 * `npm run demo` (scripts/demo.mjs, against the built dist/) end to end in a temporary directory: server, agent, the
 * CLI fetching SVIDs, then two separate workload processes (examples/mtls/peer.mjs) talking mutual TLS, each printing
 * its own per-instance SPIFFE ID and the one the other side presented; it ends with the next command to try.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { runProcess, type ProcessRun } from '../helpers/run-process.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'tessera-demo-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function runDemo(): Promise<ProcessRun> {
  return runProcess(process.execPath, [join(ROOT, 'scripts/demo.mjs'), '--dir', dir], { cwd: ROOT });
}

describe('npm run demo', () => {
  it('ends with two separate workload processes authenticating each other by SPIFFE ID over mTLS, and a next step', async () => {
    const r = await runDemo();
    const context = `stdout:\n${r.stdout}\nstderr:\n${r.stderr}`;
    expect(r.code, context).toBe(0);
    const id = 'spiffe://example\\.org/demo/workload/[0-9a-f]+';
    const serve = new RegExp(`^serve: I am (${id}); the client is (${id})$`, 'm').exec(r.stdout);
    const connect = new RegExp(`^connect: I am (${id}); the server is (${id})$`, 'm').exec(r.stdout);
    expect(serve, context).not.toBeNull();
    expect(connect, context).not.toBeNull();
    const [, server, clientSeenByServer] = serve!;
    const [, client, serverSeenByClient] = connect!;
    // Two processes, two instance identities, and each saw exactly the other's.
    expect(server).not.toBe(client);
    expect(clientSeenByServer).toBe(client);
    expect(serverSeenByClient).toBe(server);
    expect(r.stdout).toContain(`connect: the server said: hello ${client}, from ${server}`);
    expect(r.stdout).toMatch(/Next, try: node scripts\/demo\.mjs --keep/);
    // Server and agent were stopped, not left behind.
    expect(r.stdout).not.toContain('keep running');
  }, 180_000); // real processes on 2 shared cores: the block waits for events, bounded here
});
