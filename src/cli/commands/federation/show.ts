import { adminCommand, requireFlag, type AdminCommandSpec } from '../../admin-command.js';
import { ExitCode } from '../../command.js';
import {
  printRelationshipResponse,
  TRUST_DOMAIN_OPTION,
  type FederationRelationshipResponse,
} from './shared.js';

export const federationShowSpec: AdminCommandSpec = {
  name: 'show',
  path: 'federation show',
  summary: 'show one federation relationship, its refresh status and stored bundle',
  synopsis: '--trust-domain TD',
  description:
    "Shows a federation relationship and what this server's refresher reports about it. With --output json, also\n" +
    "prints the trust domain's stored bundle (SPIFFE bundle document).",
  options: TRUST_DOMAIN_OPTION,
  async run(ctx) {
    const trustDomain = requireFlag(ctx.flags, 'trust-domain', 'the federated trust domain, e.g. b.test');
    const r = await ctx.admin.call<FederationRelationshipResponse>('FederationService', 'GetFederationRelationship', {
      trust_domain: trustDomain,
    });
    printRelationshipResponse(ctx, r);
    return ExitCode.ok;
  },
};

export const federationShowCommand = adminCommand(federationShowSpec);
