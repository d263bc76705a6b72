import { adminCommand, type AdminCommandSpec } from '../../admin-command.js';
import { ExitCode } from '../../command.js';
import { formatUnixMs, formatUnixSeconds, table } from '../../format.js';
import { authorityJson, kindText, stateText, type AuthorityMessage } from './shared.js';

export const authorityShowSpec: AdminCommandSpec = {
  name: 'show',
  path: 'authority show',
  summary: "list this server's signing keys: prepared, active and retired",
  description:
    "Lists this server's X.509 CA and JWT signing keys with their state. A prepared key is published in the bundle\n" +
    'but signs nothing; "tessera authority activate" accepts it once it has been published for one refresh hint.\n' +
    'Retired keys sign nothing and stay in the bundle until they expire.',
  async run(ctx) {
    const r = await ctx.admin.call<{ authorities: AuthorityMessage[]; refresh_hint_seconds: number }>(
      'AuthorityService',
      'GetAuthorities',
      {},
    );
    if (ctx.output === 'json') {
      ctx.json({ refreshHintSeconds: r.refresh_hint_seconds, authorities: r.authorities.map(authorityJson) });
      return ExitCode.ok;
    }
    ctx.io.out(
      table(
        ['KIND', 'STATE', 'KEY ID', 'NOT AFTER', 'ACTIVATABLE FROM'],
        r.authorities.map((a) => [
          kindText(a.kind),
          stateText(a.state),
          a.key_id,
          formatUnixSeconds(a.not_after),
          activatableText(a),
        ]),
      ) + `\nRefresh hint: ${r.refresh_hint_seconds} s\n`,
    );
    return ExitCode.ok;
  },
};

function activatableText(a: AuthorityMessage): string {
  if (a.activatable_at_ms) return formatUnixMs(a.activatable_at_ms);
  return stateText(a.state) === 'prepared' ? 'not published yet' : '-';
}

export const authorityShowCommand = adminCommand(authorityShowSpec);
