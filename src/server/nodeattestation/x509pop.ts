import 'reflect-metadata';
import { createHash, randomBytes, X509Certificate as NodeX509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as px from '@peculiar/x509';
import type { Clock } from '../../common/clock.js';
import { invalidArgument, permissionDenied } from '../../common/errors.js';
import { verifyX509PopSignature, X509POP_NONCE_BYTES, x509popScheme } from '../../common/x509pop.js';
import { SpiffeId, type TrustDomain } from '../../spiffe/id/index.js';
import { decodePem } from '../../spiffe/pem.js';
import { certificateParts, splitDer } from '../../spiffe/x509svid/der-reader.js';
import { buildPath, MAX_SIGNATURE_CHECKS } from '../../spiffe/x509svid/path-builder.js';
import type { Selector } from '../datastore/index.js';
import type { NodeAttestation, NodeAttestor } from './attestor.js';

export const X509POP_ATTESTOR = 'x509pop';

/** Most certificates accepted in a presented chain (leaf included), and the longest path built. */
export const MAX_X509POP_CHAIN = 8;
/** Largest payload accepted, in bytes. */
export const MAX_X509POP_PAYLOAD = 64 * 1024;

export interface X509PopAttestorConfig {
  readonly trustDomain: TrustDomain;
  /** The trust anchors: PEM text with one or more CERTIFICATE blocks (nodeAttestors.x509pop.caBundleFile). */
  readonly caBundlePem: string;
  readonly clock: Clock;
}

/** Reads nodeAttestors.x509pop.caBundleFile. Throws (at start) when the file is unreadable or holds no certificate. */
export function readX509PopCaBundle(file: string): string {
  const text = readFileSync(file, 'utf8');
  parseAnchors(text);
  return text;
}

const OID_BASIC_CONSTRAINTS = '2.5.29.19';
const OID_KEY_USAGE = '2.5.29.15';
const OID_EXT_KEY_USAGE = '2.5.29.37';
const OID_SAN = '2.5.29.17';
const OID_NAME_CONSTRAINTS = '2.5.29.30';
/** Critical extensions we process; any other critical extension fails validation (RFC 5280 §4.2). */
const HANDLED_CRITICAL = new Set([OID_BASIC_CONSTRAINTS, OID_KEY_USAGE, OID_EXT_KEY_USAGE, OID_SAN]);

interface Cert {
  readonly der: Uint8Array;
  readonly subjectRaw: Uint8Array;
  readonly issuerRaw: Uint8Array;
  readonly spki: Uint8Array;
  readonly node: NodeX509Certificate;
  readonly parsed: px.X509Certificate;
  readonly ca: boolean;
  readonly pathLen: number | undefined;
  /** Key usage bits (px.KeyUsageFlags); undefined = no extension. */
  readonly keyUsage: number | undefined;
  readonly sha1: string;
}

/**
 * `x509pop` (architecture §4): the node proves possession of a key whose certificate chains to a configured CA.
 *
 * 1. Payload: the node's certificate chain, concatenated DER, leaf first (intermediates optional, in any order).
 * 2. RFC 5280 path validation from the leaf to one of the configured anchors at the current time, with the shared
 *    bounded search of src/spiffe/x509svid/path-builder.ts (at most MAX_SIGNATURE_CHECKS signature checks; an
 *    unauthenticated caller cannot make it cost more): each issuer names
 *    and signs its child (node:crypto), is a CA (basicConstraints CA:true), has keyCertSign when key usage is present,
 *    respects pathLenConstraint, has no name constraints (unsupported, so refused); every certificate, anchors included,
 *    is within its validity period and has no critical extension other than basicConstraints, keyUsage,
 *    extKeyUsage and subjectAltName; SHA-1 signatures are refused. The leaf must carry keyUsage digitalSignature.
 * 3. Challenge: 32 random bytes; the answer is a signature by the leaf's key as src/common/x509pop.ts specifies.
 *
 * Agent ID `spiffe://<td>/tessera/agent/x509pop/<SHA-1 of the leaf DER, lowercase hex>`. Node selectors (type
 * `x509pop`): `subject:cn:<CN>`, `ca:fingerprint:<SHA-1 hex>` for each certificate of the validated path above the
 * leaf (intermediates and the anchor), `san:dns:<name>`, `san:uri:<uri>`.
 */
export function createX509PopAttestor(config: X509PopAttestorConfig): NodeAttestor {
  const anchors = parseAnchors(config.caBundlePem);
  return {
    name: X509POP_ATTESTOR,
    async attest(start, challenge): Promise<NodeAttestation> {
      const chain = parseChain(start.payload);
      const leaf = chain[0]!;
      const now = config.clock.now();
      const path = validatePath(leaf, chain.slice(1), anchors, now);
      const publicKey = leaf.node.publicKey;
      if (!x509popScheme(publicKey)) {
        throw invalidArgument(
          `node certificate key type ${JSON.stringify(publicKey.asymmetricKeyType)} is not supported by x509pop`,
        );
      }
      const nonce = randomBytes(X509POP_NONCE_BYTES);
      const answer = await challenge(nonce);
      if (!verifyX509PopSignature(publicKey, config.trustDomain.name, nonce, answer)) {
        throw permissionDenied('x509pop challenge response is not a valid signature by the node certificate key');
      }
      return {
        agentId: SpiffeId.fromSegments(config.trustDomain, 'tessera', 'agent', X509POP_ATTESTOR, leaf.sha1),
        selectors: selectorsOf(leaf, path.slice(1)),
      };
    },
  };
}

function parseAnchors(pem: string): Cert[] {
  let blocks;
  try {
    blocks = decodePem(pem);
  } catch (err) {
    throw new Error(`x509pop CA bundle is not valid PEM: ${(err as Error).message}`, { cause: err });
  }
  const anchors = blocks.filter((b) => b.type === 'CERTIFICATE').map((b, i) => {
    try {
      return parseCert(b.der);
    } catch (err) {
      throw new Error(`x509pop CA bundle certificate ${i} cannot be parsed`, { cause: err });
    }
  });
  if (anchors.length === 0) throw new Error('x509pop CA bundle holds no CERTIFICATE block');
  return anchors;
}

function parseChain(payload: Buffer): Cert[] {
  if (payload.length === 0) throw invalidArgument('x509pop payload is empty: expected the node certificate chain');
  if (payload.length > MAX_X509POP_PAYLOAD) {
    throw invalidArgument(`x509pop payload is larger than ${MAX_X509POP_PAYLOAD} bytes`);
  }
  let ders: Uint8Array[];
  try {
    ders = splitDer(payload);
  } catch (err) {
    throw invalidArgument('x509pop payload is not a sequence of DER certificates', { cause: err });
  }
  if (ders.length > MAX_X509POP_CHAIN) {
    throw invalidArgument(`x509pop chain has ${ders.length} certificates; at most ${MAX_X509POP_CHAIN} are accepted`);
  }
  return ders.map((der, i) => {
    try {
      return parseCert(der);
    } catch (err) {
      throw invalidArgument(`x509pop certificate ${i} cannot be parsed`, { cause: err });
    }
  });
}

function parseCert(der: Uint8Array): Cert {
  const node = new NodeX509Certificate(der);
  const parsed = new px.X509Certificate(new Uint8Array(der));
  const bc = parsed.getExtension(px.BasicConstraintsExtension);
  const ku = parsed.getExtension(px.KeyUsagesExtension);
  const parts = certificateParts(der);
  return {
    der,
    subjectRaw: parts.subject,
    issuerRaw: parts.issuer,
    spki: parts.spki,
    node,
    parsed,
    ca: bc?.ca === true,
    pathLen: bc?.ca ? bc.pathLength : undefined,
    keyUsage: ku ? ku.usages : undefined,
    sha1: createHash('sha1').update(der).digest('hex'),
  };
}

function validatePath(leaf: Cert, intermediates: Cert[], anchors: Cert[], now: Date): Cert[] {
  const leafProblem = certProblem(leaf, now, 'node certificate');
  if (leafProblem) throw permissionDenied(leafProblem);
  if (leaf.keyUsage === undefined || (leaf.keyUsage & px.KeyUsageFlags.digitalSignature) === 0) {
    throw permissionDenied('node certificate must have the digitalSignature key usage');
  }
  const search = buildPath(leaf, {
    anchors,
    intermediates,
    maxLength: MAX_X509POP_CHAIN,
    signedBy: issued,
    issuerProblem: (issuer, path) => issuerProblem(issuer, path.length - 1, now),
  });
  if (search.budgetExceeded) {
    throw permissionDenied(
      `node certificate chain is refused: no path to a configured x509pop CA within ${MAX_SIGNATURE_CHECKS} signature checks`,
    );
  }
  if (!search.path) {
    throw permissionDenied(
      search.problem
        ? `node certificate chain is refused: ${search.problem}`
        : 'node certificate does not chain to a configured x509pop CA',
    );
  }
  return search.path;
}

/** `issuer` names and signed `child`, with an algorithm we accept. */
function issued(child: Cert, issuer: Cert): boolean {
  if (usesSha1(child)) return false;
  try {
    return child.node.checkIssued(issuer.node) && child.node.verify(issuer.node.publicKey);
  } catch {
    return false;
  }
}

function usesSha1(cert: Cert): boolean {
  const alg = cert.parsed.signatureAlgorithm as Algorithm & { hash?: { name?: string } };
  return alg.hash?.name === 'SHA-1';
}

/** Why `issuer` may not sign below `below` intermediates, or undefined. */
function issuerProblem(issuer: Cert, below: number, now: Date): string | undefined {
  if (!issuer.ca) return `issuer ${issuer.sha1} is not a CA`;
  if (issuer.keyUsage !== undefined && (issuer.keyUsage & px.KeyUsageFlags.keyCertSign) === 0) {
    return `issuer ${issuer.sha1} lacks the keyCertSign key usage`;
  }
  if (issuer.pathLen !== undefined && below > issuer.pathLen) {
    return `issuer ${issuer.sha1} allows ${issuer.pathLen} intermediate(s) below it, the chain has ${below}`;
  }
  if (issuer.parsed.extensions.some((e) => e.type === OID_NAME_CONSTRAINTS)) {
    return `issuer ${issuer.sha1} has name constraints, which x509pop does not support`;
  }
  return certProblem(issuer, now, `issuer ${issuer.sha1}`);
}

function certProblem(cert: Cert, now: Date, what: string): string | undefined {
  if (now.getTime() < cert.parsed.notBefore.getTime()) {
    return `${what} is not valid before ${cert.parsed.notBefore.toISOString()}`;
  }
  if (now.getTime() > cert.parsed.notAfter.getTime()) {
    return `${what} expired at ${cert.parsed.notAfter.toISOString()}`;
  }
  const unhandled = cert.parsed.extensions.filter((e) => e.critical && !HANDLED_CRITICAL.has(e.type));
  if (unhandled.length > 0) {
    return `${what} has an unhandled critical extension (${unhandled.map((e) => e.type).join(', ')})`;
  }
  return undefined;
}

function selectorsOf(leaf: Cert, above: Cert[]): Selector[] {
  const values = new Set<string>();
  for (const cn of leaf.parsed.subjectName.getField('CN')) values.add(`subject:cn:${cn}`);
  for (const cert of above) values.add(`ca:fingerprint:${cert.sha1}`);
  const san = leaf.parsed.getExtension(px.SubjectAlternativeNameExtension);
  for (const name of san?.names.items ?? []) {
    if (name.type === 'dns') values.add(`san:dns:${name.value}`);
    else if (name.type === 'url') values.add(`san:uri:${name.value}`);
  }
  return [...values].map((value) => ({ type: X509POP_ATTESTOR, value }));
}
