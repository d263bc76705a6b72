import { adminCommand, requireFlag, type AdminCommandSpec } from '../../admin-command.js';
import { ExitCode } from '../../command.js';
import { TRUST_DOMAIN_OPTION } from './shared.js';

export const federationDeleteSpec: AdminCommandSpec = {
  name: 'delete',
  path: 'federation delete',
  summary: 'stop federating with a trust domain: delete the relationship and its stored bundle',
  synopsis: '--trust-domain TD',
  options: TRUST_DOMAIN_OPTION,
  async run(ctx) {
    const trustDomain = requireFlag(ctx.flags, 'trust-domain', 'the federated trust domain, e.g. b.test');
    await ctx.admin.call('FederationService', 'DeleteFederationRelationship', { trust_domain: trustDomain });
    if (ctx.output === 'json') ctx.json({ trustDomain, deleted: true });
    else ctx.io.out(`Deleted the federation relationship with ${trustDomain} and its stored bundle.\n`);
    return ExitCode.ok;
  },
};

export const federationDeleteCommand = adminCommand(federationDeleteSpec);
