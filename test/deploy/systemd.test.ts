/**
 * deploy/systemd: both units pass `systemd-analyze verify` (a copy with `tessera` resolved to this machine's node,
 * since the units name the installed /usr/local/bin/tessera), carry the sandboxing the README promises, agree with
 * the configs shipped next to them, and their readiness checks (ExecStartPost) really pass against a running server
 * and agent built from those configs — and really fail when nothing answers.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { parseAgentConfig } from '../../src/agent/config.js';
import { parseServerConfig } from '../../src/server/config.js';
import { CLI, cliJson, runCli, startServerProcess, startTesseraProcess } from '../helpers/server-process.js';

const SYSTEMD_DIR = fileURLToPath(new URL('../../deploy/systemd/', import.meta.url));
const SYSTEMD_ANALYZE = '/usr/bin/systemd-analyze';
/** Where the units expect the installed binary (`npm install --global`). */
const INSTALLED_TESSERA = '/usr/local/bin/tessera';

const scratch = await mkdtemp(join(tmpdir(), 'tessera-systemd-'));
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

const unitText = (name: string) => readFileSync(join(SYSTEMD_DIR, name), 'utf8');

/** `Key=Value` lines of one section, every value of a repeated key in order. */
function section(text: string, name: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let current = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      current = header[1]!;
      continue;
    }
    const eq = line.indexOf('=');
    if (current !== name || eq < 0) continue;
    const key = line.slice(0, eq);
    out.set(key, [...(out.get(key) ?? []), line.slice(eq + 1)]);
  }
  return out;
}
const one = (s: Map<string, string[]>, key: string): string | undefined => s.get(key)?.at(-1);

/** Writes `units` (file name → text) with the installed binary resolved, and runs `systemd-analyze verify` on them. */
async function verify(dirName: string, units: Record<string, string>) {
  const dir = join(scratch, dirName);
  await mkdir(dir, { recursive: true });
  const paths: string[] = [];
  for (const [name, text] of Object.entries(units)) {
    const path = join(dir, name);
    await writeFile(path, text.replaceAll(INSTALLED_TESSERA, process.execPath));
    paths.push(path);
  }
  const r = spawnSync(SYSTEMD_ANALYZE, ['verify', '--man=no', ...paths], { encoding: 'utf8', timeout: 60_000 });
  if (r.error) throw r.error;
  // verify exits 0 on unknown keys and unparsable values (it only warns), so any output is a failure too.
  return { ok: r.status === 0 && `${r.stdout}${r.stderr}`.trim() === '', output: `${r.stdout}${r.stderr}` };
}

const UNITS = ['tessera-server.service', 'tessera-agent.service'] as const;

describe('systemd-analyze verify', () => {
  it('is installed', () => {
    expect(existsSync(SYSTEMD_ANALYZE), `${SYSTEMD_ANALYZE} is missing (apt-get install systemd)`).toBe(true);
  });

  it('passes both units without a warning', async () => {
    const r = await verify('good', Object.fromEntries(UNITS.map((u) => [u, unitText(u)])));
    expect(r.output).toBe('');
    expect(r.ok).toBe(true);
  });

  const broken: [string, string | RegExp, string, RegExp][] = [
    ['a misspelt key', /^ProtectSystem=strict$/m, 'ProtectSystm=strict', /Unknown key 'ProtectSystm'/],
    ['a bad value', /^Restart=on-failure$/m, 'Restart=sometimes', /Failed to parse service restart specifier, ignoring: sometimes/],
    ['a bad boolean', /^NoNewPrivileges=yes$/m, 'NoNewPrivileges=maybe', /Failed to parse boolean value, ignoring: maybe/],
    ['a missing binary', /^ExecStart=\/usr\/local\/bin\/tessera/m, 'ExecStart=/nonexistent/tessera', /not executable/],
    ['a misspelt section', /^\[Service\]$/m, '[Servce]', /Servce/],
  ];
  it.each(broken)('refuses a unit with %s', async (name, from, to, message) => {
    const text = unitText('tessera-server.service');
    const changed = text.replace(from, to);
    expect(changed).not.toBe(text);
    const r = await verify(name.replaceAll(' ', '-'), { 'tessera-server.service': changed });
    expect(r.ok).toBe(false);
    expect(r.output).toMatch(message);
  });
});

describe('sandboxing and lifecycle', () => {
  it.each(UNITS)('%s: read-only system, no new privileges, restart on failure, socket dir, state dir', (unit) => {
    const s = section(unitText(unit), 'Service');
    const noun = unit === 'tessera-server.service' ? 'server' : 'agent';
    expect(one(s, 'ProtectSystem')).toBe('strict');
    expect(one(s, 'NoNewPrivileges')).toBe('yes');
    expect(one(s, 'PrivateTmp')).toBe('yes');
    expect(one(s, 'Restart')).toBe('on-failure');
    expect(one(s, 'RuntimeDirectory')).toBe(`tessera/${noun}`);
    expect(one(s, 'StateDirectory')).toBe(`tessera/${noun}`);
    expect(one(s, 'ReadWritePaths')?.split(' ').sort()).toEqual([`/run/tessera/${noun}`, `/var/lib/tessera/${noun}`]);
    expect(one(s, 'ExecStart')).toBe(`${INSTALLED_TESSERA} ${noun} run --config /etc/tessera/${noun}.yaml`);
    expect(s.get('ExecStartPost')).toHaveLength(1);
    // V8's JIT needs writable-executable memory: this option would kill the process at start.
    expect(s.has('MemoryDenyWriteExecute')).toBe(false);
  });

  it('runs the server as its own user without any capability', () => {
    const s = section(unitText('tessera-server.service'), 'Service');
    expect(one(s, 'User')).toBe('tessera');
    expect(one(s, 'CapabilityBoundingSet')).toBe('');
    expect(one(s, 'RuntimeDirectoryMode')).toBe('0700');
    expect(readFileSync(join(SYSTEMD_DIR, 'tessera.sysusers.conf'), 'utf8')).toMatch(/^u tessera - /m);
  });

  it('gives the agent exactly the capabilities attestation needs, and lets it see every process', () => {
    const s = section(unitText('tessera-agent.service'), 'Service');
    expect(one(s, 'User')).toBe('root');
    expect(one(s, 'CapabilityBoundingSet')?.split(' ').sort()).toEqual([
      'CAP_DAC_READ_SEARCH',
      'CAP_NET_ADMIN',
      'CAP_SYS_PTRACE',
    ]);
    expect(one(s, 'RestrictAddressFamilies')?.split(' ')).toContain('AF_NETLINK');
    for (const hidesProcesses of ['ProtectProc', 'ProcSubset', 'PrivateUsers']) expect(s.has(hidesProcesses)).toBe(false);
    // Workloads of every user must reach the socket (identity comes from attestation, not permissions).
    expect(one(s, 'RuntimeDirectoryMode')).toBe('0755');
  });
});

/** deploy/systemd/<noun>.yaml with the unit's directories moved into `dir` and listeners on free ports. */
function localConfig(noun: 'server' | 'agent', dir: string): Record<string, any> {
  const text = readFileSync(join(SYSTEMD_DIR, `${noun}.yaml`), 'utf8')
    .replaceAll(`/var/lib/tessera/${noun}`, join(dir, 'state'))
    .replaceAll(`/run/tessera/${noun}`, join(dir, 'run'));
  return parseYaml(text) as Record<string, any>;
}

/** The unit's ExecStartPost, with the installed binary and the unit's paths replaced, run by /bin/sh. */
function runReadinessCheck(unit: string, replace: [string | RegExp, string][]) {
  // systemd turns `$$` into `$` before running the command.
  let cmd = one(section(unitText(unit), 'Service'), 'ExecStartPost')!.replaceAll('$$', '$');
  const binary: [string, string][] = cmd.includes(INSTALLED_TESSERA) ? [[INSTALLED_TESSERA, `${process.execPath} ${CLI}`]] : [];
  for (const [from, to] of [...binary, ...replace]) {
    const next = cmd.replace(from, to);
    expect(next, `ExecStartPost of ${unit} has no ${String(from)}`).not.toBe(cmd);
    cmd = next;
  }
  // systemd runs the argv itself; the server's is `/bin/sh -c '…'`, which a shell runs the same way.
  const r = spawnSync('/bin/sh', ['-c', cmd], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, output: `${r.stdout}${r.stderr}` };
}

describe('the shipped configs and readiness checks', () => {
  it('the configs pass validation and use the units directories', () => {
    const server = parseServerConfig(parseYaml(readFileSync(join(SYSTEMD_DIR, 'server.yaml'), 'utf8')), '/etc/tessera');
    expect(server.dataDir).toBe('/var/lib/tessera/server');
    expect(posix.dirname(server.adminSocketPath)).toBe('/run/tessera/server');
    const agent = parseAgentConfig(parseYaml(readFileSync(join(SYSTEMD_DIR, 'agent.yaml'), 'utf8')), '/etc/tessera');
    expect(agent.dataDir).toBe('/var/lib/tessera/agent');
    expect(posix.dirname(agent.socketPath)).toBe('/run/tessera/agent');
    const serverPost = one(section(unitText('tessera-server.service'), 'Service'), 'ExecStartPost')!;
    expect(serverPost).toContain(`--socket ${server.adminSocketPath}`);
    const agentPost = one(section(unitText('tessera-agent.service'), 'Service'), 'ExecStartPost')!;
    expect(agentPost).toContain(`http://${agent.httpListen}/readyz`);
  });

  it('pass against a server and an agent started from the shipped configs, and fail once they are gone', async () => {
    const dir = await mkdtemp(join(scratch, 'run-'));
    const serverCfg = localConfig('server', join(dir, 'server'));
    serverCfg['agentApi'].listen = '127.0.0.1:0';
    serverCfg['http'].listen = '127.0.0.1:0';
    await mkdir(join(dir, 'server', 'run'), { recursive: true });
    const server = await startServerProcess(dir, serverCfg);
    const agentCfg = localConfig('agent', join(dir, 'agent'));
    try {
      expect(server.adminSocket).toBe(join(dir, 'server', 'run', 'admin.sock'));
      const socketArg: [string, string] = ['/run/tessera/server/admin.sock', server.adminSocket];
      const serverReady = runReadinessCheck('tessera-server.service', [socketArg]);
      expect(serverReady.output).toBe('');
      expect(serverReady.code).toBe(0);

      const token = cliJson<{ token: string }>(server.adminSocket, ['token', 'generate']);
      await writeFile(join(dir, 'bundle.pem'), runCli(['bundle', 'show', '--socket', server.adminSocket]).stdout);
      agentCfg['serverAddress'] = server.agentApi;
      agentCfg['trustBundlePath'] = join(dir, 'bundle.pem');
      agentCfg['nodeAttestor'].joinToken.token = token.token;
      agentCfg['http'].listen = '127.0.0.1:0';
      await mkdir(join(dir, 'agent', 'run'), { recursive: true });
      const agent = await startTesseraProcess('agent', dir, agentCfg, 'Agent ready');
      try {
        expect(agent.ready['socketPath']).toBe(join(dir, 'agent', 'run', 'api.sock'));
        const agentReady = runReadinessCheck('tessera-agent.service', [['127.0.0.1:8082', String(agent.ready['http'])]]);
        expect(agentReady.code, agentReady.output).toBe(0);
      } finally {
        await agent.stop();
      }
      // Nothing listens any more: one attempt each instead of 60 s of retries.
      const agentGone = runReadinessCheck('tessera-agent.service', [
        ['127.0.0.1:8082', String(agent.ready['http'])],
        ['--retry 60', '--retry 0'],
      ]);
      expect(agentGone.code).not.toBe(0);
    } finally {
      await server.stop();
    }
    const serverGone = runReadinessCheck('tessera-server.service', [
      ['/run/tessera/server/admin.sock', server.adminSocket],
      ['$(seq 60)', '$(seq 1)'],
    ]);
    expect(serverGone.code).toBe(1);
    expect(serverGone.output).toMatch(/tessera server not ready/);
  }, 240_000);
});
