/**
 * Start-up of the built server as a child process: what it does with the data dir it finds (an empty one is
 * initialised; a datastore that is not ours, or keys without a datastore, are refused and left alone), and the admin
 * socket in a shared directory under umask 000.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli, startServerProcess, until } from '../helpers/server-process.js';

const TD = 'example.org';
const root = mkdtempSync(join(tmpdir(), 'tessera-server-start-'));
chmodSync(root, 0o755); // another user must be able to reach the shared socket directory below it
afterAll(() => rmSync(root, { recursive: true, force: true }));

function config(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    trustDomain: TD,
    dataDir: './data',
    agentApi: { listen: '127.0.0.1:0' },
    http: { listen: '127.0.0.1:0' },
    nodeAttestors: { joinToken: { enabled: true } },
    ...extra,
  };
}

function caseDir(name: string): string {
  const d = join(root, name);
  mkdirSync(join(d, 'data'), { recursive: true });
  return d;
}

/** Runs `tessera server run` to its exit (it is expected to refuse to start). */
function runServer(dir: string): ReturnType<typeof runCli> {
  writeFileSync(join(dir, 'server.json'), JSON.stringify(config()));
  return runCli(['server', 'run', '--config', join(dir, 'server.json')], { cwd: dir });
}

describe('tessera server start-up: the data dir', () => {
  it('initialises an empty data dir, saying so at info, and restarts on what it created', async () => {
    const dir = caseDir('fresh');
    let server = await startServerProcess(dir, config());
    const init = server.logs.find((l) => typeof l['msg'] === 'string' && (l['msg'] as string).startsWith('Initialised an empty data dir'));
    expect(init).toMatchObject({ level: 'info', datastore: expect.stringMatching(/datastore\.sqlite3$/) });
    const bundle = runCli(['bundle', 'show', '--socket', server.adminSocket]).stdout;
    expect(await server.stop()).toBe(0);
    server = await startServerProcess(dir, config());
    try {
      expect(server.logs.some((l) => String(l['msg']).startsWith('Initialised'))).toBe(false);
      expect(runCli(['bundle', 'show', '--socket', server.adminSocket]).stdout).toBe(bundle);
    } finally {
      await server.stop();
    }
  });

  it.each([
    ['an empty (0-byte) datastore', (f: string) => writeFileSync(f, ''), 'is empty (0 bytes)'],
    ['a datastore that is not sqlite', (f: string) => writeFileSync(f, 'x'.repeat(200)), 'is not an sqlite database'],
  ])('refuses %s: exits 1 naming the file and what to do, writes nothing, creates no key', (_name, make, reason) => {
    const dir = caseDir(`bad-${reason.replace(/\W+/g, '-')}`);
    const file = join(dir, 'data', 'datastore.sqlite3');
    make(file);
    const before = readFileSync(file);
    const r = runServer(dir);
    expect(r.code).toBe(1);
    const line = r.stderr.trim().split('\n').at(-1)!;
    expect(line).toContain(JSON.stringify(file));
    expect(line).toContain(reason);
    expect(line).toContain('restore it from a backup');
    expect(readFileSync(file).equals(before)).toBe(true);
    expect(readdirSync(join(dir, 'data')).filter((n) => n !== 'server-id').sort()).toEqual(['datastore.sqlite3']);
  });

  it('refuses a data dir that holds private keys but no datastore, and creates none', async () => {
    const dir = caseDir('keys-only');
    const first = await startServerProcess(dir, config());
    expect(runCli(['healthcheck', '--socket', first.adminSocket]).code).toBe(0);
    await first.stop();
    expect(readdirSync(join(dir, 'data', 'keys')).some((n) => n.endsWith('.pem'))).toBe(true);
    rmSync(join(dir, 'data', 'datastore.sqlite3'));
    const r = runServer(dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/holds \d+ private key file\(s\) in keys\/ but no datastore/);
    expect(r.stderr).toContain('restore the datastore from a backup');
    expect(readdirSync(join(dir, 'data'))).not.toContain('datastore.sqlite3');
  });
});

describe('tessera server start-up: the admin socket in a shared directory under umask 000', () => {
  it('is never connectable by another user, not even while the server binds it, and ends up 0600', async () => {
    const dir = caseDir('shared-socket');
    const shared = join(dir, 'run');
    mkdirSync(shared);
    chmodSync(dir, 0o755);
    chmodSync(shared, 0o777);
    const socketPath = join(shared, 'admin.sock');

    // Another user (uid/gid 65534; we are root) connects to the socket path in a loop while the server starts.
    const attacker = spawn(
      'setpriv',
      [
        '--reuid=65534',
        '--regid=65534',
        '--clear-groups',
        process.execPath,
        '-e',
        `const net = require('node:net');
         const tally = {};
         const note = (k) => { tally[k] = (tally[k] ?? 0) + 1; if (k === 'EACCES' && tally[k] === 1) console.log('seen'); };
         const once = () => net.connect(${JSON.stringify(socketPath)})
           .on('connect', function () { note('connected'); this.destroy(); setImmediate(once); })
           .on('error', (e) => { note(e.code); setImmediate(once); });
         process.on('SIGTERM', () => { console.log(JSON.stringify(tally)); process.exit(0); });
         console.log('started');
         once();`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    attacker.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    await until('the other user to start connecting', () => (out.includes('started') ? true : undefined));

    const umask = process.umask(0o000); // inherited by the server process
    let server;
    try {
      server = await startServerProcess(dir, config({ admin: { socketPath } }));
    } finally {
      process.umask(umask);
    }
    try {
      // The loop saw the socket exist (refused by its mode) before we stop it.
      await until('the other user to reach the bound socket', () => (out.includes('seen') ? true : undefined));
      const exited = new Promise((resolve) => attacker.once('exit', resolve));
      attacker.kill('SIGTERM');
      await exited;
      const tally = JSON.parse(out.trim().split('\n').at(-1)!) as Record<string, number>;
      expect(tally['connected'] ?? 0).toBe(0);
      expect(tally['EACCES']).toBeGreaterThan(0);

      const st = statSync(socketPath);
      expect(st.isSocket()).toBe(true);
      expect(st.mode & 0o777).toBe(0o600);
      expect(readdirSync(shared)).toEqual(['admin.sock']);
      expect(runCli(['healthcheck', '--socket', socketPath]).code).toBe(0);
    } finally {
      attacker.kill('SIGKILL');
      await server.stop();
    }
  });
});
