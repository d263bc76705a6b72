import { resolve } from 'node:path';
import { JwtBundle, X509Bundle } from '../../../spiffe/bundle/index.js';
import { TrustDomain } from '../../../spiffe/id/index.js';
import { apiCommand, type ApiCommandSpec } from '../../api-command.js';
import { ExitCode } from '../../command.js';
import { table } from '../../format.js';
import { ensureDir, invalidAs, writeFileExact } from './shared.js';

interface TrustDomainBundles {
  x509?: X509Bundle;
  jwt?: JwtBundle;
}

export const apiFetchBundlesSpec: ApiCommandSpec = {
  name: 'bundles',
  path: 'api fetch bundles',
  summary: 'fetch the X.509 and JWT bundles this process may use',
  description:
    'Fetches the trust bundles from the Workload API (one message each of FetchX509Bundles and FetchJWTBundles) and\n' +
    'prints, per trust domain, the number of X.509 authorities and the JWT key IDs. With --write DIR, also writes\n' +
    'bundle-<td>.pem (X.509 authorities) and jwks-<td>.json (JWT keys) for each trust domain.',
  options: {
    write: { type: 'string', value: 'DIR', description: 'write each bundle into DIR' },
  },
  async run(ctx) {
    const x509 = await ctx.workload.fetchX509Bundles();
    const jwt = await ctx.workload.fetchJwtBundles();
    const byTd = new Map<string, TrustDomainBundles>();
    const entry = (key: string, kind: string): [string, TrustDomainBundles] => {
      const td = invalidAs(`the Workload API sent ${kind} bundle with a bad trust domain ${JSON.stringify(key)}`, () =>
        TrustDomain.parse(key),
      ).name;
      let e = byTd.get(td);
      if (e === undefined) byTd.set(td, (e = {}));
      return [td, e];
    };
    for (const [key, der] of Object.entries(x509.bundles ?? {})) {
      const [td, e] = entry(key, 'an X.509');
      e.x509 = invalidAs(`the Workload API sent an invalid X.509 bundle for ${td}`, () => X509Bundle.parseDer(td, der));
    }
    for (const [key, jwks] of Object.entries(jwt.bundles ?? {})) {
      const [td, e] = entry(key, 'a JWT');
      e.jwt = invalidAs(`the Workload API sent an invalid JWT bundle for ${td}`, () => JwtBundle.parseJwks(td, jwks));
    }
    const tds = [...byTd.keys()].sort();
    const files: string[] = [];
    const dir = ctx.flags.string('write');
    if (dir !== undefined) {
      const abs = resolve(dir);
      await ensureDir(abs);
      for (const td of tds) {
        const e = byTd.get(td)!;
        if (e.x509) files.push(await writeFileExact(abs, `bundle-${td}.pem`, e.x509.toPem(), 0o644));
        if (e.jwt) files.push(await writeFileExact(abs, `jwks-${td}.json`, e.jwt.toJwks() + '\n', 0o644));
      }
    }
    if (ctx.output === 'json') {
      ctx.json({
        bundles: tds.map((td) => {
          const e = byTd.get(td)!;
          return {
            trustDomain: td,
            x509Authorities: e.x509?.x509Authorities.length ?? 0,
            x509Pem: e.x509?.toPem() ?? '',
            jwtKeyIds: e.jwt ? [...e.jwt.jwtAuthorities.keys()] : [],
            jwks: e.jwt ? (JSON.parse(e.jwt.toJwks()) as unknown) : null,
          };
        }),
        ...(dir === undefined ? {} : { files }),
      });
      return ExitCode.ok;
    }
    let out = table(
      ['TRUST DOMAIN', 'X.509 AUTHORITIES', 'JWT KEY IDS'],
      tds.map((td) => {
        const e = byTd.get(td)!;
        const kids = e.jwt ? [...e.jwt.jwtAuthorities.keys()] : [];
        return [td, e.x509 ? String(e.x509.x509Authorities.length) : '-', kids.length > 0 ? kids.join(', ') : '-'];
      }),
    );
    if (files.length > 0) out += '\nWrote:\n' + files.map((f) => `  ${f}\n`).join('');
    ctx.io.out(out);
    return ExitCode.ok;
  },
};

export const apiFetchBundlesCommand = apiCommand(apiFetchBundlesSpec);
