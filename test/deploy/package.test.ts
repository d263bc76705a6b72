/**
 * The npm package: `npm pack` ships the CLI (package.json `bin`), everything it loads at run time (dist, proto) and
 * the README and LICENSE — and no tests, sources, source maps or key material. The packed files alone (with the
 * locked dependencies beside them) start a server and answer its health check.
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { PACKAGE_NAME, PROGRAM_NAME } from '../../src/common/version.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PKG = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Record<string, any>;
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';

const scratch = await mkdtemp(join(tmpdir(), 'tessera-pack-'));
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

/** `npm pack` of the repo (scripts skipped: the suite has built dist already). */
function pack(args: string[]) {
  const r = spawnSync(NPM, ['pack', '--ignore-scripts', '--json', ...args, ROOT], {
    cwd: scratch,
    encoding: 'utf8',
    timeout: 120_000,
  });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`npm pack exited ${r.status}: ${r.stderr}`);
  return (JSON.parse(r.stdout) as { name: string; filename: string; files: { path: string }[] }[])[0]!;
}

async function protoFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await protoFiles(p)));
    else if (e.name.endsWith('.proto')) out.push(relative(ROOT, p));
  }
  return out;
}

describe('package.json', () => {
  it('is publishable under a name of our own, with the tessera command', () => {
    // `tessera` on npm is an unrelated tile server.
    expect(PKG['name']).toBe(PACKAGE_NAME);
    expect(PKG['name']).not.toBe('tessera');
    expect(PKG['private']).toBeUndefined();
    expect(PKG['bin']).toEqual({ [PROGRAM_NAME]: 'dist/cli/main.js' });
    // A publish from a clean clone builds dist first.
    expect(PKG['scripts']['prepack']).toBe('npm run build');
  });
});

describe('npm pack --dry-run', () => {
  const result = pack(['--dry-run']);
  const files = result.files.map((f) => f.path).sort();

  it('holds the CLI, the compiled code, every proto file, README, LICENSE and package.json', async () => {
    expect(result.name).toBe(PACKAGE_NAME);
    for (const f of ['dist/cli/main.js', 'dist/server/main.js', 'dist/agent/main.js', 'README.md', 'LICENSE', 'package.json']) {
      expect(files).toContain(f);
    }
    const protos = await protoFiles(join(ROOT, 'proto'));
    expect(protos.length).toBeGreaterThan(0);
    expect(protos.filter((p) => !files.includes(p))).toEqual([]);
  });

  it('holds no tests, sources, source maps, configs with secrets or key material', () => {
    const forbidden = files.filter(
      (f) =>
        /^(test|src|bench|scripts|certs|examples|deploy|node_modules|\.tessera)\//.test(f) ||
        /\.(map|ts|pem|key|crt|der|p12|sqlite|db)$/.test(f) ||
        /(^|\/)\.env/.test(f),
    );
    expect(forbidden).toEqual([]);
    expect(files.filter((f) => !/^(dist\/|proto\/)/.test(f)).sort()).toEqual(['LICENSE', 'README.md', 'package.json']);
  });
});

describe('the packed files', () => {
  it('start a server whose health check, run by the packed CLI, says ready', async () => {
    const tarball = pack([]).filename;
    const dir = join(scratch, 'installed');
    await mkdir(dir);
    const untar = spawnSync('tar', ['-xzf', join(scratch, tarball), '-C', dir], { encoding: 'utf8' });
    expect(untar.status, untar.stderr).toBe(0);
    const pkgDir = join(dir, 'package');
    // The locked dependencies, as `npm install tessera-spiffe` would put them next to the package.
    await symlink(join(ROOT, 'node_modules'), join(pkgDir, 'node_modules'), 'dir');
    const cli = join(pkgDir, PKG['bin'][PROGRAM_NAME] as string);

    const version = spawnSync(process.execPath, [cli, 'version'], { encoding: 'utf8' });
    expect(version.stdout).toBe(`${PROGRAM_NAME} ${PKG['version']}\n`);

    const config = join(dir, 'server.json');
    await writeFile(
      config,
      JSON.stringify({
        trustDomain: 'pack.test',
        dataDir: join(dir, 'data'),
        agentApi: { listen: '127.0.0.1:0' },
        http: { listen: '127.0.0.1:0' },
      }),
    );
    const server = spawn(process.execPath, [cli, 'server', 'run', '--config', config], { stdio: ['ignore', 'ignore', 'pipe'] });
    const exited = new Promise<number | null>((resolve) => server.once('exit', resolve));
    try {
      const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
        let seen = '';
        createInterface({ input: server.stderr! }).on('line', (line) => {
          seen += `${line}\n`;
          try {
            const entry = JSON.parse(line) as Record<string, unknown>;
            if (entry['msg'] === 'Server ready') resolve(entry);
          } catch {
            // not a log line
          }
        });
        void exited.then((code) => reject(new Error(`packed server exited (${code}) before it was ready:\n${seen}`)));
      });
      const health = spawnSync(process.execPath, [cli, 'healthcheck', '--socket', String(ready['adminSocket'])], {
        encoding: 'utf8',
      });
      expect(health.stderr).toBe('');
      expect(health.stdout).toMatch(/^Server is ready \(trust domain pack\.test/);
      expect(health.status).toBe(0);
    } finally {
      server.kill('SIGTERM');
      await exited;
    }
  }, 180_000);
});
