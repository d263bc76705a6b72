import type * as grpc from '@grpc/grpc-js';
import { invalidArgument, isTesseraError, notFound } from '../../../common/errors.js';
import type { AgentRecord } from '../../datastore/index.js';
import { parseSpiffeIdField } from '../../entries/validate.js';
import type { AdminContext } from './config.js';
import { agentToMessage } from './messages.js';
import { unary } from './unary.js';

/** tessera.admin.v1.AgentAdminService: list, count, show, ban, evict and purge attested agents. */
export function agentAdminService(ctx: AdminContext): grpc.UntypedServiceImplementation {
  const { agents, log } = ctx;
  const agentId = (value: unknown) => parseSpiffeIdField('spiffe_id', value, ctx.trustDomain).toString();

  return {
    ListAgents: unary(log, async () => ({ agents: (await agents.list()).map(agentToMessage) })),

    GetAgent: unary(log, async (req: { spiffe_id?: unknown }) => {
      const id = agentId(req.spiffe_id);
      const agent = await agents.get(id);
      if (agent === null) throw notFound(`agent ${JSON.stringify(id)} not found`);
      return { agent: agentToMessage(agent) };
    }),

    BanAgent: unary(log, async (req: { spiffe_id?: unknown }) => {
      const id = agentId(req.spiffe_id);
      const agent = await agents.setBanned(id, true);
      log.info({ agentId: id }, 'Agent banned');
      await ctx.record([{ kind: 'agent.banned', agentId: id, spiffeId: id, details: { attestor: agent.attestor } }]);
      return {};
    }),

    EvictAgent: unary(log, async (req: { spiffe_id?: unknown }) => {
      const id = agentId(req.spiffe_id);
      await agents.delete(id);
      log.info({ agentId: id }, 'Agent evicted');
      await ctx.record([{ kind: 'agent.evicted', agentId: id, spiffeId: id }]);
      return {};
    }),

    CountAgents: unary(log, async () => ({ count: (await agents.list()).length })),

    PurgeAgents: unary(log, async (req: { expired_for_seconds?: unknown; dry_run?: unknown }) => {
      const expiredFor = req.expired_for_seconds;
      if (typeof expiredFor !== 'number' || !Number.isSafeInteger(expiredFor) || expiredFor < 1) {
        throw invalidArgument(`expired_for_seconds must be a whole number of seconds, at least 1, not ${q(expiredFor)}`);
      }
      const dryRun = req.dry_run === true;
      const cutoff = Math.floor(ctx.clock.now().getTime() / 1000) - expiredFor;
      // Banned agents stay: deleting the record would lift the ban.
      const stale = (await agents.list()).filter((a) => !a.banned && a.svidExpiresAt <= cutoff);
      if (dryRun) return { agents: stale.map(agentToMessage), dry_run: true };
      const purged: AgentRecord[] = [];
      for (const agent of stale) {
        try {
          await agents.delete(agent.spiffeId);
          purged.push(agent);
        } catch (err) {
          if (isTesseraError(err) && err.code === 'NOT_FOUND') continue; // evicted meanwhile
          throw err;
        }
      }
      if (purged.length > 0) log.info({ agentIds: purged.map((a) => a.spiffeId), expiredFor }, 'Agents purged');
      await ctx.record(
        purged.map((a) => ({
          kind: 'agent.purged',
          agentId: a.spiffeId,
          spiffeId: a.spiffeId,
          expiresAt: a.svidExpiresAt,
          details: { expiredForSeconds: expiredFor },
        })),
      );
      return { agents: purged.map(agentToMessage), dry_run: false };
    }),
  };
}

const q = JSON.stringify;
