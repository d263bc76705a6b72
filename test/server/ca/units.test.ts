import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { KeyFiles } from '../../../src/server/ca/key-files.js';
import { activateAtMs, prepareAtMs, refreshHintSeconds } from '../../../src/server/ca/schedule.js';

describe('schedule', () => {
  it('prepares at 1/2 and activates at 5/6 of the active key life', () => {
    const life = { startMs: 0, notAfterMs: 6_000 };
    expect(prepareAtMs(life)).toBe(3_000);
    expect(activateAtMs(life)).toBe(5_000);
  });

  it.each([
    [86_400, 86_400, 3600],
    [600, 86_400, 60],
    [7200, 86_400, 720],
    [86_400, 1200, 120],
  ])('refresh hint of ca %i s / jwt %i s is %i s', (ca, jwt, hint) => {
    expect(refreshHintSeconds(ca, jwt)).toBe(hint);
  });
});

describe('KeyFiles', () => {
  const dirs: string[] = [];
  const tmp = () => {
    const d = mkdtempSync(join(tmpdir(), 'tessera-keyfiles-'));
    dirs.push(d);
    return d;
  };
  afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

  it('writes keys atomically with mode 0600, reads them back, and removes torn temporary files at open', async () => {
    const dataDir = join(tmp(), 'data');
    const files = await KeyFiles.open(dataDir);
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const name = await files.write('jwt-abc', privateKey);
    expect(name).toBe('keys/jwt-abc.pem');
    expect(statSync(join(dataDir, name)).mode & 0o777).toBe(0o600);
    expect((await files.read(name)).equals(privateKey)).toBe(true);
    writeFileSync(join(dataDir, 'keys', 'jwt-x.pem.tmp-0011'), 'partial');
    await KeyFiles.open(dataDir);
    expect(readdirSync(join(dataDir, 'keys'))).toEqual(['jwt-abc.pem']);
    await files.remove(name);
    await expect(files.read(name)).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
  });

  it('refuses recorded names outside keys/', async () => {
    const files = await KeyFiles.open(tmp());
    for (const bad of ['../secret.pem', 'keys/../../x.pem', '/etc/passwd', 'keys/a b.pem', 'other/x.pem']) {
      await expect(files.read(bad)).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
    }
  });
});
