import { adminCommand, type AdminCommandSpec } from '../admin-command.js';
import { CommandFailure, ExitCode } from '../command.js';
import { withRelative } from '../format.js';

interface CheckResponse {
  ready: boolean;
  trust_domain: string;
  version: string;
  ca_expires_at: number;
  /** Empty from servers older than this field. */
  reason?: string;
}

export const healthcheckSpec: AdminCommandSpec = {
  name: 'healthcheck',
  path: 'healthcheck',
  summary: 'check that the server is ready (exit 0) or not (exit 1)',
  description:
    'Asks the server whether it is ready: its datastore reads and writes, its disk has room, and its CA can sign.\n' +
    'Exits 0 when ready and 1 otherwise (also when the admin socket is unreachable), with one line saying why.',
  async run(ctx) {
    const r = await ctx.admin.call<CheckResponse>('HealthService', 'Check', {});
    if (ctx.output === 'json') {
      ctx.json({
        ready: r.ready,
        trustDomain: r.trust_domain,
        version: r.version,
        caExpiresAt: r.ca_expires_at,
        ...(r.reason ? { reason: r.reason } : {}),
      });
      return r.ready ? ExitCode.ok : ExitCode.failure;
    }
    if (!r.ready) {
      throw new CommandFailure(
        r.reason
          ? `server for ${r.trust_domain} is not ready: ${r.reason}`
          : `server for ${r.trust_domain} is not ready: its datastore does not answer or its CA cannot sign (see its log)`,
      );
    }
    const ca = r.ca_expires_at ? `, CA valid until ${withRelative(r.ca_expires_at)}` : '';
    ctx.io.out(`Server is ready (trust domain ${r.trust_domain}${r.version ? `, version ${r.version}` : ''}${ca}).\n`);
    return ExitCode.ok;
  },
};

export const healthcheckCommand = adminCommand(healthcheckSpec);
