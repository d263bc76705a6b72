import { adminCommand, type AdminCommandSpec } from '../../admin-command.js';
import { ExitCode } from '../../command.js';
import { authorityJson, formatAuthority, KIND_OPTION, kindFlag, kindLabel, type AuthorityMessage } from './shared.js';

export const authorityPrepareSpec: AdminCommandSpec = {
  name: 'prepare',
  path: 'authority prepare',
  summary: 'create and publish the next signing key now, ahead of the schedule',
  synopsis: '--kind jwt|x509',
  description:
    'Creates the next X.509 CA or JWT signing key now and publishes it in the trust bundle (its sequence number\n' +
    'increases). It signs nothing until it is activated, by the schedule or by "tessera authority activate" once it\n' +
    'has been published for one refresh hint. Refused while a key of that kind is already prepared.',
  options: KIND_OPTION,
  async run(ctx) {
    const { kind, wire } = kindFlag(ctx.flags);
    const { prepared } = await ctx.admin.call<{ prepared: AuthorityMessage }>('AuthorityService', 'PrepareAuthority', {
      kind: wire,
    });
    if (ctx.output === 'json') {
      ctx.json({ prepared: authorityJson(prepared) });
    } else {
      ctx.io.out(
        `Prepared ${kindLabel(kind)} key ${prepared.key_id}: published in the bundle, signs nothing yet.\n` +
          `Activate it with "tessera authority activate --kind ${kind}" once it has been published for one ` +
          'refresh hint.\n\n' +
          formatAuthority(prepared),
      );
    }
    return ExitCode.ok;
  },
};

export const authorityPrepareCommand = adminCommand(authorityPrepareSpec);
