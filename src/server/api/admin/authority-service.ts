import type * as grpc from '@grpc/grpc-js';
import type { AuthorityMessage } from '../../../common/grpc/authority-messages.js';
import { invalidArgument } from '../../../common/errors.js';
import type { AuthorityInfo, AuthorityKind } from '../../ca/types.js';
import type { AdminContext } from './config.js';
import { unary } from './unary.js';

const KINDS: Readonly<Record<string, AuthorityKind>> = { AUTHORITY_KIND_X509: 'x509', AUTHORITY_KIND_JWT: 'jwt' };
const KIND_NAMES: Readonly<Record<AuthorityKind, string>> = { x509: 'AUTHORITY_KIND_X509', jwt: 'AUTHORITY_KIND_JWT' };
const STATE_NAMES: Readonly<Record<AuthorityInfo['state'], string>> = {
  prepared: 'AUTHORITY_STATE_PREPARED',
  active: 'AUTHORITY_STATE_ACTIVE',
  retired: 'AUTHORITY_STATE_RETIRED',
};

/**
 * tessera.admin.v1.AuthorityService: this server's signing keys, and preparing or activating the next one ahead of
 * the schedule. The CA refuses (FAILED_PRECONDITION) what would be unsafe; each change is audited.
 */
export function authorityService(ctx: AdminContext): grpc.UntypedServiceImplementation {
  const { authority, log } = ctx;
  return {
    GetAuthorities: unary(log, async () => ({
      authorities: authority.listAuthorities().map(authorityToMessage),
      refresh_hint_seconds: authority.refreshHintSeconds,
    })),

    PrepareAuthority: unary(log, async (req: { kind?: unknown }) => {
      const kind = parseKind(req.kind);
      const prepared = await authority.prepareNow(kind);
      log.info({ kind, keyId: prepared.keyId }, 'Authority prepared by the operator');
      await ctx.record([
        {
          kind: 'authority.prepared',
          details: { authorityKind: kind, keyId: prepared.keyId, notAfter: seconds(prepared.notAfter) },
        },
      ]);
      return { prepared: authorityToMessage(prepared) };
    }),

    ActivateAuthority: unary(log, async (req: { kind?: unknown }) => {
      const kind = parseKind(req.kind);
      const { activated, retired } = await authority.activateNow(kind);
      log.info({ kind, keyId: activated.keyId, retiredKeyId: retired?.keyId }, 'Authority activated by the operator');
      await ctx.record([
        {
          kind: 'authority.activated',
          details: {
            authorityKind: kind,
            keyId: activated.keyId,
            notAfter: seconds(activated.notAfter),
            ...(retired ? { retiredKeyId: retired.keyId } : {}),
          },
        },
      ]);
      return { activated: authorityToMessage(activated), ...(retired ? { retired: authorityToMessage(retired) } : {}) };
    }),
  };
}

function parseKind(value: unknown): AuthorityKind {
  const kind = typeof value === 'string' ? KINDS[value] : undefined;
  if (kind === undefined) {
    const got = JSON.stringify(value ?? null);
    throw invalidArgument(`kind must be AUTHORITY_KIND_X509 or AUTHORITY_KIND_JWT, not ${got}`);
  }
  return kind;
}

function authorityToMessage(a: AuthorityInfo): AuthorityMessage {
  return {
    kind: KIND_NAMES[a.kind],
    key_id: a.keyId,
    state: STATE_NAMES[a.state],
    not_after: seconds(a.notAfter),
    created_at: seconds(a.createdAt),
    published_at_ms: a.publishedAt?.getTime() ?? 0,
    activatable_at_ms: a.activatableAt?.getTime() ?? 0,
  };
}

const seconds = (d: Date) => Math.floor(d.getTime() / 1000);
