import { createPrivateKey, type KeyObject } from 'node:crypto';
import { KeyInvalid, X509SvidInvalid } from '../errors.js';
import type { SpiffeId } from '../id/index.js';
import { decodePem } from '../pem.js';
import { parseCertificate, type CertificateInfo } from './certificate-info.js';
import { splitDer } from './der-reader.js';
import { checkLeaf, checkSigningCertificate } from './leaf-checks.js';
import { samePublicKey } from './public-key.js';

/** An X509-SVID as a workload holds it: the leaf's SPIFFE ID, the chain (leaf first, DER) and optionally its key. */
export interface X509Svid {
  readonly spiffeId: SpiffeId;
  readonly certificates: Uint8Array[];
  readonly privateKey?: KeyObject;
}

/** Private key types an SVID may carry (as go-spiffe: RSA, ECDSA, Ed25519). */
const KEY_TYPES = new Set(['rsa', 'ec', 'ed25519']);

/**
 * Reads an X509-SVID from DER: the chain as one buffer of concatenated certificates or as a list, and optionally the
 * leaf's PKCS#8 private key. Applies go-spiffe Parse's checks in its order: leaf SPIFFE ID (one URI SAN, valid, non-root
 * path), leaf CA flag, digitalSignature, keyCertSign, cRLSign; every following certificate CA:true with keyCertSign;
 * then the key: supported type and matching the leaf. Validity dates and signatures are NOT checked (see
 * {@link verifyX509Svid}). Throws X509SvidInvalid for certificate problems and KeyInvalid for key problems.
 */
export function parseX509Svid(chain: Uint8Array | readonly Uint8Array[], privateKeyPkcs8?: Uint8Array): X509Svid {
  const ders = chain instanceof Uint8Array ? splitChain(chain) : [...chain];
  const certs = ders.map((der) => parseCertificate(der));
  const key = privateKeyPkcs8 === undefined ? undefined : decodePrivateKey(privateKeyPkcs8);
  return build(certs, key);
}

/**
 * Reads an X509-SVID from PEM: `CERTIFICATE` blocks of `certPem` (leaf first; other block types are skipped) and the
 * first `PRIVATE KEY` (PKCS#8) block of `keyPem`. Both texts may be the same combined file.
 */
export function parseX509SvidPem(certPem: string, keyPem?: string): X509Svid {
  if (typeof certPem !== 'string') throw new TypeError('certPem must be a string');
  const certBlocks = pemBlocks(certPem, (rule, message, cause) => new X509SvidInvalid(rule, message, { cause }));
  const certs = certBlocks.filter((b) => b.type === 'CERTIFICATE').map((b) => parseCertificate(b.der));
  let key: KeyObject | null | undefined;
  if (keyPem !== undefined) {
    if (typeof keyPem !== 'string') throw new TypeError('keyPem must be a string');
    const block = pemBlocks(keyPem, (rule, message, cause) => new KeyInvalid(rule, message, { cause })).find(
      (b) => b.type === 'PRIVATE KEY',
    );
    key = block ? decodePrivateKey(block.der) : null;
  }
  return build(certs, key);
}

function pemBlocks(
  text: string,
  error: (rule: string, message: string, cause?: unknown) => Error,
): ReturnType<typeof decodePem> {
  let blocks: ReturnType<typeof decodePem>;
  try {
    blocks = decodePem(text);
  } catch (err) {
    throw error('malformed-pem', 'PEM block is not valid base64', err);
  }
  if (blocks.length === 0) throw error('no-pem-blocks', 'no PEM blocks found');
  return blocks;
}

function splitChain(buf: Uint8Array): Uint8Array[] {
  try {
    return splitDer(buf);
  } catch (err) {
    throw new X509SvidInvalid('malformed-certificate', 'certificate chain is not a sequence of DER certificates', {
      cause: err,
    });
  }
}

function decodePrivateKey(der: Uint8Array): KeyObject {
  if (!(der instanceof Uint8Array)) throw new TypeError('private key must be PKCS#8 DER bytes (Uint8Array)');
  try {
    return createPrivateKey({ key: Buffer.from(der.buffer, der.byteOffset, der.byteLength), format: 'der', type: 'pkcs8' });
  } catch (err) {
    throw new KeyInvalid('malformed-private-key', 'private key is not valid PKCS#8 DER', { cause: err });
  }
}

/** `key`: undefined = none asked for; null = asked for but none found. */
function build(certs: CertificateInfo[], key: KeyObject | null | undefined): X509Svid {
  if (certs.length === 0) throw new X509SvidInvalid('no-certificates', 'no certificates found');
  const leaf = certs[0]!;
  const spiffeId = checkLeaf(leaf);
  for (const cert of certs.slice(1)) checkSigningCertificate(cert, true);
  const certificates = certs.map((c) => new Uint8Array(c.der));
  if (key === undefined) return { spiffeId, certificates };
  if (key === null) throw new KeyInvalid('no-private-key', 'no private key found');
  if (!KEY_TYPES.has(key.asymmetricKeyType ?? '')) {
    throw new KeyInvalid('unsupported-key-type', `unsupported private key type ${JSON.stringify(key.asymmetricKeyType)}`);
  }
  let matches = false;
  try {
    matches = samePublicKey(key, leaf.publicKey());
  } catch {
    matches = false; // a leaf key node cannot load
  }
  if (!matches) throw new KeyInvalid('key-mismatch', 'leaf certificate does not match private key');
  return { spiffeId, certificates, privateKey: key };
}
