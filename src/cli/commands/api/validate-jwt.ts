import { parseInsecureJwtSvid } from '../../../spiffe/jwtsvid/index.js';
import { apiCommand, type ApiCommandSpec } from '../../api-command.js';
import { CommandFailure, ExitCode, UsageError } from '../../command.js';
import { block, withRelative } from '../../format.js';
import { structToJson, WorkloadFailure } from '../../workload-messages.js';

/** gRPC INVALID_ARGUMENT: what the Workload API answers for a token that does not validate. */
const INVALID_ARGUMENT = 3;

export const apiValidateJwtSpec: ApiCommandSpec = {
  name: 'jwt',
  path: 'api validate jwt',
  summary: 'validate a JWT-SVID through the Workload API',
  synopsis: '--audience AUD --token TOKEN',
  description:
    'Asks the Workload API to validate a JWT-SVID for one audience (ValidateJWTSVID: signature against the bundle\n' +
    "of the token's trust domain, audience, expiry), then re-checks it locally as go-spiffe does. Prints its SPIFFE\n" +
    'ID and claims and exits 0 when valid; prints one line and exits 1 when not.',
  options: {
    audience: { type: 'string', value: 'AUD', description: 'the audience the token must be for (required)' },
    token: { type: 'string', value: 'TOKEN', description: 'the JWT-SVID, compact form (required)' },
  },
  async run(ctx) {
    const audience = ctx.flags.string('audience');
    if (audience === undefined || audience === '') {
      throw new UsageError('--audience is required (the audience the token must be for)');
    }
    const token = ctx.flags.string('token');
    if (token === undefined || token === '') throw new UsageError('--token is required (the JWT-SVID to validate)');
    let response;
    try {
      response = await ctx.workload.validateJwtSvid(audience, token);
    } catch (err) {
      if (err instanceof WorkloadFailure && err.code === INVALID_ARGUMENT) {
        throw new CommandFailure(`invalid JWT-SVID: ${err.details || 'rejected by the Workload API'}`);
      }
      throw err;
    }
    let local;
    try {
      local = parseInsecureJwtSvid(token, [audience], { now: new Date() });
    } catch (err) {
      throw new CommandFailure(`invalid JWT-SVID: ${(err as Error).message}`);
    }
    const spiffeId = response.spiffe_id || local.spiffeId.toString();
    const claims = structToJson(response.claims);
    if (ctx.output === 'json') {
      ctx.json({ valid: true, spiffeId, audience, claims });
      return ExitCode.ok;
    }
    ctx.io.out(
      `JWT-SVID is valid for audience ${JSON.stringify(audience)}.\n\n` +
        block([
          ['SPIFFE ID', spiffeId],
          ['Expires', withRelative(local.expiry.getTime() / 1000)],
          ['Claims', Object.entries(claims).map(([k, v]) => `${k}: ${JSON.stringify(v)}`)],
        ]),
    );
    return ExitCode.ok;
  },
};

export const apiValidateJwtCommand = apiCommand(apiValidateJwtSpec);
