import { adminCommand, type AdminCommandSpec } from '../../admin-command.js';
import { ExitCode } from '../../command.js';
import { formatUnixSeconds } from '../../format.js';
import { authorityJson, KIND_OPTION, kindFlag, kindLabel, type AuthorityMessage } from './shared.js';

export const authorityActivateSpec: AdminCommandSpec = {
  name: 'activate',
  path: 'authority activate',
  summary: 'make the prepared signing key the active one now',
  synopsis: '--kind jwt|x509',
  description:
    'Activates the prepared X.509 CA or JWT signing key: it signs from now on, and the previously active key is\n' +
    'retired (it signs nothing, and stays in the bundle until it expires, so what it signed still validates).\n' +
    'Refused when no key is prepared, or when the prepared key has not been in the published bundle for one refresh\n' +
    'hint yet (relying parties polling at the refresh hint may not hold it); the error says how long to wait.',
  options: KIND_OPTION,
  async run(ctx) {
    const { kind, wire } = kindFlag(ctx.flags);
    const r = await ctx.admin.call<{ activated: AuthorityMessage; retired?: AuthorityMessage | null }>(
      'AuthorityService',
      'ActivateAuthority',
      { kind: wire },
    );
    if (ctx.output === 'json') {
      ctx.json({ activated: authorityJson(r.activated), ...(r.retired ? { retired: authorityJson(r.retired) } : {}) });
    } else {
      const retired = r.retired
        ? ` Retired ${r.retired.key_id}: it signs nothing and stays in the bundle until it expires ` +
          `(${formatUnixSeconds(r.retired.not_after)}).`
        : '';
      ctx.io.out(`Activated ${kindLabel(kind)} key ${r.activated.key_id}.${retired}\n`);
    }
    return ExitCode.ok;
  },
};

export const authorityActivateCommand = adminCommand(authorityActivateSpec);
