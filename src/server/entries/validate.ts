import { failedPrecondition, invalidArgument } from '../../common/errors.js';
import { SELECTOR_FORMS, checkSelector } from '../../common/selectors.js';
import { isSpiffeError } from '../../spiffe/errors.js';
import { SpiffeId, TrustDomain } from '../../spiffe/id/index.js';
import { validateDnsName } from '../../spiffe/x509svid/dns-name.js';
import type { EntryInput, EntryStore, FederationStore, Role, Selector } from '../datastore/index.js';

/**
 * Server-side validation of registration entries (architecture §3): every field of an entry as it arrives over the
 * admin API, checked against the SPIFFE ID rules, our trust domain, the TTL policy and the selector syntax, before
 * anything is written. Failures are TesseraError INVALID_ARGUMENT whose lowercase message names the proto field
 * (`spiffe_id`, `selectors[1]`, `x509_svid_ttl_seconds`, ...) and says what to fix.
 */

/** The placeholder an entry's SPIFFE ID may hold, as one whole path segment, for the per-instance ID. */
export const INSTANCE_PLACEHOLDER = '{instance}';
/** What stands in for the placeholder when the template is checked: an instance ID is 128 random bits in hex. */
const INSTANCE_SAMPLE = '0123456789abcdef0123456789abcdef';

const typesOf = (kind: 'workload' | 'node') => [...new Set(SELECTOR_FORMS.filter((f) => f.kind === kind).map((f) => f.type))];
/** Selector families a workload shows (attested by the agent), from the registry (src/common/selectors.ts). */
export const WORKLOAD_SELECTOR_TYPES: readonly string[] = typesOf('workload');
/** Selector families a node shows (attested by the server's node attestors). */
export const NODE_SELECTOR_TYPES: readonly string[] = typesOf('node');

export const MAX_HINT_BYTES = 1024;
export const MAX_SELECTORS = 64;
export const MAX_SELECTOR_VALUE_BYTES = 2048;
export const MAX_DNS_NAMES = 64;
export const MAX_FEDERATES_WITH = 64;
/** Server and agent identities live under `/tessera/`; no entry may issue one. */
export const RESERVED_PATH = '/tessera';

export interface RoleCeilings {
  readonly maxX509TtlSeconds: number;
  readonly maxJwtTtlSeconds: number;
}

/** The part of the server policy entries are checked against (ServerConfig['policy'] fits). */
export interface EntryPolicy {
  readonly worker: RoleCeilings;
  readonly supervisor: RoleCeilings;
}

export interface EntryValidationContext {
  readonly trustDomain: TrustDomain;
  readonly policy: EntryPolicy;
  /** The server's own ID (`spiffe://<td>/tessera/server`): an entry under it is a node alias (node selectors only). */
  readonly serverId: SpiffeId;
}

/**
 * An entry as it comes off the wire (tessera.types.v1.Entry loaded with keepCase, enums as strings, longs as
 * numbers). Every field is checked for its type too: nothing here is trusted. Missing fields take proto defaults.
 */
export interface RawEntry {
  readonly spiffe_id?: unknown;
  readonly parent_id?: unknown;
  readonly selectors?: unknown;
  readonly role?: unknown;
  readonly x509_svid_ttl_seconds?: unknown;
  readonly jwt_svid_ttl_seconds?: unknown;
  readonly dns_names?: unknown;
  readonly federates_with?: unknown;
  readonly hint?: unknown;
  readonly admin?: unknown;
  readonly expires_at?: unknown;
}

const q = (v: unknown) => JSON.stringify(v);

/** Validates and normalizes one entry. Throws TesseraError INVALID_ARGUMENT naming the first field that is wrong. */
export function validateEntryInput(raw: RawEntry, ctx: EntryValidationContext): EntryInput {
  if (raw === null || typeof raw !== 'object') throw invalidArgument('entry is required');
  const spiffeId = parseEntrySpiffeId('spiffe_id', raw.spiffe_id, ctx.trustDomain);
  const parentId = parseParentId(raw.parent_id, ctx);
  const selectors = parseSelectors(raw.selectors, parentId, ctx);
  const role = parseRole(raw.role);
  const ceilings = ctx.policy[role];
  const ceilingPath = `policy.${role}`;
  const x509SvidTtlSeconds = parseTtl('x509_svid_ttl_seconds', raw.x509_svid_ttl_seconds, role, {
    max: ceilings.maxX509TtlSeconds,
    path: `${ceilingPath}.maxX509TtlSeconds`,
  });
  const jwtSvidTtlSeconds = parseTtl('jwt_svid_ttl_seconds', raw.jwt_svid_ttl_seconds, role, {
    max: ceilings.maxJwtTtlSeconds,
    path: `${ceilingPath}.maxJwtTtlSeconds`,
  });
  const dnsNames = parseDnsNames(raw.dns_names);
  const federatesWith = parseFederatesWith(raw.federates_with, ctx.trustDomain);
  const hint = parseHint(raw.hint);
  const admin = parseBool('admin', raw.admin);
  const expiresAt = parseExpiresAt(raw.expires_at);
  return {
    spiffeId,
    parentId: parentId.toString(),
    selectors,
    role,
    x509SvidTtlSeconds,
    jwtSvidTtlSeconds,
    dnsNames,
    federatesWith,
    hint,
    admin,
    expiresAt,
  };
}

/**
 * Checks an entry SPIFFE ID (or ID template) given in `field`: a valid SPIFFE ID in our trust domain, with a path,
 * outside `/tessera/`, holding {@link INSTANCE_PLACEHOLDER} at most once and only as a whole path segment. Returns it
 * unchanged (the template form is what is stored).
 */
export function parseEntrySpiffeId(field: string, value: unknown, trustDomain: TrustDomain): string {
  const { id, text } = parseIdOrTemplate(field, value, true);
  if (!id.memberOf(trustDomain)) {
    throw invalidArgument(`${field} ${q(text)} is not in trust domain ${q(trustDomain.name)}`);
  }
  if (id.isTrustDomainId()) {
    throw invalidArgument(`${field} ${q(text)} must have a path: the trust domain's own ID is not a workload identity`);
  }
  if (isReserved(id.path)) {
    throw invalidArgument(
      `${field} ${q(text)} is in the reserved ${RESERVED_PATH}/ namespace (server and agent identities)`,
    );
  }
  return text;
}

/** A filter value naming an entry SPIFFE ID: any valid SPIFFE ID, or an ID template. '' means no filter. */
export function parseIdFilter(field: string, value: unknown): string | undefined {
  if (value === undefined || value === '') return undefined;
  return parseIdOrTemplate(field, value, true).text;
}

/** A required plain SPIFFE ID (no template), e.g. an agent's: any trust domain unless `trustDomain` is given. */
export function parseSpiffeIdField(field: string, value: unknown, trustDomain?: TrustDomain): SpiffeId {
  const { id, text } = parseIdOrTemplate(field, value, false);
  if (trustDomain !== undefined && !id.memberOf(trustDomain)) {
    throw invalidArgument(`${field} ${q(text)} is not in trust domain ${q(trustDomain.name)}`);
  }
  return id;
}

function parseIdOrTemplate(field: string, value: unknown, allowTemplate: boolean): { id: SpiffeId; text: string } {
  if (value === undefined || value === '') throw invalidArgument(`${field} is required`);
  if (typeof value !== 'string') throw invalidArgument(`${field} must be a string`);
  let sample = value;
  const at = value.indexOf(INSTANCE_PLACEHOLDER);
  if (at !== -1) {
    if (!allowTemplate) throw invalidArgument(`${field} ${q(value)} cannot hold ${q(INSTANCE_PLACEHOLDER)}`);
    if (value.indexOf(INSTANCE_PLACEHOLDER, at + 1) !== -1) {
      throw invalidArgument(`${field} ${q(value)} may hold ${q(INSTANCE_PLACEHOLDER)} at most once`);
    }
    const end = at + INSTANCE_PLACEHOLDER.length;
    const wholeSegment = value[at - 1] === '/' && (end === value.length || value[end] === '/');
    const afterScheme = value.startsWith('spiffe://') && value.indexOf('/', 'spiffe://'.length) !== -1;
    const inPath = afterScheme && at > value.indexOf('/', 'spiffe://'.length);
    if (!wholeSegment || !inPath) {
      throw invalidArgument(
        `${field} ${q(value)} may hold ${q(INSTANCE_PLACEHOLDER)} only as one whole path segment (e.g. "/agents/{instance}")`,
      );
    }
    sample = value.slice(0, at) + INSTANCE_SAMPLE + value.slice(end);
  }
  if (allowTemplate && /[{}]/.test(sample)) {
    throw invalidArgument(
      `${field} ${q(value)} has a brace outside the ${q(INSTANCE_PLACEHOLDER)} placeholder, the only one allowed`,
    );
  }
  try {
    return { id: SpiffeId.parse(sample), text: value };
  } catch (err) {
    if (isSpiffeError(err)) throw invalidArgument(`${field} ${q(value)} is not a valid SPIFFE ID: ${err.message}`);
    throw err;
  }
}

function isReserved(path: string): boolean {
  return path === RESERVED_PATH || path.startsWith(RESERVED_PATH + '/');
}

/**
 * The parent: a valid SPIFFE ID (no template) in our trust domain with a path. Under `/tessera/` only the server's ID
 * (node alias entries) and agent IDs (`/tessera/agent/<attestor>/<id>`) are parents.
 */
function parseParentId(value: unknown, ctx: EntryValidationContext): SpiffeId {
  const id = parseSpiffeIdField('parent_id', value, ctx.trustDomain);
  const text = id.toString();
  if (id.isTrustDomainId()) {
    throw invalidArgument(`parent_id ${q(text)} must have a path: name an agent or a node alias`);
  }
  if (isReserved(id.path) && !id.equals(ctx.serverId)) {
    const segments = id.path.split('/').slice(1);
    if (segments[1] !== 'agent' || segments.length < 4) {
      throw invalidArgument(
        `parent_id ${q(text)} is in the reserved ${RESERVED_PATH}/ namespace but is neither the server ` +
          `(${q(ctx.serverId.toString())}) nor an agent ID ("${ctx.trustDomain.idString()}/tessera/agent/<attestor>/<id>")`,
      );
    }
  }
  return id;
}

/** "type:value" of a selector, the form the CLI and messages use. */
export function formatSelector(s: Selector): string {
  return `${s.type}:${s.value}`;
}

function parseSelectors(value: unknown, parentId: SpiffeId, ctx: EntryValidationContext): Selector[] {
  if (value === undefined) value = [];
  if (!Array.isArray(value)) throw invalidArgument('selectors must be a list');
  if (value.length === 0) throw invalidArgument('selectors must hold at least one selector ("type:value")');
  if (value.length > MAX_SELECTORS) {
    throw invalidArgument(`selectors holds ${value.length} selectors; at most ${MAX_SELECTORS} are allowed`);
  }
  const seen = new Set<string>();
  const out: Selector[] = [];
  let workload: string | undefined;
  let node: string | undefined;
  value.forEach((raw: unknown, i) => {
    const field = `selectors[${i}]`;
    if (raw === null || typeof raw !== 'object') throw invalidArgument(`${field} must be a selector {type, value}`);
    const { type, value: v } = raw as { type?: unknown; value?: unknown };
    if (typeof type !== 'string' || type === '') throw invalidArgument(`${field} has no type`);
    if (typeof v !== 'string' || v === '') throw invalidArgument(`${field} ${q(type + ':')} has an empty value`);
    const text = `${type}:${v}`;
    const isWorkload = WORKLOAD_SELECTOR_TYPES.includes(type);
    if (Buffer.byteLength(v, 'utf8') > MAX_SELECTOR_VALUE_BYTES) {
      throw invalidArgument(`${field} value is longer than ${MAX_SELECTOR_VALUE_BYTES} bytes`);
    }
    // eslint-disable-next-line no-control-regex
    if (/[\u0000-\u001f\u007f]/.test(v)) throw invalidArgument(`${field} ${q(text)} holds a control character`);
    if (type === 'tessera') checkTesseraSelector(field, v, ctx.trustDomain);
    const checked = checkSelector(type, v);
    if (!checked.ok) throw invalidArgument(`${field} ${q(text)}: ${checked.problem}`);
    if (seen.has(text)) throw invalidArgument(`${field} ${q(text)} is repeated`);
    seen.add(text);
    if (isWorkload) workload ??= type;
    else node ??= type;
    out.push({ type, value: v });
  });
  if (workload !== undefined && node !== undefined) {
    throw invalidArgument(
      `selectors mix workload (${q(workload)}) and node (${q(node)}) types; an entry matches either workloads or nodes`,
    );
  }
  if (parentId.equals(ctx.serverId) && workload !== undefined) {
    throw invalidArgument(
      `selectors of a node alias entry (parent_id is the server) must be node selectors ` +
        `(${NODE_SELECTOR_TYPES.join(', ')}), not ${q(workload)}`,
    );
  }
  return out;
}

/** `tessera:supervisor:<spiffe id>`: the only selector of the tessera family (architecture §5 rule 3). */
function checkTesseraSelector(field: string, value: string, trustDomain: TrustDomain): void {
  const prefix = 'supervisor:';
  if (!value.startsWith(prefix)) {
    throw invalidArgument(
      `${field} ${q('tessera:' + value)} is not supported; the tessera type takes only "supervisor:<spiffe id>"`,
    );
  }
  parseEntrySpiffeId(`${field} supervisor ID`, value.slice(prefix.length), trustDomain);
}

function parseRole(value: unknown): Role {
  switch (value) {
    case undefined:
    case '':
    case 0:
    case 'ROLE_UNSPECIFIED':
    case 1:
    case 'ROLE_WORKER':
      return 'worker';
    case 2:
    case 'ROLE_SUPERVISOR':
      return 'supervisor';
    default:
      throw invalidArgument(`role ${q(value)} is unknown; use ROLE_WORKER or ROLE_SUPERVISOR`);
  }
}

function parseInteger(field: string, value: unknown): number {
  if (value === undefined) return 0;
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw invalidArgument(`${field} must be an integer`);
  return value;
}

function parseTtl(field: string, value: unknown, role: Role, ceiling: { max: number; path: string }): number {
  const ttl = parseInteger(field, value);
  if (ttl < 0) throw invalidArgument(`${field} ${ttl} is negative; use 0 for the policy default or a positive number`);
  if (ttl > ceiling.max) {
    throw invalidArgument(`${field} ${ttl} exceeds the ${role} ceiling of ${ceiling.max} (${ceiling.path})`);
  }
  return ttl;
}

function parseStringList(field: string, value: unknown, max: number): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw invalidArgument(`${field} must be a list`);
  if (value.length > max) throw invalidArgument(`${field} holds ${value.length} items; at most ${max} are allowed`);
  return value.map((v: unknown, i) => {
    if (typeof v !== 'string') throw invalidArgument(`${field}[${i}] must be a string`);
    return v;
  });
}

function parseDnsNames(value: unknown): string[] {
  const names = parseStringList('dns_names', value, MAX_DNS_NAMES);
  const seen = new Set<string>();
  names.forEach((name, i) => {
    try {
      validateDnsName(name);
    } catch (err) {
      if (!isSpiffeError(err)) throw err;
      const why = err.message.replace(/^DNS name .*? is invalid: /, '');
      throw invalidArgument(`dns_names[${i}] ${q(name)} is not a valid DNS name: ${why}`);
    }
    const key = name.toLowerCase();
    if (seen.has(key)) throw invalidArgument(`dns_names[${i}] ${q(name)} is repeated`);
    seen.add(key);
  });
  return names;
}

function parseFederatesWith(value: unknown, own: TrustDomain): string[] {
  const list = parseStringList('federates_with', value, MAX_FEDERATES_WITH);
  const seen = new Set<string>();
  return list.map((text, i) => {
    const field = `federates_with[${i}]`;
    let td: TrustDomain;
    try {
      td = TrustDomain.parse(text);
    } catch (err) {
      if (isSpiffeError(err)) throw invalidArgument(`${field} ${q(text)} is not a valid trust domain: ${err.message}`);
      throw err;
    }
    if (td.equals(own)) {
      throw invalidArgument(`${field} ${q(text)} is this server's own trust domain; list only foreign trust domains`);
    }
    if (seen.has(td.name)) throw invalidArgument(`${field} ${q(text)} is repeated`);
    seen.add(td.name);
    return td.name;
  });
}

function parseHint(value: unknown): string {
  if (value === undefined) return '';
  if (typeof value !== 'string') throw invalidArgument('hint must be a string');
  const bytes = Buffer.byteLength(value, 'utf8');
  if (bytes > MAX_HINT_BYTES) throw invalidArgument(`hint is ${bytes} bytes long; at most ${MAX_HINT_BYTES} are allowed`);
  return value;
}

function parseBool(field: string, value: unknown): boolean {
  if (value === undefined) return false;
  if (typeof value !== 'boolean') throw invalidArgument(`${field} must be true or false`);
  return value;
}

function parseExpiresAt(value: unknown): number | null {
  const at = parseInteger('expires_at', value);
  if (at < 0) throw invalidArgument(`expires_at ${at} is negative; use Unix seconds, or 0 for never`);
  return at === 0 ? null : at;
}

/**
 * Architecture §5 rule 6 (supervisors and workers are disjoint): refuses an entry whose SPIFFE ID (or ID template) is
 * already held by an entry of the other role, with FAILED_PRECONDITION naming that entry. `excludeId` is the entry
 * being updated. `pending` are entries accepted earlier in the same batch (not yet stored).
 */
export async function checkRoleDisjoint(
  input: Pick<EntryInput, 'spiffeId' | 'role'>,
  entries: Pick<EntryStore, 'list'>,
  options: { excludeId?: string; pending?: readonly Pick<EntryInput, 'spiffeId' | 'role'>[] } = {},
): Promise<void> {
  const other: Role = input.role === 'worker' ? 'supervisor' : 'worker';
  const clash = (await entries.list({ spiffeId: input.spiffeId })).find(
    (e) => e.role === other && e.id !== options.excludeId,
  );
  if (clash !== undefined) {
    throw failedPrecondition(
      `spiffe_id ${q(input.spiffeId)} is already a ${other} identity (entry ${q(clash.id)}); ` +
        `an identity is either supervisor or worker, never both`,
    );
  }
  if (options.pending?.some((p) => p.spiffeId === input.spiffeId && p.role === other)) {
    throw failedPrecondition(
      `spiffe_id ${q(input.spiffeId)} is a ${other} identity earlier in this batch; ` +
        `an identity is either supervisor or worker, never both`,
    );
  }
}

/**
 * An entry may federate only with a trust domain this server knows: a federation relationship or a stored bundle
 * (as SPIRE refuses an entry federating with a trust domain it has no bundle for). Otherwise its workloads would be
 * promised a bundle that never comes. FAILED_PRECONDITION naming the first unknown one and what to do.
 */
export async function checkFederatesWithKnown(
  input: Pick<EntryInput, 'federatesWith'>,
  federation: Pick<FederationStore, 'get' | 'bundle'>,
): Promise<void> {
  for (const [i, td] of input.federatesWith.entries()) {
    if ((await federation.get(td)) !== null || (await federation.bundle(td)) !== null) continue;
    throw failedPrecondition(
      `federates_with[${i}] ${q(td)} has no federation relationship or bundle on this server; ` +
        `create one first (tessera federation create --trust-domain ${td} ...)`,
    );
  }
}
