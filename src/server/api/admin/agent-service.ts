import type * as grpc from '@grpc/grpc-js';
import { notFound } from '../../../common/errors.js';
import { parseSpiffeIdField } from '../../entries/validate.js';
import type { AdminContext } from './config.js';
import { agentToMessage } from './messages.js';
import { unary } from './unary.js';

/** tessera.admin.v1.AgentAdminService: list, show, ban and evict attested agents. */
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
  };
}
