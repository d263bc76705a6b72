/**
 * `tessera config validate` in-process through main(argv, io): the deploy examples pass, and each kind of bad file or
 * command line gets its own line naming the setting (or a usage error).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runTessera } from '../helpers/cli-in-process.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tessera-config-validate-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

describe('tessera config validate', () => {
  it('prints "ok" for the deploy examples, guessing the kind from the file', async () => {
    for (const example of ['deploy/server.example.yaml', 'deploy/agent.example.yaml']) {
      const r = await runTessera(['config', 'validate', '--config', resolve(example)]);
      expect(r, example).toEqual({ code: 0, stdout: 'ok\n', stderr: '' });
    }
    const kinded = await runTessera(['config', 'validate', '-c', resolve('deploy/agent.example.yaml'), '--kind', 'agent']);
    expect(kinded.code).toBe(0);
  });

  it('prints one line per problem, each naming its dotted path, and exits 1', async () => {
    const f = file('server.yaml', 'trustDomain: example.org\nlogLevel: loud\nagentApi:\n  lisen: x\nca:\n  ttlSeconds: 5\n');
    const r = await runTessera(['config', 'validate', '--config', f]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr.trimEnd().split('\n')).toEqual([
      `${f}: logLevel must be one of "trace", "debug", "info", "warn", "error"`,
      `${f}: unknown key "agentApi.lisen"`,
      `${f}: ca.ttlSeconds must be an integer between 600 and 315360000`,
    ]);
  });

  it('checks the agent rules and files: a join token file that is missing is named', async () => {
    const f = file(
      'agent.yaml',
      'trustDomain: example.org\ntrustBundlePath: b.pem\nnodeAttestor:\n  joinToken:\n    tokenFile: ./no-such-token\n',
    );
    const r = await runTessera(['config', 'validate', '--config', f]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`${f}: nodeAttestor.joinToken.tokenFile ${JSON.stringify(join(dir, 'no-such-token'))} cannot be read (ENOENT)\n`);
  });

  it('names an unset environment variable, an unreadable file and a file that does not parse', async () => {
    const env = file('env.yaml', 'trustDomain: ${TESSERA_TEST_TD_UNSET}\n');
    const r1 = await runTessera(['config', 'validate', '--config', env], { env: { TESSERA_TEST_TD_UNSET: undefined } });
    expect(r1).toMatchObject({ code: 1, stderr: `${env}: trustDomain refers to environment variable "TESSERA_TEST_TD_UNSET", which is not set\n` });
    const r1b = await runTessera(['config', 'validate', '--config', env], { env: { TESSERA_TEST_TD_UNSET: 'example.org' } });
    expect(r1b).toMatchObject({ code: 0, stdout: 'ok\n' });

    const missing = join(dir, 'missing.yaml');
    const r2 = await runTessera(['config', 'validate', '--config', missing]);
    expect(r2.code).toBe(1);
    expect(r2.stderr).toMatch(/^.*missing\.yaml: cannot read config file ".*missing\.yaml": ENOENT/);

    const broken = file('broken.yaml', 'trustDomain: [\n');
    const r3 = await runTessera(['config', 'validate', '--config', broken]);
    expect(r3.code).toBe(1);
    expect(r3.stderr).toContain('cannot parse');
  });

  it('reports the old data dir fallback as a warning and still says ok', async () => {
    const work = join(dir, 'work');
    const old = join(work, '.tessera', 'server');
    const f = file('w.yaml', 'trustDomain: example.org\n');
    mkdirSync(old, { recursive: true });
    writeFileSync(join(old, 'datastore.sqlite3'), '');
    const r = await runTessera(['config', 'validate', '--config', f], { cwd: work });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('ok\n');
    expect(r.stderr).toContain(`warning: dataDir "./.tessera/server": using the old location ${JSON.stringify(old)}`);
  });

  it.each([
    [['config', 'validate'], 'config validate needs --config <file>'],
    [['config', 'validate', '--config', 'x.yaml', '--kind', 'proxy'], '--kind must be "server" or "agent", not "proxy"'],
    [['config', 'validate', '--config'], "option '-c, --config <value>' argument missing"],
    [['config', 'validate', '--config', 'x.yaml', 'extra'], 'extra'],
    [['config', 'check'], 'unknown command "config check"'],
  ])('refuses the command line %j with exit 2', async (args, message) => {
    const r = await runTessera(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(message);
  });

  it('prints its help', async () => {
    const r = await runTessera(['config', 'validate', '--help']);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout).toContain('Usage: tessera config validate --config <file> [--kind server|agent]');
  });
});
