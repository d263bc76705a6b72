/**
 * examples/mtls/peer.mjs against a real server and agent (built dist/, child processes): it authenticates the other
 * side by SPIFFE ID, refuses a peer outside its allowed prefix on either side, and rejects bad invocations clearly.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../agent/harness.js';
import { cliJson, startJoinedAgent, startServerProcess, type ServerProcess, type TesseraProcess } from '../helpers/server-process.js';

const PEER = fileURLToPath(new URL('../../examples/mtls/peer.mjs', import.meta.url));
const TD = 'example.org';
const d = tempDir('tessera-mtls-');
let server: ServerProcess;
let agent: TesseraProcess;
let endpoint: string;

beforeAll(async () => {
  server = await startServerProcess(d.path, { trustDomain: TD, dataDir: './server', agentApi: { listen: '127.0.0.1:0' }, http: { listen: '127.0.0.1:0' } });
  const joined = await startJoinedAgent(d.path, server, TD);
  agent = joined.agent;
  endpoint = `unix://${joined.socket}`;
  cliJson(server.adminSocket, ['entry', 'create', '--parent-id', joined.agentId, '--spiffe-id', `spiffe://${TD}/svc/{instance}`, '--selector', `unix:uid:${process.getuid!()}`]);
}, 60_000);
afterAll(async () => {
  await agent?.stop();
  await server?.stop();
  d.remove();
});

interface Peer {
  readonly lines: string[];
  readonly done: Promise<{ code: number | null; stdout: string; stderr: string }>;
  /** Resolves with the first output line matching `re`; rejects if the process ends first. */
  line(re: RegExp): Promise<RegExpExecArray>;
}

const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

function peer(args: string[], env: NodeJS.ProcessEnv = { SPIFFE_ENDPOINT_SOCKET: endpoint }): Peer {
  const child = spawn(process.execPath, [PEER, ...args], { env: { PATH: process.env['PATH'], ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  const events = new EventEmitter();
  const lines: string[] = [];
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => {
    stdout += c.toString('utf8');
    lines.push(...c.toString('utf8').split('\n').filter(Boolean));
    events.emit('line');
  });
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.once('close', (code) => {
      events.emit('line');
      resolve({ code, stdout, stderr });
    }),
  );
  const line = (re: RegExp) =>
    new Promise<RegExpExecArray>((resolve, reject) => {
      const check = () => {
        for (const l of lines) {
          const m = re.exec(l);
          if (m) return resolve(m);
        }
        if (child.exitCode !== null || child.signalCode !== null) reject(new Error(`peer ended without ${re}: ${stderr}`));
        else events.once('line', check);
      };
      check();
    });
  return { lines, done, line };
}

const listening = async (p: Peer) => Number((await p.line(/listening on 127\.0\.0\.1:(\d+)/))[1]);

describe('examples/mtls/peer.mjs', () => {
  it('two processes each present their own SVID and see the other\'s SPIFFE ID', async () => {
    const s = peer(['serve', '--allow', `spiffe://${TD}/svc/`]);
    const c = peer(['connect', '--allow', `spiffe://${TD}/svc/`, '--port', String(await listening(s))]);
    const [sr, cr] = await Promise.all([s.done, c.done]);
    expect(sr.code, sr.stderr).toBe(0);
    expect(cr.code, cr.stderr).toBe(0);
    const self = /I am (spiffe:\/\/example\.org\/svc\/[0-9a-f]+); the client is (\S+)$/m.exec(sr.stdout)!;
    const other = /I am (spiffe:\/\/example\.org\/svc\/[0-9a-f]+); the server is (\S+)$/m.exec(cr.stdout)!;
    expect(self[1]).not.toBe(other[1]);
    expect(self[2]).toBe(other[1]);
    expect(other[2]).toBe(self[1]);
  });

  it('the client refuses a server outside its allowed prefix', async () => {
    const s = peer(['serve', '--allow', `spiffe://${TD}/svc/`]);
    const c = peer(['connect', '--allow', `spiffe://${TD}/other/`, '--port', String(await listening(s))]);
    const cr = await c.done;
    expect(cr.code).toBe(1);
    expect(cr.stderr).toMatch(/peer "spiffe:\/\/example\.org\/svc\/[0-9a-f]+" is not under "spiffe:\/\/example\.org\/other\/"/);
    expect(cr.stdout).not.toMatch(/the server said/);
    expect(s.lines.join('\n')).not.toMatch(/the client is/);
  });

  it('the server refuses a client outside its allowed prefix', async () => {
    const s = peer(['serve', '--allow', `spiffe://${TD}/other/`]);
    const c = peer(['connect', '--allow', `spiffe://${TD}/svc/`, '--port', String(await listening(s))]);
    await s.line(/^serve: refused a client: peer "spiffe:\/\/example\.org\/svc\/[0-9a-f]+" is not under "spiffe:\/\/example\.org\/other\/"$/);
    const cr = await c.done;
    expect(cr.code).toBe(1);
    expect(cr.stderr).toMatch(/closed the connection without a reply/);
    expect(s.lines.join('\n')).not.toMatch(/the client is/);
  });

  it.each([
    ['no endpoint', ['serve', '--allow', 'spiffe://example.org/'], {}, /set SPIFFE_ENDPOINT_SOCKET/],
    ['no --allow', ['serve'], undefined, /--allow <SPIFFE ID prefix> is required/],
    ['unknown role', ['listen', '--allow', 'spiffe://example.org/'], undefined, /usage: peer\.mjs serve\|connect/],
  ])('%s: exits 1 saying what to fix', async (_name, args, env, expected) => {
    const r = await peer(args, env ?? { SPIFFE_ENDPOINT_SOCKET: endpoint }).done;
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(expected);
  });
});
