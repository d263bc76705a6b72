import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { failedPrecondition } from '../../common/errors.js';
import { X509Bundle } from '../../spiffe/bundle/index.js';
import type { TrustDomain } from '../../spiffe/id/index.js';
import { decodePem } from '../../spiffe/pem.js';

export interface UpstreamAuthorityConfig {
  /** PEM: the upstream CA certificate that signs our intermediates, optionally followed by its chain up to the root. */
  readonly certFile: string;
  /** PEM: the private key of the first certificate of certFile (PKCS#8). */
  readonly keyFile: string;
  /**
   * PEM: the upstream root certificate(s) relying parties trust. Default: the last certificate of certFile, if it is
   * self-signed.
   */
  readonly bundleFile?: string;
}

export interface UpstreamAuthority {
  /** DER of the upstream certificate that signs our CA. */
  readonly certificate: Uint8Array;
  readonly key: KeyObject;
  /** Certificates of certFile that are not roots (DER): they follow our intermediate in issued chains. */
  readonly chain: readonly Uint8Array[];
  /** The roots published in the bundle (DER). */
  readonly roots: readonly Uint8Array[];
}

/**
 * Reads the upstream authority from its PEM files. Every problem is FAILED_PRECONDITION naming the file (never the
 * key): unreadable files, no certificate, a first certificate that is not a CA, a key that does not match it, no roots.
 */
export async function loadUpstreamAuthority(
  cfg: UpstreamAuthorityConfig,
  trustDomain: TrustDomain,
): Promise<UpstreamAuthority> {
  const certPem = await readText(cfg.certFile, 'upstreamAuthority.certFile');
  const certs = certificatesOf(certPem, cfg.certFile);
  if (certs.length === 0) {
    throw failedPrecondition(`upstreamAuthority.certFile ${JSON.stringify(cfg.certFile)} contains no certificate`);
  }
  const signing = certs[0]!;
  if (!signing.x509.ca) {
    throw failedPrecondition(
      `upstreamAuthority.certFile ${JSON.stringify(cfg.certFile)}: the first certificate is not a CA certificate`,
    );
  }
  const key = await readKey(cfg.keyFile);
  if (!signing.x509.checkPrivateKey(key)) {
    throw failedPrecondition(
      `upstreamAuthority.keyFile ${JSON.stringify(cfg.keyFile)} does not match the first certificate of ` +
        `upstreamAuthority.certFile ${JSON.stringify(cfg.certFile)}`,
    );
  }
  let roots: Uint8Array[];
  if (cfg.bundleFile !== undefined) {
    const text = await readText(cfg.bundleFile, 'upstreamAuthority.bundleFile');
    try {
      roots = [...X509Bundle.parsePem(trustDomain, text).x509Authorities];
    } catch (cause) {
      throw failedPrecondition(
        `upstreamAuthority.bundleFile ${JSON.stringify(cfg.bundleFile)} is not a PEM certificate bundle`,
        { cause },
      );
    }
    if (roots.length === 0) {
      throw failedPrecondition(
        `upstreamAuthority.bundleFile ${JSON.stringify(cfg.bundleFile)} contains no certificate`,
      );
    }
  } else {
    const last = certs[certs.length - 1]!;
    if (!isSelfSigned(last.x509)) {
      throw failedPrecondition(
        `upstreamAuthority.bundleFile is required: upstreamAuthority.certFile ${JSON.stringify(cfg.certFile)} ` +
          'does not end with a self-signed root',
      );
    }
    roots = [last.der];
  }
  return {
    certificate: signing.der,
    key,
    chain: certs.filter((c) => !isSelfSigned(c.x509)).map((c) => c.der),
    roots,
  };
}

/** True when the certificate names itself as issuer and its signature verifies with its own key. */
export function isSelfSigned(cert: X509Certificate): boolean {
  try {
    return cert.issuer === cert.subject && cert.verify(cert.publicKey);
  } catch {
    return false;
  }
}

async function readText(file: string, setting: string): Promise<string> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (err) {
    throw failedPrecondition(
      `${setting} ${JSON.stringify(file)} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
}

async function readKey(file: string): Promise<KeyObject> {
  let pem: Buffer;
  try {
    pem = await fs.readFile(file);
  } catch (err) {
    throw failedPrecondition(
      `upstreamAuthority.keyFile ${JSON.stringify(file)} cannot be read ` +
        `(${(err as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
  try {
    return createPrivateKey({ key: pem, format: 'pem' });
  } catch {
    throw failedPrecondition(`upstreamAuthority.keyFile ${JSON.stringify(file)} is not a PEM private key`);
  } finally {
    pem.fill(0);
  }
}

function certificatesOf(pem: string, file: string): { der: Uint8Array; x509: X509Certificate }[] {
  try {
    return decodePem(pem)
      .filter((b) => b.type === 'CERTIFICATE')
      .map((b) => ({ der: b.der, x509: new X509Certificate(b.der) }));
  } catch (cause) {
    throw failedPrecondition(`upstreamAuthority.certFile ${JSON.stringify(file)} holds a malformed certificate`, {
      cause,
    });
  }
}
