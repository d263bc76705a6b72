import { verify as cryptoVerify } from 'node:crypto';
import { SpiffeError, X509SvidExpired, X509SvidInvalid, X509SvidUntrusted } from '../errors.js';
import type { X509BundleSource } from '../bundle/source.js';
import type { SpiffeId } from '../id/index.js';
import { parseCertificate, type CertificateInfo, type NameSubtrees } from './certificate-info.js';
import { checkLeaf, checkSigningCertificate } from './leaf-checks.js';
import { buildPath, MAX_SIGNATURE_CHECKS } from './path-builder.js';
import { SIGNATURE_ALGORITHMS } from './signature-algorithm.js';

export interface VerifyX509SvidOptions {
  /** The time at which every certificate of the chain must be valid. */
  readonly now: Date;
}

export interface VerifiedX509Svid {
  readonly spiffeId: SpiffeId;
  /** The chain that was built, leaf first, ending with the bundle authority. */
  readonly chain: Uint8Array[];
}

/** Longest chain we build (leaf + intermediates + root). */
const MAX_CHAIN = 10;

/** Bundle authorities are decoded once per DER buffer. */
const authorityCache = new WeakMap<Uint8Array, CertificateInfo | null>();

/**
 * Verifies an X509-SVID chain as a relying party (X509-SVID §5): the leaf rules, then RFC 5280 path validation from the
 * leaf to an authority of the bundle of the LEAF's trust domain (never any other), intermediates taken from `chain`.
 * Every issuer must be a CA with keyCertSign (when key usage is present), within its pathLenConstraint and name
 * constraints (URI and DNS forms); every certificate must be valid at `now` and have no critical extension we do not
 * understand; signatures are checked with node:crypto (ECDSA, RSA PKCS#1 v1.5, Ed25519; SHA-1 is refused). The
 * search is path-builder.ts's: deduplicated candidates and at most MAX_SIGNATURE_CHECKS signature checks.
 *
 * Throws X509SvidInvalid (a rule broken), BundleNotFound (no bundle for the leaf's trust domain), X509SvidExpired
 * (outside a validity period) or X509SvidUntrusted (no path to an authority).
 */
export function verifyX509Svid(
  chain: readonly Uint8Array[],
  source: X509BundleSource,
  opts: VerifyX509SvidOptions,
): VerifiedX509Svid {
  if (!Array.isArray(chain) || chain.length === 0) {
    throw new X509SvidInvalid('empty-chain', 'certificate chain is empty');
  }
  if (!source || typeof source.getX509BundleForTrustDomain !== 'function') {
    throw new TypeError('source must be an X509BundleSource');
  }
  const now = opts?.now;
  if (!(now instanceof Date) || Number.isNaN(now.getTime())) throw new TypeError('opts.now must be a valid Date');

  const certs = chain.map((der) => parseCertificate(der));
  const leaf = certs[0]!;
  const spiffeId = checkLeaf(leaf);
  const bundle = source.getX509BundleForTrustDomain(spiffeId.trustDomain);
  const roots: CertificateInfo[] = [];
  for (const der of bundle.x509Authorities) {
    const info = authority(der);
    if (info) roots.push(info);
  }

  const leafProblem = validityProblem(leaf, now, 'leaf certificate') ?? criticalProblem(leaf);
  if (leafProblem) throw leafProblem;

  const search = buildPath(leaf, {
    anchors: roots,
    intermediates: certs.slice(1),
    maxLength: MAX_CHAIN,
    signedBy,
    issuerProblem: (issuer, path) => issuerProblem(issuer, path, now),
  });
  const path = search.path;
  if (!path) {
    if (search.budgetExceeded) {
      throw new X509SvidUntrusted(
        'path-search-budget',
        `no certification path found within ${MAX_SIGNATURE_CHECKS} signature checks`,
      );
    }
    throw (
      search.problem ??
      new X509SvidUntrusted(
        'unknown-authority',
        `certificate is not signed by an authority of trust domain ${JSON.stringify(spiffeId.trustDomain.name)}`,
      )
    );
  }
  return { spiffeId, chain: path.map((c) => c.der) };
}

function authority(der: Uint8Array): CertificateInfo | null {
  let info = authorityCache.get(der);
  if (info === undefined) {
    try {
      info = parseCertificate(der);
    } catch {
      info = null; // an authority we cannot decode cannot anchor a path
    }
    authorityCache.set(der, info);
  }
  return info;
}

/** Why `issuer` may not sign above `path` (RFC 5280 issuer rules, validity, name constraints), or undefined. */
function issuerProblem(issuer: CertificateInfo, path: readonly CertificateInfo[], now: Date): SpiffeError | undefined {
  try {
    checkSigningCertificate(issuer, false);
  } catch (err) {
    return err as SpiffeError;
  }
  const validity = validityProblem(issuer, now, 'signing certificate');
  if (validity) return validity;
  const critical = criticalProblem(issuer);
  if (critical) return critical;
  const below = path.length - 1; // intermediates between this issuer and the leaf
  const pathLen = issuer.basicConstraints?.pathLen;
  if (pathLen !== undefined && below > pathLen) {
    return new X509SvidInvalid(
      'path-len-exceeded',
      `signing certificate allows ${pathLen} intermediate(s) below it, the chain has ${below}`,
    );
  }
  if (issuer.nameConstraints) {
    const { permitted, excluded } = issuer.nameConstraints;
    if ((permitted?.other ?? 0) > 0 || (excluded?.other ?? 0) > 0) {
      return new X509SvidInvalid(
        'unsupported-name-constraint',
        'signing certificate has name constraints of a form other than DNS or URI',
      );
    }
    for (const cert of path) {
      const bad = nameConstraintViolation(cert, permitted, excluded);
      if (bad) return new X509SvidInvalid('name-constraints', `${bad} is outside the issuer's name constraints`);
    }
  }
  return undefined;
}

function signedBy(child: CertificateInfo, issuer: CertificateInfo): boolean {
  const alg = SIGNATURE_ALGORITHMS.get(child.signatureAlgorithm);
  if (!alg) return false;
  try {
    const key = issuer.publicKey();
    // Checked up front: node:crypto errors on mismatched key types can linger in OpenSSL's error queue.
    if (key.asymmetricKeyType !== alg.keyType) return false;
    return cryptoVerify(alg.hash, child.tbs, key, child.signature);
  } catch {
    return false; // a key node cannot load, or a malformed signature
  }
}

function validityProblem(cert: CertificateInfo, now: Date, what: string): SpiffeError | undefined {
  if (now.getTime() < cert.notBefore.getTime()) {
    return new X509SvidExpired('not-yet-valid', `${what} is not valid before ${cert.notBefore.toISOString()}`);
  }
  if (now.getTime() > cert.notAfter.getTime()) {
    return new X509SvidExpired('expired', `${what} expired at ${cert.notAfter.toISOString()}`);
  }
  return undefined;
}

function criticalProblem(cert: CertificateInfo): SpiffeError | undefined {
  if (cert.unhandledCritical.length === 0) return undefined;
  return new X509SvidInvalid(
    'unhandled-critical-extension',
    `certificate has an unhandled critical extension (${cert.unhandledCritical.join(', ')})`,
  );
}

/** The first SAN of `cert` that breaks the constraints, or undefined (RFC 5280 §4.2.1.10, DNS and URI forms). */
function nameConstraintViolation(
  cert: CertificateInfo,
  permitted: NameSubtrees | undefined,
  excluded: NameSubtrees | undefined,
): string | undefined {
  for (const dns of cert.dnsNames) {
    if (permitted && permitted.dns.length > 0 && !permitted.dns.some((c) => dnsMatches(dns, c))) return `DNS name ${dns}`;
    if (excluded?.dns.some((c) => dnsMatches(dns, c))) return `DNS name ${dns}`;
  }
  for (const uri of cert.uris) {
    const host = uriHost(uri);
    const fits = (c: string): boolean => host !== undefined && uriHostMatches(host, c);
    if (permitted && permitted.uri.length > 0 && !permitted.uri.some(fits)) return `URI ${uri}`;
    if (excluded?.uri.some((c) => host === undefined || fits(c))) return `URI ${uri}`;
  }
  return undefined;
}

function dnsMatches(name: string, constraint: string): boolean {
  const n = name.toLowerCase();
  const c = constraint.toLowerCase();
  if (c.length === 0) return true;
  if (c.startsWith('.')) return n.endsWith(c);
  return n === c || n.endsWith('.' + c);
}

function uriHostMatches(host: string, constraint: string): boolean {
  const h = host.toLowerCase();
  const c = constraint.toLowerCase();
  if (c.startsWith('.')) return h.endsWith(c);
  return h === c;
}

function uriHost(uri: string): string | undefined {
  const m = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/(?:[^@/?#]*@)?([^:/?#]*)/.exec(uri);
  return m?.[1] || undefined;
}
