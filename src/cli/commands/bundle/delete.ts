import { adminCommand, requireFlag, type AdminCommandSpec } from '../../admin-command.js';
import { ExitCode, UsageError } from '../../command.js';
import { plural } from '../../format.js';
import { FEDERATED_TRUST_DOMAIN_OPTION } from './shared.js';

const MODES: Readonly<Record<string, string>> = {
  restrict: 'BUNDLE_DELETE_MODE_RESTRICT',
  dissociate: 'BUNDLE_DELETE_MODE_DISSOCIATE',
  delete: 'BUNDLE_DELETE_MODE_DELETE',
};

export const bundleDeleteSpec: AdminCommandSpec = {
  name: 'delete',
  path: 'bundle delete',
  summary: "delete a federated trust domain's static bundle",
  synopsis: '--trust-domain TD [--mode restrict|dissociate|delete]',
  description:
    "Delete a federated trust domain's static bundle (like spire-server bundle delete). --mode says what happens to\n" +
    'entries that --federates-with it: restrict (default) refuses while any does, dissociate removes the trust\n' +
    'domain from them, delete deletes them. A bundle a federation relationship fetches goes with the relationship\n' +
    '(tessera federation delete).',
  options: {
    ...FEDERATED_TRUST_DOMAIN_OPTION,
    mode: { type: 'string', value: 'MODE', description: 'restrict (default), dissociate or delete' },
  },
  async run(ctx) {
    const trustDomain = requireFlag(ctx.flags, 'trust-domain', 'the federated trust domain, e.g. b.test');
    const modeText = ctx.flags.string('mode') ?? 'restrict';
    const mode = Object.hasOwn(MODES, modeText) ? MODES[modeText] : undefined;
    if (mode === undefined) {
      throw new UsageError(`--mode must be one of ${Object.keys(MODES).join(', ')}, not ${JSON.stringify(modeText)}`);
    }
    const { entry_ids: entryIds } = await ctx.admin.call<{ entry_ids: string[] }>(
      'BundleService',
      'DeleteFederatedBundle',
      { trust_domain: trustDomain, mode },
    );
    if (ctx.output === 'json') ctx.json({ trustDomain, deleted: true, mode: modeText, entryIds });
    else {
      const what = modeText === 'delete' ? 'deleted' : 'dissociated';
      ctx.io.out(
        `Deleted the bundle of ${trustDomain}` +
          (entryIds.length > 0 ? `; ${what} ${plural(entryIds.length, 'entry', 'entries')}` : '') +
          '.\n',
      );
    }
    return ExitCode.ok;
  },
};

export const bundleDeleteCommand = adminCommand(bundleDeleteSpec);
