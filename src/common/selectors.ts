import { posix } from 'node:path';
import { SpiffeId } from '../spiffe/id/index.js';

/**
 * The one registry of selector forms (issue 15): what each attestor really emits, as `type:key:value`. The server
 * refuses any other form at `entry create|update` (src/server/entries/validate.ts), `tessera selectors` prints it,
 * and the README's table is this list. When an attestor learns a new fact, it is added here first.
 *
 * Workload selectors come from the agent's workload attestor (src/agent/workloadattestor/attestor.ts) and its
 * supervisor rules (src/agent/manager/matching.ts); node selectors from the server's node attestors
 * (src/server/nodeattestation). `join_token` has no key: its value is the token's ID.
 */
export type SelectorKind = 'workload' | 'node';

export interface SelectorForm {
  readonly type: string;
  /** '' when the value follows the type directly (`join_token:<id>`). */
  readonly key: string;
  /** The value's syntax, as shown to operators (`<decimal uid>`). */
  readonly value: string;
  readonly kind: SelectorKind;
  /** Which attestor emits it, and from what. */
  readonly emittedBy: string;
  readonly example: string;
  /** Undefined when `value` is well-formed, else what is wrong with it (lowercase, no period). */
  readonly check: (value: string) => string | undefined;
}

const decimalId = (what: string) => (v: string) =>
  /^(0|[1-9][0-9]{0,9})$/.test(v) && Number(v) <= 0xfffffffe ? undefined : `takes a decimal ${what} (0 to 4294967294)`;
const accountName = (what: string) => (v: string) =>
  v.includes(':') ? `takes a ${what} name as /etc/${what === 'user' ? 'passwd' : 'group'} lists it (no ":")` : undefined;
const lowerHex = (digits: number, what: string) => (v: string) =>
  new RegExp(`^[0-9a-f]{${digits}}$`).test(v) ? undefined : `takes ${what}: ${digits} lowercase hex digits`;
const absolutePath = (what: string, rootAllowed: boolean) => (v: string) =>
  v.startsWith('/') && posix.normalize(v) === v && (rootAllowed || v !== '/') && (v === '/' || !v.endsWith('/'))
    ? undefined
    : `takes an absolute, normalized ${what} (starts with "/", no "." or ".." segments, no trailing "/")`;
const nonEmpty = () => undefined;

const AGENT_PEERCRED = 'agent workload attestor (SO_PEERCRED when the caller connected)';

/** Every selector form, in the order the agent emits workload selectors, then node selectors. */
export const SELECTOR_FORMS: readonly SelectorForm[] = [
  {
    type: 'unix',
    key: 'uid',
    value: '<decimal uid>',
    kind: 'workload',
    emittedBy: AGENT_PEERCRED,
    example: 'unix:uid:1000',
    check: decimalId('uid'),
  },
  {
    type: 'unix',
    key: 'user',
    value: '<user name>',
    kind: 'workload',
    emittedBy: 'agent workload attestor (that uid in /etc/passwd)',
    example: 'unix:user:invoice',
    check: accountName('user'),
  },
  {
    type: 'unix',
    key: 'gid',
    value: '<decimal gid>',
    kind: 'workload',
    emittedBy: AGENT_PEERCRED,
    example: 'unix:gid:1000',
    check: decimalId('gid'),
  },
  {
    type: 'unix',
    key: 'group',
    value: '<group name>',
    kind: 'workload',
    emittedBy: 'agent workload attestor (that gid in /etc/group)',
    example: 'unix:group:agents',
    check: accountName('group'),
  },
  {
    type: 'unix',
    key: 'supplementary_gid',
    value: '<decimal gid>',
    kind: 'workload',
    emittedBy: 'agent workload attestor (/proc/<pid>/status Groups, each)',
    example: 'unix:supplementary_gid:27',
    check: decimalId('gid'),
  },
  {
    type: 'unix',
    key: 'supplementary_group',
    value: '<group name>',
    kind: 'workload',
    emittedBy: 'agent workload attestor (those gids in /etc/group)',
    example: 'unix:supplementary_group:docker',
    check: accountName('group'),
  },
  {
    type: 'unix',
    key: 'path',
    value: '<absolute path of the binary>',
    kind: 'workload',
    emittedBy: 'agent workload attestor (/proc/<pid>/exe, when it names the running inode)',
    example: 'unix:path:/usr/bin/python3.12',
    check: absolutePath('path', false),
  },
  {
    type: 'unix',
    key: 'sha256',
    value: '<64 lowercase hex digits>',
    kind: 'workload',
    emittedBy: 'agent workload attestor (sha256 of the running binary, under the size limit)',
    example: 'unix:sha256:' + 'ab'.repeat(32),
    check: lowerHex(64, 'the sha256 of the binary'),
  },
  {
    type: 'cgroup',
    key: 'path',
    value: '<cgroup v2 path>',
    kind: 'workload',
    emittedBy: 'agent workload attestor (/proc/<pid>/cgroup "0::" line)',
    example: 'cgroup:path:/system.slice/invoice.service',
    check: absolutePath('cgroup v2 path', true),
  },
  {
    type: 'systemd',
    key: 'unit',
    value: '<unit>.service or <unit>.scope',
    kind: 'workload',
    emittedBy: 'agent workload attestor (first .service/.scope segment of the cgroup path)',
    example: 'systemd:unit:invoice.service',
    check: (v) =>
      /^[^/]+\.(service|scope)$/.test(v) ? undefined : 'takes a unit name ending in ".service" or ".scope", without "/"',
  },
  {
    type: 'tessera',
    key: 'supervisor',
    value: '<supervisor spiffe id>',
    kind: 'workload',
    emittedBy: 'agent supervisor rule (a live ancestor instance holds that supervisor ID)',
    example: 'tessera:supervisor:spiffe://example.org/agents/planner',
    check: (v) => {
      if (!v.startsWith('spiffe://')) return 'takes the SPIFFE ID of a supervisor entry ("spiffe://...")';
      try {
        SpiffeId.parse(v.replace('{instance}', '0'));
        return undefined;
      } catch (err) {
        return `takes the SPIFFE ID of a supervisor entry: ${(err as Error).message}`;
      }
    },
  },
  {
    type: 'join_token',
    key: '',
    value: '<join token ID: 32 lowercase hex digits>',
    kind: 'node',
    emittedBy: 'server join_token node attestor (sha-256 of the token, first 32 hex digits)',
    example: 'join_token:' + '0f'.repeat(16),
    check: lowerHex(32, 'a join token ID'),
  },
  {
    type: 'x509pop',
    key: 'subject:cn',
    value: '<common name>',
    kind: 'node',
    emittedBy: 'server x509pop node attestor (node certificate subject CN)',
    example: 'x509pop:subject:cn:node-1',
    check: nonEmpty,
  },
  {
    type: 'x509pop',
    key: 'ca:fingerprint',
    value: '<sha-1, 40 lowercase hex digits>',
    kind: 'node',
    emittedBy: 'server x509pop node attestor (each CA certificate above the node certificate)',
    example: 'x509pop:ca:fingerprint:' + 'ab'.repeat(20),
    check: lowerHex(40, 'a sha-1 fingerprint'),
  },
  {
    type: 'x509pop',
    key: 'san:dns',
    value: '<dns name>',
    kind: 'node',
    emittedBy: 'server x509pop node attestor (node certificate DNS SAN)',
    example: 'x509pop:san:dns:node-1.example.org',
    check: nonEmpty,
  },
  {
    type: 'x509pop',
    key: 'san:uri',
    value: '<uri>',
    kind: 'node',
    emittedBy: 'server x509pop node attestor (node certificate URI SAN)',
    example: 'x509pop:san:uri:spiffe://example.org/node-1',
    check: nonEmpty,
  },
];

/** Selector types, each once, in registry order. */
export const SELECTOR_TYPES: readonly string[] = [...new Set(SELECTOR_FORMS.map((f) => f.type))];

/** `type:key:<value>` (or `type:<value>` without a key): how a form is named in messages and listings. */
export function formName(form: SelectorForm): string {
  return form.key === '' ? `${form.type}:${form.value}` : `${form.type}:${form.key}:${form.value}`;
}

export type SelectorCheck =
  | { readonly ok: true; readonly form: SelectorForm }
  | { readonly ok: false; readonly problem: string };

/**
 * Checks one selector against the registry. The problem, when there is one, names the valid forms (lowercase, values
 * quoted, no subject: callers put the field and selector before it): `unix:uid takes a decimal uid (0 to
 * 4294967294), e.g. "unix:uid:1000"`, `unknown type "proc"; known types: ...`, `unknown key for type "unix"; ...`.
 */
export function checkSelector(type: string, value: string): SelectorCheck {
  const forms = SELECTOR_FORMS.filter((f) => f.type === type);
  if (forms.length === 0) {
    return {
      ok: false,
      problem: `unknown type ${JSON.stringify(type)}; known types: ${SELECTOR_TYPES.join(', ')} (see "tessera selectors")`,
    };
  }
  const form = forms
    .filter((f) => f.key === '' || value.startsWith(f.key + ':'))
    .sort((a, b) => b.key.length - a.key.length)[0];
  if (form === undefined) {
    return {
      ok: false,
      problem: `unknown key for type ${JSON.stringify(type)}; valid forms: ${forms.map(formName).join(', ')}`,
    };
  }
  const rest = form.key === '' ? value : value.slice(form.key.length + 1);
  const problem = rest === '' ? 'takes a non-empty value' : form.check(rest);
  if (problem !== undefined) {
    const name = form.key === '' ? form.type : `${form.type}:${form.key}`;
    return { ok: false, problem: `${name} ${problem}, e.g. ${JSON.stringify(form.example)}` };
  }
  return { ok: true, form };
}
