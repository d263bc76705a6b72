import { resolve } from 'node:path';
import { apiCommand, type ApiCommandSpec } from '../../api-command.js';
import { ExitCode } from '../../command.js';
import { block, withRelative } from '../../format.js';
import { encodePem } from '../../../spiffe/pem.js';
import {
  authorities,
  chainPem,
  ensureDir,
  iso,
  readX509Context,
  writeFileExact,
  type ReceivedX509Context,
} from './shared.js';

export const apiFetchX509Spec: ApiCommandSpec = {
  name: 'x509',
  path: 'api fetch x509',
  summary: "fetch this process's X509-SVIDs and bundles",
  description:
    "Fetches this process's X509-SVIDs from the Workload API (one message of FetchX509SVID) and prints, for\n" +
    'each, its SPIFFE ID, hint, serial, validity and bundle trust domains. With --write DIR, also writes svid.pem\n' +
    '(the chain, leaf first), svid.key (PKCS#8, mode 0600), bundle.pem (its trust domain bundle) and\n' +
    'federated-<td>.pem for each federated bundle; with several SVIDs the files are numbered: svid.0.pem,\n' +
    'svid.0.key, bundle.0.pem, ... Existing files are replaced. The private key is written only to svid.key,\n' +
    'never printed.',
  options: {
    write: { type: 'string', value: 'DIR', description: 'write the SVIDs, keys and bundles as PEM files into DIR' },
  },
  async run(ctx) {
    const context = readX509Context(await ctx.workload.fetchX509Svid());
    const dir = ctx.flags.string('write');
    const files = dir === undefined ? [] : await writeX509Files(resolve(dir), context);
    if (ctx.output === 'json') {
      ctx.json({
        svids: context.svids.map((s) => ({
          spiffeId: s.spiffeId,
          hint: s.hint,
          serial: s.serial,
          notBefore: iso(s.notBefore),
          notAfter: iso(s.notAfter),
          certificatesPem: chainPem(s.chain),
          bundle: { trustDomain: s.bundle.trustDomain.name, authorities: s.bundle.x509Authorities.length },
        })),
        federatedBundles: context.federated.map((b) => ({
          trustDomain: b.trustDomain.name,
          authorities: b.x509Authorities.length,
        })),
        ...(dir === undefined ? {} : { files }),
      });
      return ExitCode.ok;
    }
    const n = context.svids.length;
    let out = `Received ${n} X509-SVID${n === 1 ? '' : 's'}.\n`;
    for (const s of context.svids) {
      out +=
        '\n' +
        block([
          ['SPIFFE ID', s.spiffeId],
          ['Hint', s.hint || undefined],
          ['Serial', s.serial],
          ['Valid from', iso(s.notBefore)],
          ['Valid until', withRelative(s.notAfter.getTime() / 1000)],
          ['Chain', `${s.chain.length} certificate${s.chain.length === 1 ? '' : 's'}`],
          ['Bundle', authorities(s.bundle)],
          ['Federated', context.federated.map(authorities)],
        ]);
    }
    if (files.length > 0) out += '\nWrote:\n' + files.map((f) => `  ${f}\n`).join('');
    ctx.io.out(out);
    return ExitCode.ok;
  },
};

/** The spire-agent `api fetch x509 -write` layout (numbered only when there are several SVIDs). */
async function writeX509Files(dir: string, context: ReceivedX509Context): Promise<string[]> {
  await ensureDir(dir);
  const written: string[] = [];
  const many = context.svids.length > 1;
  for (const [i, s] of context.svids.entries()) {
    const suffix = many ? `.${i}` : '';
    written.push(await writeFileExact(dir, `svid${suffix}.pem`, chainPem(s.chain), 0o644));
    written.push(await writeFileExact(dir, `svid${suffix}.key`, encodePem('PRIVATE KEY', s.keyPkcs8), 0o600));
    written.push(await writeFileExact(dir, `bundle${suffix}.pem`, s.bundle.toPem(), 0o644));
  }
  for (const b of context.federated) {
    written.push(await writeFileExact(dir, `federated-${b.trustDomain.name}.pem`, b.toPem(), 0o644));
  }
  return written;
}

export const apiFetchX509Command = apiCommand(apiFetchX509Spec);
