import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { adminCommand, integerFlag, requireFlag, type AdminCommandSpec } from '../../admin-command.js';
import { ExitCode, UsageError } from '../../command.js';
import { formatUnixSeconds } from '../../format.js';
import { encodePem } from '../../../spiffe/pem.js';

interface MintX509Response {
  chain: Buffer[];
  bundle_pem: string;
  serial: string;
  expires_at: number;
}

/** Larger than any ceiling a server policy takes; the server checks its own. */
const MAX_TTL = 2_147_483_647;

export const x509MintSpec: AdminCommandSpec = {
  name: 'mint',
  path: 'x509 mint',
  summary: 'mint an X509-SVID for any SPIFFE ID of the trust domain (operator use; audited)',
  synopsis: '--spiffe-id ID',
  description:
    'Mint an X509-SVID for a SPIFFE ID of this trust domain, with a fresh P-256 key generated here (the private key\n' +
    'never reaches the server), like spire-server x509 mint. Audited as x509_svid.minted. Prints the SVID, key and\n' +
    'bundle as PEM, or with --write DIR writes svid.pem, key.pem (mode 0600) and bundle.pem there.',
  options: {
    'spiffe-id': { type: 'string', value: 'ID', description: 'the SPIFFE ID, e.g. spiffe://example.org/ops/debug' },
    ttl: { type: 'string', value: 'SECONDS', description: "lifetime (default 1h, at most the server's worker ceiling)" },
    dns: { type: 'string', multiple: true, value: 'NAME', description: 'a DNS SAN' },
    write: { type: 'string', value: 'DIR', description: 'write svid.pem, key.pem and bundle.pem into DIR' },
  },
  async run(ctx) {
    const spiffeId = requireFlag(ctx.flags, 'spiffe-id', 'the SPIFFE ID to mint');
    const ttl = integerFlag(ctx.flags, 'ttl', 1, MAX_TTL) ?? 0;
    const dir = ctx.flags.string('write');
    if (dir === '') throw new UsageError('--write must name a directory');
    // The directory is made before minting, so a bad --write mints (and audits) nothing.
    if (dir !== undefined) attempt(dir, () => mkdirSync(dir, { recursive: true, mode: 0o700 }));
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const r = await ctx.admin.call<MintX509Response>('SvidService', 'MintX509Svid', {
      spiffe_id: spiffeId,
      public_key: publicKey.export({ format: 'der', type: 'spki' }),
      ttl_seconds: ttl,
      dns_names: ctx.flags.strings('dns'),
    });
    const svidPem = r.chain.map((der) => encodePem('CERTIFICATE', der)).join('');
    const keyPem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    if (dir !== undefined) {
      const files = { svid: join(dir, 'svid.pem'), key: join(dir, 'key.pem'), bundle: join(dir, 'bundle.pem') };
      attempt(dir, () => {
        // A fresh file, so an existing key.pem's wider mode is never kept.
        rmSync(files.key, { force: true });
        writeFileSync(files.key, keyPem, { mode: 0o600, flag: 'wx' });
        writeFileSync(files.svid, svidPem);
        writeFileSync(files.bundle, r.bundle_pem);
      });
      if (ctx.output === 'json') ctx.json({ spiffeId, serial: r.serial, expiresAt: r.expires_at, files });
      else {
        ctx.io.out(
          `Minted an X509-SVID for ${spiffeId} (serial ${r.serial}, expires ${formatUnixSeconds(r.expires_at)}).\n` +
            `Wrote ${files.svid}, ${files.key} and ${files.bundle}.\n`,
        );
      }
      return ExitCode.ok;
    }
    if (ctx.output === 'json') {
      ctx.json({ spiffeId, serial: r.serial, expiresAt: r.expires_at, svidPem, keyPem, bundlePem: r.bundle_pem });
    } else {
      ctx.io.out(`X509-SVID:\n${svidPem}\nPrivate key:\n${keyPem}\nRoot CAs:\n${r.bundle_pem}`);
    }
    return ExitCode.ok;
  },
};

function attempt(dir: string, fn: () => void): void {
  try {
    fn();
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new UsageError(`cannot write to --write ${dir}: ${reason}`);
  }
}

export const x509MintCommand = adminCommand(x509MintSpec);
