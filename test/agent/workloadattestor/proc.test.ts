import { spawn } from 'node:child_process';
import { once } from 'node:events';
import {
  copyFileSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createAccountsReader, parseIdFile } from '../../../src/agent/workloadattestor/accounts.js';
import {
  createProcReader,
  isProcessGone,
  parseCgroup,
  parseStat,
  parseStatus,
  systemdUnitFromCgroup,
} from '../../../src/agent/workloadattestor/proc.js';
import { cgroupV2Path, killAndReap, statusGroups } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'tessera-proc-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('/proc parsing', () => {
  it('takes stat fields after the last ")" (comm may hold spaces and parentheses)', () => {
    const rest = ['S', '1', ...Array.from({ length: 17 }, (_, i) => String(i + 5)), '987654321', '0', '0'];
    // field 22 is rest[19]
    expect(rest[19]).toBe('987654321');
    const stat = parseStat(`1234 (a) b) (c d) ${rest.join(' ')}\n`);
    expect(stat).toEqual({ state: 'S', startTime: 987654321n });
    expect(() => parseStat('1234 no paren')).toThrow(/malformed/);
  });

  it('parses status ids, groups and ppid', () => {
    const text = 'Name:\tx\nPPid:\t17\nUid:\t1000\t1001\t1002\t1003\nGid:\t20\t21\t22\t23\nGroups:\t4 27 1000 \n';
    expect(parseStatus(text)).toEqual({
      uids: [1000, 1001, 1002, 1003],
      gids: [20, 21, 22, 23],
      groups: [4, 27, 1000],
      ppid: 17,
    });
    expect(parseStatus('PPid:\t1\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nGroups:\t\n').groups).toEqual([]);
    expect(() => parseStatus('PPid:\t1\n')).toThrow(/malformed/);
  });

  it('takes the cgroup v2 line, on unified and hybrid hosts; none on pure v1', () => {
    expect(parseCgroup('0::/system.slice/a.service\n')).toBe('/system.slice/a.service');
    expect(parseCgroup('2:cpu:/x\n1:name=systemd:/y\n0::/\n')).toBe('/');
    expect(parseCgroup('2:cpu:/x\n1:name=systemd:/y\n')).toBeUndefined();
  });

  it('derives the systemd unit the system manager owns (first .service/.scope segment)', () => {
    expect(systemdUnitFromCgroup('/system.slice/nginx.service')).toBe('nginx.service');
    expect(systemdUnitFromCgroup('/system.slice/docker-abc.scope')).toBe('docker-abc.scope');
    expect(systemdUnitFromCgroup('/user.slice/user-1000.slice/session-3.scope')).toBe('session-3.scope');
    // A user's own units live below user@UID.service; the user names them, so they never count.
    expect(systemdUnitFromCgroup('/user.slice/user-1000.slice/user@1000.service/app.slice/nginx.service')).toBe(
      'user@1000.service',
    );
    // A delegated subtree (Delegate=yes) names its own children.
    expect(systemdUnitFromCgroup('/system.slice/runner.service/payload/evil.service')).toBe('runner.service');
    expect(systemdUnitFromCgroup('/init.scope')).toBe('init.scope');
    expect(systemdUnitFromCgroup('/')).toBeUndefined();
    expect(systemdUnitFromCgroup('/kubepods/burstable/pod1/abc')).toBeUndefined();
    expect(systemdUnitFromCgroup('/x/service')).toBeUndefined();
  });
});

describe('/proc reader on real processes', () => {
  const proc = createProcReader();

  it('reads this process', () => {
    const status = proc.status(process.pid);
    expect(status.uids[1]).toBe(process.geteuid!());
    expect(status.gids[1]).toBe(process.getegid!());
    expect(status.ppid).toBe(process.ppid);
    expect([...status.groups]).toEqual(statusGroups(process.pid));
    expect(proc.exe(process.pid)).toEqual({ path: realpathSync(process.execPath), deleted: false });
    expect(proc.cgroup(process.pid)).toBe(cgroupV2Path(process.pid));
    const st = proc.stat(process.pid);
    expect(st.state).toBe('R');
    expect(proc.stat(process.pid).startTime).toBe(st.startTime);
  });

  it('a gone process is recognisable as gone', async () => {
    const child = spawn('sleep', ['60'], { stdio: 'ignore' });
    const pid = child.pid!;
    expect(proc.stat(pid).startTime).toBeGreaterThan(0n);
    await killAndReap(child);
    let err: unknown;
    try {
      proc.status(pid);
    } catch (e) {
      err = e;
    }
    expect(isProcessGone(err)).toBe(true);
  });

  it('strips " (deleted)" only when the binary really was unlinked', async () => {
    const sleep = realpathSync('/bin/sleep');
    const deletedBin = join(dir, 'sleeper');
    copyFileSync(sleep, deletedBin);
    const oddBin = join(dir, 'odd (deleted)');
    copyFileSync(sleep, oddBin);
    const a = spawn(deletedBin, ['60'], { stdio: 'ignore' });
    const b = spawn(oddBin, ['60'], { stdio: 'ignore' });
    try {
      await Promise.all([once(a, 'spawn'), once(b, 'spawn')]); // both exec'd: /proc/<pid>/exe names the binaries
      unlinkSync(deletedBin);
      expect(proc.exe(a.pid!)).toEqual({ path: deletedBin, deleted: true });
      expect(proc.exe(b.pid!)).toEqual({ path: oddBin, deleted: false });
    } finally {
      await killAndReap(a);
      await killAndReap(b);
    }
  });
});

describe('accounts from /etc/passwd and /etc/group', () => {
  it('parses name and id, first line wins, skips comments and NIS lines', () => {
    const m = parseIdFile(
      '# c\nroot:x:0:0::/root:/bin/sh\ntoor:x:0:0::/:/bin/sh\n+nis::::::\n\nbad:x:y:0\nnobody:x:65534:65534::/:/x\n',
    );
    expect([...m]).toEqual([
      [0, 'root'],
      [65534, 'nobody'],
    ]);
  });

  it('agrees with the real files', () => {
    const accounts = createAccountsReader();
    const passwd = readFileSync('/etc/passwd', 'utf8');
    const group = readFileSync('/etc/group', 'utf8');
    const uid = process.geteuid!();
    const gid = process.getegid!();
    const user = passwd.split('\n').find((l) => l.split(':')[2] === String(uid))?.split(':')[0];
    const grp = group.split('\n').find((l) => l.split(':')[2] === String(gid))?.split(':')[0];
    expect(accounts.userName(uid)).toBe(user);
    expect(accounts.groupName(gid)).toBe(grp);
    expect(accounts.userName(4_000_000_000)).toBeUndefined();
  });

  it('re-reads a file when it changes, not otherwise', () => {
    const passwd = join(dir, 'passwd');
    const group = join(dir, 'group');
    writeFileSync(passwd, 'alice:x:1000:1000::/:/bin/sh\n');
    writeFileSync(group, 'staff:x:1000:\n');
    const accounts = createAccountsReader({ passwdPath: passwd, groupPath: group });
    expect(accounts.userName(1000)).toBe('alice');
    expect(accounts.groupName(1000)).toBe('staff');
    // Same size, same mtime: a write that keeps (size, mtime) still changes ctime, which is in the key.
    writeFileSync(passwd, 'bobby:x:1000:1000::/:/bin/sh\n');
    utimesSync(passwd, new Date(0), new Date(0));
    expect(accounts.userName(1000)).toBe('bobby');
    // Replaced atomically (new inode).
    writeFileSync(join(dir, 'passwd.new'), 'carol:x:1000:1000::/:/bin/sh\n');
    copyFileSync(join(dir, 'passwd.new'), passwd);
    expect(accounts.userName(1000)).toBe('carol');
    rmSync(group);
    expect(accounts.groupName(1000)).toBeUndefined();
  });
});
