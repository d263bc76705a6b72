import type { AuthorityMessage } from '../../../common/grpc/authority-messages.js';
import { UsageError } from '../../command.js';
import type { Flags } from '../../admin-command.js';
import { block, formatUnixMs, formatUnixSeconds } from '../../format.js';

export type { AuthorityMessage } from '../../../common/grpc/authority-messages.js';

export type KindName = 'x509' | 'jwt';

const KIND_ENUM: Record<KindName, string> = { x509: 'AUTHORITY_KIND_X509', jwt: 'AUTHORITY_KIND_JWT' };

export const KIND_OPTION = {
  kind: { type: 'string', value: 'KIND', description: 'jwt (JWT-SVID signing keys) or x509 (the X.509 CA)' },
} as const;

/** `--kind jwt|x509` (required) as the proto enum name. */
export function kindFlag(flags: Flags): { kind: KindName; wire: string } {
  const v = flags.string('kind');
  if (v === undefined || v === '') throw new UsageError('--kind is required (jwt or x509)');
  if (v !== 'jwt' && v !== 'x509') throw new UsageError(`--kind must be "jwt" or "x509", not ${JSON.stringify(v)}`);
  return { kind: v, wire: KIND_ENUM[v] };
}

export const kindText = (wire: string) => wire.replace(/^AUTHORITY_KIND_/, '').toLowerCase();
export const stateText = (wire: string) => wire.replace(/^AUTHORITY_STATE_/, '').toLowerCase();
export const kindLabel = (kind: KindName) => (kind === 'x509' ? 'X.509 CA' : 'JWT');

/** The `--output json` form: camelCase, kind and state as short words, times as Unix seconds / ms (0 omitted). */
export function authorityJson(a: AuthorityMessage) {
  return {
    kind: kindText(a.kind),
    keyId: a.key_id,
    state: stateText(a.state),
    notAfter: a.not_after,
    createdAt: a.created_at,
    ...(a.published_at_ms ? { publishedAtMs: a.published_at_ms } : {}),
    ...(a.activatable_at_ms ? { activatableAtMs: a.activatable_at_ms } : {}),
  };
}

export function formatAuthority(a: AuthorityMessage): string {
  return block([
    ['Kind', kindText(a.kind)],
    ['Key ID', a.key_id],
    ['State', stateText(a.state)],
    ['Not after', formatUnixSeconds(a.not_after)],
    ['Created', formatUnixSeconds(a.created_at)],
    ['Published', a.published_at_ms ? formatUnixMs(a.published_at_ms) : undefined],
    ['Activatable', a.activatable_at_ms ? formatUnixMs(a.activatable_at_ms) : undefined],
  ]);
}
