import { invalidArgument, permissionDenied } from '../../../common/errors.js';
import { audienceSummary, checkJwtAudience } from '../../../common/jwt-audience.js';
import { toStatus } from '../../../common/grpc/status.js';
import { SpiffeId } from '../../../spiffe/id/index.js';
import type { AuditEventInput, Entry } from '../../datastore/index.js';
import type { AuthorizedEntries } from '../../entries/index.js';
import type { AgentCaller } from './caller.js';
import { isItemError, unary } from './call.js';
import { jwtTtlFor, x509TtlFor } from './config.js';
import type { AgentApiContext } from './context.js';
import type {
  BatchSignX509SvidRequest,
  BatchSignX509SvidResponse,
  MintJwtSvidRequest,
  MintJwtSvidResponse,
  X509SvidResult,
} from './messages.js';

/** The placeholder an entry's SPIFFE ID may hold for the instance ID (architecture §5). */
export const INSTANCE_PLACEHOLDER = '{instance}';
/** Private JWT-SVID claims naming the process instance and the supervisor instance it descends from. */
export const JWT_INSTANCE_CLAIM = 'tessera_instance';
export const JWT_SUPERVISOR_INSTANCE_CLAIM = 'tessera_supervisor_instance';

const INSTANCE_ID = /^[0-9a-f]{32}$/;

interface IssueTarget {
  readonly entry: Entry;
  readonly spiffeId: SpiffeId;
  readonly instanceId: string | undefined;
  readonly supervisorInstanceId: string | undefined;
}

/**
 * Resolves one request item against the caller's authorised entries: the entry (PermissionDenied when the agent may
 * not serve it, whether or not it exists), the instance IDs (32 lowercase hex digits when given), and the SPIFFE ID
 * with `{instance}` replaced.
 */
function resolveTarget(
  authorized: AuthorizedEntries,
  item: { entry_id: string; instance_id: string; supervisor_instance_id: string },
): IssueTarget {
  if (item.entry_id.length === 0) throw invalidArgument('entry_id is required');
  const entry = authorized.byId.get(item.entry_id);
  if (!entry) throw permissionDenied(`entry ${JSON.stringify(item.entry_id)} is not authorized for this agent`);
  const instanceId = optionalInstanceId(item.instance_id, 'instance_id');
  const supervisorInstanceId = optionalInstanceId(item.supervisor_instance_id, 'supervisor_instance_id');
  if (supervisorInstanceId === undefined && requiresSupervisor(entry)) {
    throw invalidArgument(`entry ${JSON.stringify(entry.id)} requires supervisor_instance_id`);
  }
  let id = entry.spiffeId;
  if (id.includes(INSTANCE_PLACEHOLDER)) {
    if (instanceId === undefined) {
      throw invalidArgument(`entry ${JSON.stringify(entry.id)} puts the instance in its SPIFFE ID: instance_id is required`);
    }
    id = id.replaceAll(INSTANCE_PLACEHOLDER, instanceId);
  }
  return { entry, spiffeId: SpiffeId.parse(id), instanceId, supervisorInstanceId };
}

function optionalInstanceId(value: string, field: string): string | undefined {
  if (value.length === 0) return undefined;
  if (!INSTANCE_ID.test(value)) throw invalidArgument(`${field} must be 32 lowercase hexadecimal digits`);
  return value;
}

function requiresSupervisor(entry: Entry): boolean {
  return entry.selectors.some((s) => s.type === 'tessera' && s.value.startsWith('supervisor:'));
}

function authorizedFor(ctx: AgentApiContext, caller: AgentCaller): AuthorizedEntries {
  return ctx.entries.authorizedFor(caller.agentId, caller.record.selectors);
}

/**
 * BatchSignX509Svid: one result per item, in order. Item failures (unauthorised entry, garbage key, bad instance ID)
 * are reported in the item; anything else fails the call. Every SVID's audit event is written, all in one
 * transaction, BEFORE the response leaves: if that write fails the call fails and no SVID is returned.
 */
export function batchSignX509SvidHandler(ctx: AgentApiContext) {
  return unary<BatchSignX509SvidRequest, BatchSignX509SvidResponse>(ctx.log, async (call) => {
    const caller = await ctx.authenticate(call);
    const items = call.request.params;
    if (items.length > ctx.maxBatchSize) {
      throw invalidArgument(`a batch holds at most ${ctx.maxBatchSize} items; got ${items.length}`);
    }
    const authorized = authorizedFor(ctx, caller);
    const results: X509SvidResult[] = [];
    const events: Omit<AuditEventInput, 'atMs'>[] = [];
    const now = Math.floor(ctx.clock.now().getTime() / 1000);
    for (const item of items) {
      try {
        const target = resolveTarget(authorized, item);
        if (item.public_key.length === 0) throw invalidArgument('public_key is required');
        if (target.instanceId !== undefined) await ctx.instanceRoles.claim(target.instanceId, target.entry.role, caller.agentId, now);
        const issued = ctx.x509Issuer.signX509Svid({
          spiffeId: target.spiffeId,
          publicKey: item.public_key,
          ttlSeconds: x509TtlFor(ctx.policy, target.entry),
          dnsNames: target.entry.dnsNames,
        });
        const serial = issued.serial.toString(16);
        const expiresAt = Math.floor(issued.notAfter.getTime() / 1000);
        const spiffeId = target.spiffeId.toString();
        results.push({
          svid: { entry_id: target.entry.id, spiffe_id: spiffeId, cert_chain: Buffer.concat(issued.chain), expires_at: expiresAt, serial },
          error_code: 0,
          error_message: '',
        });
        events.push({
          kind: 'x509_svid.issued',
          spiffeId,
          entryId: target.entry.id,
          agentId: caller.agentId,
          serial,
          expiresAt,
          ...(target.instanceId !== undefined && { instanceId: target.instanceId }),
          ...(target.supervisorInstanceId !== undefined && {
            details: { supervisorInstanceId: target.supervisorInstanceId },
          }),
        });
      } catch (err) {
        if (!isItemError(err)) throw err;
        const status = toStatus(err, ctx.log.child({ rpc: call.getPath(), agentId: caller.agentId, entryId: item.entry_id }));
        results.push({ svid: null, error_code: status.code, error_message: status.details });
      }
    }
    await ctx.record(events);
    if (events.length > 0) ctx.metrics?.svidsSigned.inc({ kind: 'x509' }, events.length);
    return { results };
  });
}

/**
 * MintJwtSvid: authorised like X509-SVIDs; the token carries `tessera_instance` (the instance ID, when given) and
 * `tessera_supervisor_instance` (when given). The audience is held to src/common/jwt-audience.ts's limits (the agent
 * checks them too; the server does not trust it to). Its audit event (with the jti and a bounded audience summary) is
 * written before the token is returned.
 */
export function mintJwtSvidHandler(ctx: AgentApiContext) {
  return unary<MintJwtSvidRequest, MintJwtSvidResponse>(ctx.log, async (call) => {
    const caller = await ctx.authenticate(call);
    const { audience } = call.request;
    checkJwtAudience(audience);
    const target = resolveTarget(authorizedFor(ctx, caller), call.request);
    const now = Math.floor(ctx.clock.now().getTime() / 1000);
    if (target.instanceId !== undefined) await ctx.instanceRoles.claim(target.instanceId, target.entry.role, caller.agentId, now);
    const extraClaims: Record<string, string> = {};
    if (target.instanceId !== undefined) extraClaims[JWT_INSTANCE_CLAIM] = target.instanceId;
    if (target.supervisorInstanceId !== undefined) extraClaims[JWT_SUPERVISOR_INSTANCE_CLAIM] = target.supervisorInstanceId;
    const minted = await ctx.jwtIssuer.signJwtSvid({
      spiffeId: target.spiffeId,
      audience,
      ttlSeconds: jwtTtlFor(ctx.policy, target.entry),
      extraClaims,
    });
    const spiffeId = target.spiffeId.toString();
    const expiresAt = Math.floor(minted.expiresAt.getTime() / 1000);
    await ctx.record([
      {
        kind: 'jwt_svid.issued',
        spiffeId,
        entryId: target.entry.id,
        agentId: caller.agentId,
        jti: minted.jti,
        expiresAt,
        ...(target.instanceId !== undefined && { instanceId: target.instanceId }),
        details: {
          ...audienceSummary(audience),
          ...(target.supervisorInstanceId !== undefined && { supervisorInstanceId: target.supervisorInstanceId }),
        },
      },
    ]);
    ctx.metrics?.svidsSigned.inc({ kind: 'jwt' });
    return { token: minted.token, spiffe_id: spiffeId, expires_at: expiresAt, jti: minted.jti };
  });
}
