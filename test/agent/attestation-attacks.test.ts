/**
 * Issue 10's attestation attacks, reproduced against a real server and agent (in-process, its Workload API on a
 * real Unix socket) with real processes, and shown not to get through:
 * 1. exec race: a process connects, forks a child that keeps the socket, then execs a binary that has an identity;
 * 2. `unix:path` spoofed with an unprivileged user + mount namespace (a bind mount over /usr/bin/sleep);
 * 9. hashing huge binaries for callers that no `unix:sha256` entry could match.
 * Clients are fixtures/fetch-x509.cjs (gRPC by hand over node:http2, so it can use an inherited socket).
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, readFileSync, realpathSync, truncateSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBinaryHasher, createWorkloadAttestor } from '../../src/agent/workloadattestor/index.js';
import { agentConfig, eventually, startTestAgent, startTestServer, tempDir, type TestAgent, type TestServer } from './harness.js';

const CLIENT = resolve('test/agent/fixtures/fetch-x509.cjs');
const NODE = realpathSync(process.execPath);
const PERMISSION_DENIED = 7;

interface CallResult {
  readonly call: string;
  readonly status: number;
  readonly message: string;
  readonly bytes: number;
}

/** Runs `argv`, resolves with the JSON lines it (or any process that inherited its stdout) printed. */
function run(argv: readonly string[]): Promise<CallResult[]> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.once('error', reject);
    // stdout ends when every holder closed it (the forked client included).
    child.stdout.once('end', () => {
      const lines = out.split('\n').filter((l) => l.startsWith('{'));
      if (lines.length === 0) reject(new Error(`no result from ${argv.join(' ')}: ${err}`));
      else resolvePromise(lines.map((l) => JSON.parse(l) as CallResult));
      child.kill('SIGKILL');
    });
  });
}

/** A copy of node at its own path (an own unix:path and inode), sized `size` bytes when given (sparse zeros). */
function nodeCopy(dir: string, name: string, size?: number): string {
  const path = join(dir, name);
  copyFileSync(NODE, path);
  chmodSync(path, 0o755);
  if (size !== undefined) truncateSync(path, size);
  return path;
}

const sha256Of = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');

describe('workload attestation attacks (real server, real agent, real processes)', () => {
  let server: TestServer;
  let a: TestAgent;
  let agentId: string;
  const dir = tempDir('tessera-attacks-');
  const hasher = createBinaryHasher({ maxBytes: 512 * 1024 * 1024 });

  const addEntry = async (spiffeId: string, selectors: string[]): Promise<void> => {
    const entry = await server.createEntry({
      spiffeId,
      parentId: agentId,
      selectors: selectors.map((s) => {
        const i = s.indexOf(':');
        return { type: s.slice(0, i), value: s.slice(i + 1) };
      }),
    });
    await eventually(() => a.agent.provider.entries.some((e) => e.id === entry.id), 5_000, 'entry synced');
  };

  beforeAll(async () => {
    // Reachable by a workload running as nobody (the socket itself is 0777 in a 0755 directory).
    chmodSync(dir.path, 0o755);
    server = await startTestServer();
    const { token } = await server.joinToken();
    a = await startTestAgent(await agentConfig(server, dir.path, { joinToken: { token } }), dir.path, {
      attestor: createWorkloadAttestor({ hasher }),
    });
    await a.agent.ready();
    agentId = a.agent.identity.svid!.spiffeId;
  });
  afterAll(async () => {
    await a.stop();
    await server.close();
    dir.remove();
  });

  describe('1. exec race: a child using the socket of a process that then exec\'d a binary with an identity', () => {
    let privileged: string;
    beforeAll(async () => {
      privileged = nodeCopy(dir.path, 'privileged');
      await addEntry('spiffe://example.org/privileged', [`unix:uid:${process.getuid!()}`, `unix:path:${privileged}`]);
    });

    // A (python) connects, forks C with the socket as fd 30 and a pipe as fd 31; C execs the client, which waits until
    // the agent has accepted the connection, signals A, and waits until A runs the privileged binary before calling.
    const attack = (callBefore: boolean): Promise<CallResult[]> => {
      const script = `
import os, socket, sys
path, node, client, priv, before = sys.argv[1:6]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(path)
r, w = os.pipe()
if os.fork() == 0:
    os.dup2(s.fileno(), 30)
    os.dup2(w, 31)
    args = [node, client, 'fd:30', '--signal-fd', '31', '--wait-pid', str(os.getppid()), '--wait-exe', priv]
    os.execv(node, args + (['--call-before'] if before == '1' else []))
os.close(w)
os.read(r, 1)
null = os.open('/dev/null', os.O_WRONLY)
os.dup2(null, 1)
os.execv(priv, [priv, '-e', 'setTimeout(() => {}, 30000)'])
`;
      return run(['python3', '-c', script, a.agent.socketPath, NODE, CLIENT, privileged, callBefore ? '1' : '0']);
    };

    it('serves the privileged binary its SVID on a connection of its own (the entry is live)', async () => {
      const [only] = await run([privileged, CLIENT, a.agent.socketPath]);
      expect(only).toMatchObject({ status: 0 });
      expect(only!.bytes).toBeGreaterThan(100);
    });

    it('refuses the child once the connector exec\'d, when the exec came before the first call', async () => {
      const results = await attack(false);
      expect(results).toHaveLength(1);
      expect(results[0]).toMatchObject({ call: 'after', status: PERMISSION_DENIED, bytes: 0 });
      expect(results[0]!.message).toMatch(/runs another binary than when it connected \(exec\)/);
    });

    it('refuses the child once the connector exec\'d, when the connection was already attested', async () => {
      const results = await attack(true);
      expect(results).toHaveLength(2);
      // First call: the connector (python) has no entry.
      expect(results[0]).toMatchObject({ call: 'before', status: PERMISSION_DENIED, message: 'no registration entry matches the caller' });
      expect(results[1]).toMatchObject({ call: 'after', status: PERMISSION_DENIED, bytes: 0 });
      expect(results[1]!.message).toMatch(/runs another binary than when it was attested \(exec\)/);
    });
  });

  describe('2. unix:path spoofed through an unprivileged user + mount namespace', () => {
    it('does not match an entry on unix:path:/usr/bin/sleep for node bind-mounted over /usr/bin/sleep', async () => {
      await addEntry('spiffe://example.org/sleep', ['unix:uid:65534', 'unix:path:/usr/bin/sleep']);
      // As an unprivileged user (nobody) would: own user + mount namespace, bind mount, exec; /proc/<pid>/exe reads /usr/bin/sleep.
      const script = 'mount --bind "$1" /usr/bin/sleep && exec /usr/bin/sleep -e "$2" "$3" "$4"';
      const probe = `console.log(JSON.stringify({ call: 'exe', status: 0, message: require('fs').readlinkSync('/proc/self/exe'), bytes: 0 })); require(process.argv[1])`;
      const results = await run([
        'setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--',
        'unshare', '-Urm', 'sh', '-c', script, 'sh', NODE, probe, CLIENT, a.agent.socketPath,
      ]);
      expect(results[0]).toMatchObject({ call: 'exe', message: '/usr/bin/sleep' });
      expect(results[1]).toMatchObject({ call: 'only', status: PERMISSION_DENIED, message: 'no registration entry matches the caller', bytes: 0 });
    });
  });

  describe('9. hashing the binaries of callers no unix:sha256 entry could match', () => {
    it('hashes nothing for a 4 GiB caller with no entry, skips it over the limit, and hashes a matching binary once', async () => {
      const huge = nodeCopy(dir.path, 'huge', 4 * 1024 * 1024 * 1024);
      const small = nodeCopy(dir.path, 'small');
      const before = hasher.stats();
      // No entry uses unix:sha256 yet: no hashing at all, whatever the size.
      expect((await run([huge, CLIENT, a.agent.socketPath]))[0]).toMatchObject({ status: PERMISSION_DENIED, bytes: 0 });
      expect(hasher.stats()).toEqual(before);

      // A sha256 entry for another binary: this caller cannot match it, still nothing read.
      await addEntry('spiffe://example.org/small', [`unix:uid:${process.getuid!()}`, `unix:path:${small}`, `unix:sha256:${sha256Of(small)}`]);
      expect((await run([huge, CLIENT, a.agent.socketPath]))[0]).toMatchObject({ status: PERMISSION_DENIED, bytes: 0 });
      expect(hasher.stats()).toEqual(before);

      // One it could match: over the limit (512 MiB here), so not read either, and no sha256 selector.
      await addEntry('spiffe://example.org/huge', [`unix:uid:${process.getuid!()}`, `unix:path:${huge}`, `unix:sha256:${'0'.repeat(64)}`]);
      expect((await run([huge, CLIENT, a.agent.socketPath]))[0]).toMatchObject({ status: PERMISSION_DENIED, bytes: 0 });
      expect(hasher.stats()).toMatchObject({ misses: before.misses, bytesHashed: before.bytesHashed, tooLarge: before.tooLarge + 1 });

      // The binary a sha256 entry names is hashed (once) and served.
      const served = (await run([small, CLIENT, a.agent.socketPath]))[0]!;
      expect(served).toMatchObject({ status: 0 });
      expect(served.bytes).toBeGreaterThan(100);
      expect(hasher.stats()).toMatchObject({ misses: before.misses + 1, bytesHashed: before.bytesHashed + readFileSync(small).length });
    });
  });
});
