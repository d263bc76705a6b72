import { unixSeconds } from '../../../common/clock.js';
import { invalidArgument } from '../../../common/errors.js';
import { encodePublicKey } from '../../../spiffe/x509svid/public-key.js';
import type { AgentApiContext } from './context.js';
import { unary } from './call.js';
import type { RenewAgentRequest, RenewAgentResponse } from './messages.js';

/**
 * RenewAgent: a new agent SVID for a new key. The record's serial moves to the new SVID only if it still holds the
 * caller's (a stale or replayed renewal is FailedPrecondition); the caller's SVID stays accepted until it expires so
 * calls in flight on the old connection finish.
 */
export function renewAgentHandler(ctx: AgentApiContext) {
  return unary<RenewAgentRequest, RenewAgentResponse>(ctx.log, async (call) => {
    const caller = await ctx.authenticate(call);
    if (call.request.public_key.length === 0) throw invalidArgument('public_key is required');
    const publicKey = encodePublicKey(call.request.public_key).spki;
    const issued = ctx.x509Issuer.signX509Svid({
      spiffeId: caller.spiffeId,
      publicKey,
      ttlSeconds: ctx.policy.agentSvidTtlSeconds,
    });
    ctx.authenticator.rememberChain(issued.chain);
    const serial = issued.serial.toString(16);
    const expiresAt = Math.floor(issued.notAfter.getTime() / 1000);
    await ctx.agents.updateSvid(caller.agentId, { serial, expiresAt, previousSerial: caller.serial });
    ctx.authenticator.allowPreviousSerial(caller.agentId, caller.serial, caller.notAfter.getTime());
    await ctx.record([
      {
        kind: 'agent.renewed',
        spiffeId: caller.agentId,
        agentId: caller.agentId,
        serial,
        expiresAt,
        details: { previousSerial: caller.serial },
      },
    ]);
    await ctx.agents.touch(caller.agentId, unixSeconds(ctx.clock)).catch(() => undefined);
    ctx.metrics?.svidsSigned.inc({ kind: 'agent' });
    ctx.log.info({ agentId: caller.agentId, serial, previousSerial: caller.serial }, 'Agent SVID renewed');
    return { svid_chain: Buffer.concat(issued.chain) };
  });
}
