import 'reflect-metadata';
import { KeyObject, webcrypto } from 'node:crypto';
import {
  AuthorityKeyIdentifierExtension,
  BasicConstraintsExtension,
  KeyUsageFlags,
  KeyUsagesExtension,
  Name,
  SubjectAlternativeNameExtension,
  SubjectKeyIdentifierExtension,
  X509CertificateGenerator,
  type Extension,
} from '@peculiar/x509';
import { KeyInvalid, X509IssueInvalid, X509SvidInvalid } from '../errors.js';
import { TrustDomain } from '../id/index.js';
import { KU, parseCertificate, type CertificateInfo } from './certificate-info.js';
import { bigintToBytes } from './der.js';
import { encodePublicKey, samePublicKey } from './public-key.js';
import { encodeSerial, randomSerial } from './serial.js';
import { BACKDATE_SECONDS } from './signer.js';

export interface CreateCaCertificateParams {
  readonly trustDomain: TrustDomain;
  /** Public key of the new CA (EC P-256/P-384, RSA ≥ 2048 or Ed25519). */
  readonly publicKey: KeyObject;
  /** The key that signs, and the parent CA certificate (DER) it belongs to; no certificate = self-signed root. */
  readonly signer: { readonly key: KeyObject; readonly certificate?: Uint8Array };
  readonly now: Date;
  readonly ttlSeconds: number;
  /** Default: 128 random bits. */
  readonly serial?: bigint;
  readonly pathLenConstraint?: number;
  /** Subject DN (RFC 4514-like, in sequence order). Default: `C=US, O=Tessera, serialNumber=<serial>`. */
  readonly subject?: string;
}

const CA_KEY_USAGE = KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign;

/**
 * Creates a signing (CA) certificate for a trust domain — cold path, through @peculiar/x509 and WebCrypto. Profile:
 * basicConstraints CA:true (critical, optional pathLenConstraint), keyUsage keyCertSign|cRLSign (critical), URI SAN
 * `spiffe://<td>` (no path), SKI (SHA-1 of the key); with a parent: issuer = parent subject, AKI = parent SKI and
 * notAfter capped at the parent's. notBefore = now − 10 s. Returns DER.
 */
export async function createCaCertificate(params: CreateCaCertificateParams): Promise<Uint8Array<ArrayBuffer>> {
  const { trustDomain, publicKey, signer, now, ttlSeconds, pathLenConstraint } = params;
  if (!(trustDomain instanceof TrustDomain)) throw new TypeError('trustDomain must be a TrustDomain');
  if (!(publicKey instanceof KeyObject)) throw new TypeError('publicKey must be a KeyObject');
  if (!(signer?.key instanceof KeyObject) || signer.key.type !== 'private') {
    throw new TypeError('signer.key must be a private KeyObject');
  }
  if (!(now instanceof Date) || Number.isNaN(now.getTime())) throw new TypeError('now must be a valid Date');
  if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds <= 0) {
    throw new X509IssueInvalid('ttl', 'ttlSeconds must be a positive integer');
  }
  if (pathLenConstraint !== undefined && (!Number.isSafeInteger(pathLenConstraint) || pathLenConstraint < 0)) {
    throw new X509IssueInvalid('path-len', 'pathLenConstraint must be a non-negative integer');
  }
  const key = encodePublicKey(publicKey);
  const serial = params.serial === undefined ? randomSerial().value : encodeSerial(params.serial).value;

  const nowMs = Math.floor(now.getTime() / 1000) * 1000;
  let notAfterMs = nowMs + ttlSeconds * 1000;
  let parent: CertificateInfo | undefined;
  if (signer.certificate !== undefined) {
    parent = parseParent(signer.certificate);
    if (!samePublicKey(signer.key, parent.publicKey())) {
      throw new KeyInvalid('signer-key-mismatch', 'signer.key does not match the parent CA certificate');
    }
    notAfterMs = Math.min(notAfterMs, parent.notAfter.getTime());
    if (notAfterMs <= nowMs) throw new X509IssueInvalid('parent-expired', 'the parent CA certificate has expired');
  } else if (!samePublicKey(signer.key, publicKey)) {
    throw new KeyInvalid('signer-key-mismatch', 'a self-signed CA must be signed by its own key');
  }

  const subject = params.subject ?? `C=US, O=Tessera, 2.5.4.5=${serial}`;
  const extensions: Extension[] = [
    new BasicConstraintsExtension(true, pathLenConstraint, true),
    new KeyUsagesExtension(CA_KEY_USAGE, true),
    new SubjectKeyIdentifierExtension(hex(key.keyId)),
    new SubjectAlternativeNameExtension([{ type: 'url', value: trustDomain.idString() }], false),
  ];
  if (parent) {
    const parentKeyId = parent.subjectKeyId ?? encodePublicKey(parent.spki).keyId;
    extensions.push(new AuthorityKeyIdentifierExtension(hex(parentKeyId), false));
  }
  const { signingKey, signingAlgorithm } = await toWebCrypto(signer.key);
  const cert = await X509CertificateGenerator.create(
    {
      serialNumber: hex(bigintToBytes(serial)),
      subject,
      issuer: parent ? new Name(parent.subjectRaw.slice()) : subject,
      notBefore: new Date(nowMs - BACKDATE_SECONDS * 1000),
      notAfter: new Date(notAfterMs),
      publicKey: key.spki.slice(),
      signingKey,
      signingAlgorithm,
      extensions,
    },
    webcrypto as unknown as Crypto,
  );
  return new Uint8Array(cert.rawData);
}

function parseParent(der: Uint8Array): CertificateInfo {
  let info: CertificateInfo;
  try {
    info = parseCertificate(der);
  } catch (err) {
    if (err instanceof X509SvidInvalid) {
      throw new X509IssueInvalid('parent-certificate', 'the parent CA certificate cannot be decoded', { cause: err });
    }
    throw err;
  }
  if (!info.basicConstraints?.ca) {
    throw new X509IssueInvalid('parent-not-ca', 'the parent certificate must have basicConstraints CA:true');
  }
  if (info.keyUsage !== undefined && !(info.keyUsage & KU.keyCertSign)) {
    throw new X509IssueInvalid('parent-key-cert-sign', 'the parent certificate must have the keyCertSign key usage');
  }
  return info;
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

async function toWebCrypto(key: KeyObject): Promise<{ signingKey: CryptoKey; signingAlgorithm: Algorithm }> {
  const pkcs8 = key.export({ type: 'pkcs8', format: 'der' });
  let importAlg: Parameters<typeof webcrypto.subtle.importKey>[2];
  let signingAlgorithm: Algorithm;
  switch (key.asymmetricKeyType) {
    case 'ec': {
      const curve = key.asymmetricKeyDetails?.namedCurve;
      const [namedCurve, hash] =
        curve === 'prime256v1' ? ['P-256', 'SHA-256'] : curve === 'secp384r1' ? ['P-384', 'SHA-384'] : [];
      if (!namedCurve) throw new KeyInvalid('key-type', `unsupported CA curve ${JSON.stringify(curve)}`);
      importAlg = { name: 'ECDSA', namedCurve };
      signingAlgorithm = { name: 'ECDSA', hash } as Algorithm;
      break;
    }
    case 'rsa':
      importAlg = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
      signingAlgorithm = { name: 'RSASSA-PKCS1-v1_5' };
      break;
    case 'ed25519':
      importAlg = { name: 'Ed25519' };
      signingAlgorithm = { name: 'Ed25519' };
      break;
    default:
      throw new KeyInvalid('key-type', `unsupported CA key type ${JSON.stringify(key.asymmetricKeyType)}`);
  }
  const signingKey = await webcrypto.subtle.importKey('pkcs8', pkcs8, importAlg, false, ['sign']);
  return { signingKey: signingKey as CryptoKey, signingAlgorithm };
}
