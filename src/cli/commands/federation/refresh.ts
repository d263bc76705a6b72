import { adminCommand, requireFlag, type AdminCommandSpec } from '../../admin-command.js';
import { ExitCode } from '../../command.js';
import { formatRelationship, relationshipJson, TRUST_DOMAIN_OPTION, type FederationRelationshipMessage } from './shared.js';

export const federationRefreshSpec: AdminCommandSpec = {
  name: 'refresh',
  path: 'federation refresh',
  summary: "fetch a federated trust domain's bundle now",
  synopsis: '--trust-domain TD',
  description:
    "Fetches the trust domain's bundle from its endpoint now and prints the relationship with its new status. If the\n" +
    'endpoint cannot be reached or serves a bundle that is refused, exits 1 with the reason; the last good bundle\n' +
    'stays in use.',
  options: TRUST_DOMAIN_OPTION,
  async run(ctx) {
    const trustDomain = requireFlag(ctx.flags, 'trust-domain', 'the federated trust domain, e.g. b.test');
    const { relationship } = await ctx.admin.call<{ relationship: FederationRelationshipMessage }>(
      'FederationService',
      'RefreshFederationRelationship',
      { trust_domain: trustDomain },
    );
    if (ctx.output === 'json') ctx.json({ relationship: relationshipJson(relationship) });
    else ctx.io.out(formatRelationship(relationship));
    return ExitCode.ok;
  },
};

export const federationRefreshCommand = adminCommand(federationRefreshSpec);
