import type { AdminCommandContext, Flags, OptionSpec } from '../../admin-command.js';
import { integerFlag } from '../../admin-command.js';
import { STATUS_NAMES } from '../../admin-socket.js';
import {
  entryJson,
  roleText,
  selectorText,
  type EntryMessage,
  type EntryResultMessage,
  type RoleName,
  type SelectorMessage,
} from '../../admin-messages.js';
import { ExitCode, UsageError } from '../../command.js';
import { block, formatUnixSeconds, humanDuration, withRelative } from '../../format.js';

/** What the CLI sends for one entry (the server ignores id, revision and created_at on create). */
export type EntryFields = Omit<EntryMessage, 'id' | 'revision' | 'created_at'>;

const INT32_MAX = 2 ** 31 - 1;

/** The options that set entry fields, shared by `entry create` and `entry update`. */
export const ENTRY_FIELD_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  'spiffe-id': { type: 'string', value: 'ID', description: 'SPIFFE ID issued; may hold {instance} as one path segment' },
  'parent-id': { type: 'string', value: 'ID', description: 'SPIFFE ID of the agent (or node alias) the workload runs under' },
  selector: { type: 'string', multiple: true, value: 'TYPE:VALUE', description: 'selector the workload must show, e.g. unix:uid:1000' },
  role: { type: 'string', value: 'ROLE', description: 'worker (default) or supervisor' },
  'x509-ttl': { type: 'string', value: 'SECONDS', description: 'X509-SVID TTL; 0 = server policy default' },
  'jwt-ttl': { type: 'string', value: 'SECONDS', description: 'JWT-SVID TTL; 0 = server policy default' },
  dns: { type: 'string', multiple: true, value: 'NAME', description: 'DNS name for the X509-SVID' },
  'federates-with': { type: 'string', multiple: true, value: 'TD', description: 'trust domain whose bundle workloads receive' },
  hint: { type: 'string', value: 'TEXT', description: 'hint passed to workloads (at most 1024 bytes)' },
  admin: { type: 'boolean', description: 'the identity may call the admin API over mTLS' },
  'expires-at': { type: 'string', value: 'UNIX', description: 'Unix seconds after which the entry is ignored; 0 = never' },
};

export const ROLE_NAMES: Readonly<Record<string, RoleName>> = { worker: 'ROLE_WORKER', supervisor: 'ROLE_SUPERVISOR' };

/** `type:value` (the value may itself hold colons). A convenience check; the server validates for real. */
export function parseSelector(text: string, where = '--selector'): SelectorMessage {
  const at = text.indexOf(':');
  if (at <= 0 || at === text.length - 1) {
    throw new UsageError(`${where} ${JSON.stringify(text)} must be "type:value", e.g. "unix:uid:1000"`);
  }
  return { type: text.slice(0, at), value: text.slice(at + 1) };
}

function parseRole(text: string, where: string): RoleName {
  const role = ROLE_NAMES[text];
  if (role === undefined) throw new UsageError(`${where} must be "worker" or "supervisor", not ${JSON.stringify(text)}`);
  return role;
}

/** The entry fields given on the command line; fields not given are absent. */
export function entryFieldsFromFlags(flags: Flags): Partial<EntryFields> {
  const out: Partial<EntryFields> = {};
  const spiffeId = flags.string('spiffe-id');
  if (spiffeId !== undefined) out.spiffe_id = spiffeId;
  const parentId = flags.string('parent-id');
  if (parentId !== undefined) out.parent_id = parentId;
  if (flags.has('selector')) out.selectors = flags.strings('selector').map((s) => parseSelector(s));
  const role = flags.string('role');
  if (role !== undefined) out.role = parseRole(role, '--role');
  const x509 = integerFlag(flags, 'x509-ttl', 0, INT32_MAX);
  if (x509 !== undefined) out.x509_svid_ttl_seconds = x509;
  const jwt = integerFlag(flags, 'jwt-ttl', 0, INT32_MAX);
  if (jwt !== undefined) out.jwt_svid_ttl_seconds = jwt;
  if (flags.has('dns')) out.dns_names = flags.strings('dns');
  if (flags.has('federates-with')) out.federates_with = flags.strings('federates-with');
  const hint = flags.string('hint');
  if (hint !== undefined) out.hint = hint;
  if (flags.boolean('admin')) out.admin = true;
  if (flags.boolean('no-admin')) {
    if (out.admin) throw new UsageError('--admin and --no-admin cannot be used together');
    out.admin = false;
  }
  const expiresAt = integerFlag(flags, 'expires-at', 0, Number.MAX_SAFE_INTEGER);
  if (expiresAt !== undefined) out.expires_at = expiresAt;
  return out;
}

export function defaultEntryFields(): EntryFields {
  return {
    spiffe_id: '',
    parent_id: '',
    selectors: [],
    role: 'ROLE_WORKER',
    x509_svid_ttl_seconds: 0,
    jwt_svid_ttl_seconds: 0,
    dns_names: [],
    federates_with: [],
    hint: '',
    admin: false,
    expires_at: 0,
  };
}

const DATA_KEYS: Readonly<Record<string, true>> = {
  spiffeId: true,
  parentId: true,
  selectors: true,
  role: true,
  x509SvidTtlSeconds: true,
  jwtSvidTtlSeconds: true,
  dnsNames: true,
  federatesWith: true,
  hint: true,
  admin: true,
  expiresAt: true,
  // What `entry show -o json` prints besides the fields: accepted and ignored, so its output can be fed back.
  id: true,
  revision: true,
  createdAt: true,
};

/**
 * Reads the `--data` document: `{"entries":[{spiffeId, parentId, selectors:["unix:uid:1000"], role, ...}]}` (the
 * JSON form `entry show -o json` prints). Shape errors are usage errors naming the item and key.
 */
export function entriesFromData(text: string, source: string): EntryFields[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`${source} is not valid JSON: ${(err as Error).message.split('\n')[0]}`);
  }
  const list = Array.isArray(doc) ? doc : (doc as { entries?: unknown } | null)?.entries;
  if (!Array.isArray(list) || list.length === 0) {
    throw new UsageError(`${source} must be {"entries": [ ... ]} with at least one entry`);
  }
  return list.map((item: unknown, i) => {
    const at = `${source}: entries[${i}]`;
    if (item === null || typeof item !== 'object' || Array.isArray(item)) throw new UsageError(`${at} must be an object`);
    const o = item as Record<string, unknown>;
    for (const key of Object.keys(o)) {
      if (!DATA_KEYS[key]) throw new UsageError(`${at} has an unknown key ${JSON.stringify(key)}`);
    }
    const str = (key: string): string => {
      const v = o[key] ?? '';
      if (typeof v !== 'string') throw new UsageError(`${at}.${key} must be a string`);
      return v;
    };
    const int = (key: string, max: number): number => {
      const v = o[key] ?? 0;
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > max) {
        throw new UsageError(`${at}.${key} must be a whole number from 0 to ${max}`);
      }
      return v;
    };
    const strs = (key: string): string[] => {
      const v = o[key] ?? [];
      if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) {
        throw new UsageError(`${at}.${key} must be a list of strings`);
      }
      return v as string[];
    };
    const selectors = o['selectors'] ?? [];
    if (!Array.isArray(selectors)) throw new UsageError(`${at}.selectors must be a list`);
    const admin = o['admin'] ?? false;
    if (typeof admin !== 'boolean') throw new UsageError(`${at}.admin must be true or false`);
    const role = str('role');
    return {
      spiffe_id: str('spiffeId'),
      parent_id: str('parentId'),
      selectors: selectors.map((s: unknown, k) => {
        if (typeof s === 'string') return parseSelector(s, `${at}.selectors[${k}]`);
        if (s !== null && typeof s === 'object' && typeof (s as SelectorMessage).type === 'string') {
          const { type, value } = s as SelectorMessage;
          if (typeof value === 'string') return { type, value };
        }
        throw new UsageError(`${at}.selectors[${k}] must be "type:value" or {"type": ..., "value": ...}`);
      }),
      role: role === '' ? 'ROLE_UNSPECIFIED' : (ROLE_NAMES[role] ?? parseRole(role, `${at}.role`)),
      x509_svid_ttl_seconds: int('x509SvidTtlSeconds', INT32_MAX),
      jwt_svid_ttl_seconds: int('jwtSvidTtlSeconds', INT32_MAX),
      dns_names: strs('dnsNames'),
      federates_with: strs('federatesWith'),
      hint: str('hint'),
      admin,
      expires_at: int('expiresAt', Number.MAX_SAFE_INTEGER),
    };
  });
}

function ttlText(seconds: number): string {
  return seconds === 0 ? 'server policy default' : `${seconds}s (${humanDuration(seconds)})`;
}

/** One entry as an aligned block. */
export function formatEntry(e: EntryMessage): string {
  return block([
    ['Entry ID', e.id],
    ['SPIFFE ID', e.spiffe_id],
    ['Parent ID', e.parent_id],
    ['Role', roleText(e.role)],
    ['Selectors', e.selectors.map(selectorText)],
    ['X509-SVID TTL', ttlText(e.x509_svid_ttl_seconds)],
    ['JWT-SVID TTL', ttlText(e.jwt_svid_ttl_seconds)],
    ['DNS names', e.dns_names],
    ['Federates with', e.federates_with],
    ['Hint', e.hint === '' ? undefined : e.hint],
    ['Admin', e.admin ? 'yes' : undefined],
    ['Expires', e.expires_at ? withRelative(e.expires_at) : undefined],
    ['Revision', String(e.revision)],
    ['Created', formatUnixSeconds(e.created_at, 'unknown')],
  ]);
}

/** Prints entries as blocks separated by blank lines, or as {"entries": [...]}. */
export function printEntries(ctx: AdminCommandContext, entries: readonly EntryMessage[]): void {
  if (ctx.output === 'json') ctx.json({ entries: entries.map(entryJson) });
  else ctx.io.out(entries.map(formatEntry).join('\n'));
}

/**
 * Prints the per-item results of a create: each created entry on stdout (a block, or {"results": [...]} in JSON),
 * each failure as one `tessera: ...` line on stderr. Exit 1 if any item failed.
 */
export function printCreateResults(
  ctx: AdminCommandContext,
  results: readonly EntryResultMessage[],
  sent: readonly EntryFields[],
): ExitCode {
  const failed = results.filter((r) => r.error_code !== 0).length;
  if (ctx.output === 'json') {
    ctx.json({
      results: results.map((r) =>
        r.error_code === 0 && r.entry
          ? { entry: entryJson(r.entry) }
          : { error: { code: STATUS_NAMES[r.error_code] ?? String(r.error_code), message: r.error_message } },
      ),
    });
  } else {
    const created = results.filter((r) => r.error_code === 0 && r.entry).map((r) => formatEntry(r.entry!));
    if (created.length > 0) ctx.io.out(created.join('\n'));
    if (sent.length > 1) {
      ctx.io.out(`${created.length > 0 ? '\n' : ''}Created ${created.length} of ${sent.length} entries.\n`);
    }
  }
  results.forEach((r, i) => {
    if (r.error_code === 0) return;
    const which = sent.length > 1 ? `entry ${i + 1} (${sent[i]?.spiffe_id || 'no SPIFFE ID'}): ` : '';
    ctx.io.err(`tessera: ${which}${r.error_message}\n`);
  });
  return failed > 0 ? ExitCode.failure : ExitCode.ok;
}
