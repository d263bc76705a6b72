import { adminCommand, integerFlag, requireFlag, type AdminCommandSpec } from '../../admin-command.js';
import { ExitCode, UsageError } from '../../command.js';

/** Larger than any ceiling a server policy takes; the server checks its own. */
const MAX_TTL = 2_147_483_647;

export const jwtMintSpec: AdminCommandSpec = {
  name: 'mint',
  path: 'jwt mint',
  summary: 'mint a JWT-SVID for any SPIFFE ID of the trust domain (operator use; audited)',
  synopsis: '--spiffe-id ID --audience AUD',
  description:
    'Mint a JWT-SVID for a SPIFFE ID of this trust domain, like spire-server jwt mint. Audited as jwt_svid.minted\n' +
    '(its jti, never the token). Prints the token.',
  options: {
    'spiffe-id': { type: 'string', value: 'ID', description: 'the SPIFFE ID (the sub claim)' },
    audience: { type: 'string', multiple: true, value: 'AUD', description: 'an audience (the aud claim)' },
    ttl: { type: 'string', value: 'SECONDS', description: "lifetime (default 5m, at most the server's worker ceiling)" },
  },
  async run(ctx) {
    const spiffeId = requireFlag(ctx.flags, 'spiffe-id', 'the SPIFFE ID to mint');
    const audience = ctx.flags.strings('audience');
    if (audience.length === 0) throw new UsageError('--audience is required (who the token is for)');
    if (audience.some((a) => a === '')) throw new UsageError('--audience must not be empty');
    const ttl = integerFlag(ctx.flags, 'ttl', 1, MAX_TTL) ?? 0;
    const r = await ctx.admin.call<{ token: string; expires_at: number }>('SvidService', 'MintJwtSvid', {
      spiffe_id: spiffeId,
      audience,
      ttl_seconds: ttl,
    });
    if (ctx.output === 'json') ctx.json({ spiffeId, audience, expiresAt: r.expires_at, token: r.token });
    else ctx.io.out(`${r.token}\n`);
    return ExitCode.ok;
  },
};

export const jwtMintCommand = adminCommand(jwtMintSpec);
