import { adminCommand, type AdminCommandSpec } from '../../admin-command.js';
import { ExitCode } from '../../command.js';
import { plural } from '../../format.js';
import { formatRelationship, relationshipJson, type FederationRelationshipMessage } from './shared.js';

export const federationListSpec: AdminCommandSpec = {
  name: 'list',
  path: 'federation list',
  summary: 'list federation relationships and their refresh status',
  async run(ctx) {
    const { relationships } = await ctx.admin.call<{ relationships: FederationRelationshipMessage[] }>(
      'FederationService',
      'ListFederationRelationships',
      {},
    );
    if (ctx.output === 'json') {
      ctx.json({ relationships: relationships.map(relationshipJson) });
      return ExitCode.ok;
    }
    if (relationships.length === 0) {
      ctx.io.out('No federation relationships.\n');
      return ExitCode.ok;
    }
    ctx.io.out(
      relationships.map((r) => formatRelationship(r)).join('\n') +
        `\n${plural(relationships.length, 'federation relationship')}\n`,
    );
    return ExitCode.ok;
  },
};

export const federationListCommand = adminCommand(federationListSpec);
