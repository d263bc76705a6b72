import { SpiffeId } from '../../../spiffe/id/index.js';
import { parseInsecureJwtSvid } from '../../../spiffe/jwtsvid/index.js';
import { apiCommand, type ApiCommandSpec } from '../../api-command.js';
import { CommandFailure, ExitCode, UsageError } from '../../command.js';
import { block, withRelative } from '../../format.js';
import { iso } from './shared.js';

export const apiFetchJwtSpec: ApiCommandSpec = {
  name: 'jwt',
  path: 'api fetch jwt',
  summary: 'fetch JWT-SVIDs for one or more audiences',
  synopsis: '--audience AUD [--audience AUD ...] [--spiffe-id ID]',
  description:
    'Fetches JWT-SVIDs for the given audiences from the Workload API (FetchJWTSVID): one per identity of this\n' +
    'process, or only --spiffe-id. Each token is checked as go-spiffe checks it (subject, audience, expiry; the\n' +
    'signature is checked by whoever receives it). Text output shows each SPIFFE ID and token; --output json adds\n' +
    'the decoded header and claims.',
  options: {
    audience: { type: 'string', multiple: true, value: 'AUD', description: 'audience the tokens are for (required)' },
    'spiffe-id': { type: 'string', value: 'ID', description: 'fetch only the JWT-SVID of this identity' },
  },
  async run(ctx) {
    const audience = ctx.flags.strings('audience');
    if (audience.length === 0) throw new UsageError('--audience is required (the audience the JWT-SVIDs are for)');
    if (audience.some((a) => a === '')) throw new UsageError('--audience must not be empty');
    const spiffeId = ctx.flags.string('spiffe-id');
    if (spiffeId !== undefined) {
      try {
        SpiffeId.parse(spiffeId);
      } catch (err) {
        throw new UsageError(`--spiffe-id ${JSON.stringify(spiffeId)} is not a SPIFFE ID: ${(err as Error).message}`);
      }
    }
    const response = await ctx.workload.fetchJwtSvid(audience, spiffeId);
    if (response.svids.length === 0) {
      throw new CommandFailure('the Workload API sent no SVIDs in its JWT-SVID response');
    }
    const now = new Date();
    const svids = response.svids.map((s, i) => {
      let parsed;
      try {
        parsed = parseInsecureJwtSvid(s.svid, audience, { now });
      } catch (err) {
        const which = `JWT-SVID ${i}${s.spiffe_id ? ` (${s.spiffe_id})` : ''}`;
        throw new CommandFailure(`the Workload API sent an invalid ${which}: ${(err as Error).message}`);
      }
      return { message: s, parsed };
    });
    if (ctx.output === 'json') {
      ctx.json({
        svids: svids.map(({ message, parsed }) => ({
          spiffeId: parsed.spiffeId.toString(),
          hint: message.hint,
          token: message.svid,
          audience: parsed.audience,
          expiresAt: iso(parsed.expiry),
          header: parsed.header,
          claims: parsed.claims,
        })),
      });
      return ExitCode.ok;
    }
    ctx.io.out(
      svids
        .map(({ message, parsed }) =>
          block([
            ['SPIFFE ID', parsed.spiffeId.toString()],
            ['Hint', message.hint || undefined],
            ['Audience', parsed.audience.join(', ')],
            ['Expires', withRelative(parsed.expiry.getTime() / 1000)],
            ['Token', message.svid],
          ]),
        )
        .join('\n'),
    );
    return ExitCode.ok;
  },
};

export const apiFetchJwtCommand = apiCommand(apiFetchJwtSpec);
