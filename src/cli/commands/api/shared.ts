import { randomBytes, X509Certificate } from 'node:crypto';
import { chmod, mkdir, open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { X509Bundle } from '../../../spiffe/bundle/index.js';
import { TrustDomain } from '../../../spiffe/id/index.js';
import { encodePem } from '../../../spiffe/pem.js';
import { parseX509Svid } from '../../../spiffe/x509svid/index.js';
import { CommandFailure } from '../../command.js';
import { formatUnixMs, plural } from '../../format.js';
import type { X509SvidResponse } from '../../workload-messages.js';

/** What the `api` commands show of one X509-SVID, checked as go-spiffe's client checks it. */
export interface ReceivedX509Svid {
  readonly spiffeId: string;
  readonly hint: string;
  /** DER, leaf first. */
  readonly chain: readonly Uint8Array[];
  /** PKCS#8 DER (checked to match the leaf). */
  readonly keyPkcs8: Uint8Array;
  /** The SVID's own trust domain bundle. */
  readonly bundle: X509Bundle;
  /** Leaf serial, lowercase hex without leading zeros. */
  readonly serial: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

export interface ReceivedX509Context {
  readonly svids: ReceivedX509Svid[];
  /** Federated bundles, sorted by trust domain. */
  readonly federated: X509Bundle[];
}

/**
 * Reads a FetchX509SVID message the way go-spiffe does (spiffe-notes.md §9): at least one SVID; each chain and
 * PKCS#8 key parsed and matched (the ID comes from the leaf's URI SAN); each `bundle` parsed as DER for the trust
 * domain of `spiffe_id`; each federated bundle keyed by `spiffe://td` or `td`. Anything else is a CommandFailure.
 */
export function readX509Context(m: X509SvidResponse): ReceivedX509Context {
  if (m.svids.length === 0) throw new CommandFailure('the Workload API sent no SVIDs in its X509-SVID response');
  const svids = m.svids.map((s, i): ReceivedX509Svid => {
    const which = `X509-SVID ${i}${s.spiffe_id ? ` (${s.spiffe_id})` : ''}`;
    const parsed = invalidAs(`the Workload API sent an invalid ${which}`, () =>
      parseX509Svid(s.x509_svid, s.x509_svid_key),
    );
    const bundle = invalidAs(`the Workload API sent an invalid bundle with ${which}`, () =>
      X509Bundle.parseDer(TrustDomain.parse(s.spiffe_id), s.bundle),
    );
    const leaf = certificateDates(parsed.certificates[0]!);
    return {
      spiffeId: parsed.spiffeId.toString(),
      hint: s.hint,
      chain: parsed.certificates,
      keyPkcs8: new Uint8Array(s.x509_svid_key),
      bundle,
      ...leaf,
    };
  });
  const federated = Object.entries(m.federated_bundles ?? {}).map(([key, der]) =>
    invalidAs(`the Workload API sent an invalid federated bundle for ${JSON.stringify(key)}`, () =>
      X509Bundle.parseDer(TrustDomain.parse(key), der),
    ),
  );
  federated.sort((a, b) => a.trustDomain.name.localeCompare(b.trustDomain.name));
  return { svids, federated };
}

/** Runs `fn`; a thrown error becomes a one-line CommandFailure `<what>: <reason>`. */
export function invalidAs<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw new CommandFailure(`${what}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

export function certificateDates(der: Uint8Array): { serial: string; notBefore: Date; notAfter: Date } {
  const cert = new X509Certificate(der);
  return {
    serial: BigInt('0x' + cert.serialNumber).toString(16),
    notBefore: new Date(cert.validFrom),
    notAfter: new Date(cert.validTo),
  };
}

export function iso(d: Date): string {
  return formatUnixMs(d.getTime()).replace(/\.\d{3}Z$/, 'Z');
}

export function authorities(bundle: X509Bundle): string {
  return `${bundle.trustDomain.name} (${plural(bundle.x509Authorities.length, 'authority', 'authorities')})`;
}

export function chainPem(chain: readonly Uint8Array[]): string {
  return chain.map((der) => encodePem('CERTIFICATE', der)).join('');
}

/** Makes `dir` (and parents) when missing; an existing non-directory is a CommandFailure. */
export async function ensureDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true, mode: 0o755 });
  } catch (err) {
    throw new CommandFailure(`cannot create directory ${dir}: ${errnoReason(err)}`);
  }
}

/**
 * Writes `data` to `dir/name` with exactly `mode`: into a new temp file in the same directory, created (O_EXCL) with
 * that mode and chmod-ed to it before any byte is written, then renamed over the target. A key file is therefore never
 * readable by others, not even briefly, and an existing looser file is replaced rather than written through.
 */
export async function writeFileExact(
  dir: string,
  name: string,
  data: string | Uint8Array,
  mode: number,
): Promise<string> {
  const target = join(dir, name);
  const temp = join(dir, `.${name}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const fh = await open(temp, 'wx', mode & 0o600);
    try {
      await fh.chmod(mode);
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(temp, target);
  } catch (err) {
    await rm(temp, { force: true }).catch(() => undefined);
    throw new CommandFailure(`cannot write ${target}: ${errnoReason(err)}`);
  }
  // rename keeps the temp file's mode; make sure (a umask cannot widen it, but chmod is cheap and exact).
  await chmod(target, mode).catch(() => undefined);
  return target;
}

function errnoReason(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  switch (e.code) {
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'ENOENT':
      return 'no such directory';
    case 'ENOTDIR':
      return 'not a directory';
    case 'EEXIST':
      return 'exists and is not a directory';
    case 'ENOSPC':
      return 'no space left on device';
    default:
      return (e.message ?? String(err)).split('\n')[0]!;
  }
}
