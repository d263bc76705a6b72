import { randomBytes } from 'node:crypto';
import type * as grpc from '@grpc/grpc-js';
import { unixSeconds } from '../../../common/clock.js';
import { invalidArgument } from '../../../common/errors.js';
import type { Entry } from '../../datastore/index.js';
import { checkRoleDisjoint, INSTANCE_PLACEHOLDER, parseEntrySpiffeId, validateEntryInput } from '../../entries/validate.js';
import { joinTokenAgentId, joinTokenId } from '../../nodeattestation/join-token-id.js';
import type { AdminContext } from './config.js';
import { Serializer, unary } from './unary.js';

/** 32 random bytes (256 bits), base64url: 43 characters. */
export function newJoinToken(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * tessera.admin.v1.TokenService. A token is stored only as its hash (JoinTokenStore); it is returned once, here, and
 * never logged or audited. With `spiffe_id`, a node-alias entry is created too, in SPIRE's form (what EntryIndex in
 * entries/authorized.ts resolves): that SPIFFE ID, parent = the server ID, one selector `join_token:<token id>` — the
 * node selector the join-token attestor gives the agent that uses the token (nodeattestation/join-token-id.ts). Entries
 * whose parent is the alias are then served to that agent.
 */
export function tokenService(ctx: AdminContext, writes: Serializer): grpc.UntypedServiceImplementation {
  const { log, joinTokenTtl } = ctx;

  async function create(req: { ttl_seconds?: unknown; spiffe_id?: unknown }) {
    const ttl = req.ttl_seconds ?? 0;
    if (typeof ttl !== 'number' || !Number.isSafeInteger(ttl) || ttl < 0 || ttl > joinTokenTtl.maxSeconds) {
      throw invalidArgument(
        `ttl_seconds ${JSON.stringify(ttl)} is out of range; use 1 to ${joinTokenTtl.maxSeconds} ` +
          `(0 means ${joinTokenTtl.defaultSeconds})`,
      );
    }
    const ttlSeconds = ttl === 0 ? joinTokenTtl.defaultSeconds : ttl;
    let alias: string | undefined;
    if (req.spiffe_id !== undefined && req.spiffe_id !== '') {
      alias = parseEntrySpiffeId('spiffe_id', req.spiffe_id, ctx.trustDomain);
      if (alias.includes(INSTANCE_PLACEHOLDER)) {
        throw invalidArgument(`spiffe_id ${JSON.stringify(alias)} cannot hold ${JSON.stringify(INSTANCE_PLACEHOLDER)}`);
      }
    }
    const token = newJoinToken();
    const agentId = joinTokenAgentId(ctx.trustDomain, token).toString();
    const expiresAt = unixSeconds(ctx.clock) + ttlSeconds;

    return writes.run(async () => {
      let entry: Entry | undefined;
      if (alias !== undefined) {
        const input = validateEntryInput(
          {
            spiffe_id: alias,
            parent_id: ctx.validation.serverId.toString(),
            selectors: [{ type: 'join_token', value: joinTokenId(token) }],
            role: 'ROLE_WORKER',
          },
          ctx.validation,
        );
        await checkRoleDisjoint(input, ctx.entries);
        entry = await ctx.entries.create(input);
      }
      try {
        await ctx.joinTokens.create(token, { expiresAt, ...(alias !== undefined ? { aliasSpiffeId: alias } : {}) });
      } catch (err) {
        if (entry !== undefined) await ctx.entries.delete(entry.id).catch(() => undefined);
        throw err;
      }
      log.info({ agentId, expiresAt, aliasSpiffeId: alias, entryId: entry?.id }, 'Join token created');
      await ctx.record([
        {
          kind: 'join_token.created',
          agentId,
          spiffeId: agentId,
          expiresAt,
          details: { ttlSeconds, ...(alias !== undefined ? { aliasSpiffeId: alias, entryId: entry!.id } : {}) },
        },
        ...(entry !== undefined
          ? [
              {
                kind: 'entry.created',
                spiffeId: entry.spiffeId,
                entryId: entry.id,
                details: { parentId: entry.parentId, role: entry.role, revision: entry.revision, nodeAlias: true },
              },
            ]
          : []),
      ]);
      return { token, expires_at: expiresAt, agent_spiffe_id: agentId };
    });
  }

  return { CreateJoinToken: unary(log, create) };
}
