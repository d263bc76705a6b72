import { readFileSync, statSync } from 'node:fs';

/**
 * uid → user name and gid → group name from /etc/passwd and /etc/group, parsed here (no getpwuid through FFI: NSS
 * modules would run inside the agent). Each file is re-read only when its (inode, size, mtime, ctime) changes, so an
 * edited or atomically replaced file is picked up at the next lookup, and an unchanged one costs one stat.
 *
 * Only local accounts are known: users from LDAP/sssd/systemd-homed (NSS) have no name here, so they get
 * `unix:uid` but no `unix:user`. As getpwuid does, the first line for an id wins.
 */
export interface AccountsReader {
  userName(uid: number): string | undefined;
  groupName(gid: number): string | undefined;
}

export interface AccountsReaderOptions {
  readonly passwdPath?: string;
  readonly groupPath?: string;
}

export function createAccountsReader(options: AccountsReaderOptions = {}): AccountsReader {
  const users = cachedIdFile(options.passwdPath ?? '/etc/passwd');
  const groups = cachedIdFile(options.groupPath ?? '/etc/group');
  return {
    userName: (uid) => users().get(uid),
    groupName: (gid) => groups().get(gid),
  };
}

/** A `name:password:id:…` file as id → name, cached by the file's identity and times. A missing file is empty. */
function cachedIdFile(path: string): () => ReadonlyMap<number, string> {
  let key: string | undefined;
  let names: ReadonlyMap<number, string> = new Map();
  return () => {
    const st = statSync(path, { bigint: true, throwIfNoEntry: false });
    const current = st === undefined ? 'missing' : `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
    if (current !== key) {
      names = st === undefined ? new Map() : parseIdFile(readFileSync(path, 'utf8'));
      key = current;
    }
    return names;
  };
}

/**
 * Parses passwd(5)/group(5) lines: field 1 is the name, field 3 the id. Comments, blanks and NIS `+`/`-` lines are
 * skipped.
 */
export function parseIdFile(text: string): Map<number, string> {
  const out = new Map<number, string>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#') || line.startsWith('+') || line.startsWith('-')) continue;
    const fields = line.split(':');
    const name = fields[0];
    const id = fields[2];
    if (name === undefined || name === '' || id === undefined || !/^\d+$/.test(id)) continue;
    const n = Number(id);
    if (!out.has(n)) out.set(n, name);
  }
  return out;
}
