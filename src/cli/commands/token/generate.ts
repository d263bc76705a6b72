import { adminCommand, integerFlag, type AdminCommandSpec } from '../../admin-command.js';
import { ExitCode } from '../../command.js';
import { block, withRelative } from '../../format.js';

export const tokenGenerateSpec: AdminCommandSpec = {
  name: 'generate',
  path: 'token generate',
  summary: 'mint a one-time join token for node attestation',
  description:
    'Mints a one-time join token. An agent started with it attests once and becomes\n' +
    'spiffe://<td>/tessera/agent/join_token/<token id>. With --spiffe-id, that SPIFFE ID also becomes a node alias\n' +
    'of the agent, so entries whose parent is the alias are served to it.',
  options: {
    'spiffe-id': { type: 'string', value: 'ID', description: 'node alias for the agent that uses the token' },
    ttl: { type: 'string', value: 'SECONDS', description: 'lifetime of the token (default 600)' },
  },
  async run(ctx) {
    const ttl = integerFlag(ctx.flags, 'ttl', 1, 2 ** 31 - 1);
    const spiffeId = ctx.flags.string('spiffe-id');
    const r = await ctx.admin.call<{ token: string; expires_at: number; agent_spiffe_id: string }>(
      'TokenService',
      'CreateJoinToken',
      { ...(ttl !== undefined ? { ttl_seconds: ttl } : {}), ...(spiffeId !== undefined ? { spiffe_id: spiffeId } : {}) },
    );
    if (ctx.output === 'json') {
      ctx.json({
        token: r.token,
        expiresAt: r.expires_at,
        agentSpiffeId: r.agent_spiffe_id,
        ...(spiffeId !== undefined ? { aliasSpiffeId: spiffeId } : {}),
      });
    } else {
      ctx.io.out(
        block([
          ['Token', r.token],
          ['Expires', withRelative(r.expires_at)],
          ['Agent ID', r.agent_spiffe_id],
          ['Node alias', spiffeId],
        ]),
      );
    }
    return ExitCode.ok;
  },
};

export const tokenGenerateCommand = adminCommand(tokenGenerateSpec);
