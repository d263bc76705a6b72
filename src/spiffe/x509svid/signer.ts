import { KeyObject, sign as cryptoSign } from 'node:crypto';
import { KeyInvalid, X509IssueInvalid, X509SvidInvalid } from '../errors.js';
import { SpiffeId, type TrustDomain } from '../id/index.js';
import { KU, parseCertificate, type CertificateInfo } from './certificate-info.js';
import {
  ascii,
  assemble,
  encodeTime,
  Scratch,
  node,
  TAG_BIT_STRING,
  TAG_OCTET_STRING,
  TAG_SEQUENCE,
  type DerNode,
} from './der.js';
import { validateDnsName } from './dns-name.js';
import { leafTemplate, type LeafTemplate } from './leaf-template.js';
import { encodePublicKey, samePublicKey } from './public-key.js';
import { encodeSerial, randomSerial } from './serial.js';
import { signatureAlgorithmFor, type SignatureAlgorithm } from './signature-algorithm.js';

/** notBefore is backdated by this much to absorb clock skew between issuer and relying parties. */
export const BACKDATE_SECONDS = 10;

export interface X509SvidSignerParams {
  /** The signing CA certificate, DER. */
  readonly caCertificate: Uint8Array;
  /** Its private key. */
  readonly caKey: KeyObject;
}

export interface SignX509SvidParams {
  readonly spiffeId: SpiffeId;
  /** The workload's public key: a KeyObject or SubjectPublicKeyInfo DER. */
  readonly publicKey: KeyObject | Uint8Array;
  readonly now: Date;
  readonly ttlSeconds: number;
  readonly dnsNames?: readonly string[];
  /** Chosen serial; default: 128 random bits. */
  readonly serial?: bigint;
}

export interface SignedX509Svid {
  readonly der: Uint8Array<ArrayBuffer>;
  readonly serial: bigint;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

const SAN_URI = 0x86; // [6] IA5String
const SAN_DNS = 0x82; // [2] IA5String
const ZERO = Uint8Array.of(0); // BIT STRING unused-bits octet

/**
 * Issues leaf X509-SVIDs on the hot path. The CA certificate is decoded once and every leaf-independent part of the
 * TBSCertificate is encoded once (@peculiar/asn1-schema); per leaf only the serial, validity, SPKI, SKI and SAN are
 * assembled, then the TBS is signed with `crypto.sign` (architecture §8).
 *
 * Leaf profile: subject `C=US, O=Tessera`; SAN = the SPIFFE ID (one URI) + DNS names, not critical (subject is not
 * empty); basicConstraints CA:false and keyUsage digitalSignature|keyEncipherment|keyAgreement, both critical;
 * extKeyUsage serverAuth+clientAuth; SKI (SHA-1 of the key) and AKI (the CA's SKI); notBefore = now − 10 s,
 * notAfter = now + ttl capped at the CA's notAfter.
 */
export class X509SvidSigner {
  readonly #caKey: KeyObject;
  readonly #algorithm: SignatureAlgorithm;
  readonly #template: LeafTemplate;
  readonly #issuer: Uint8Array;
  readonly #caNotAfterMs: number;
  readonly #trustDomain: TrustDomain | undefined;
  readonly #scratch = new Scratch();
  // One-entry caches: leaves signed in the same second share both encoded times.
  readonly #notBefore = { ms: NaN, der: new Uint8Array() };
  readonly #notAfter = { ms: NaN, der: new Uint8Array() };

  private constructor(caKey: KeyObject, ca: CertificateInfo, algorithm: SignatureAlgorithm, trustDomain?: TrustDomain) {
    this.#caKey = caKey;
    this.#algorithm = algorithm;
    this.#issuer = new Uint8Array(ca.subjectRaw);
    this.#caNotAfterMs = ca.notAfter.getTime();
    this.#trustDomain = trustDomain;
    this.#template = leafTemplate(ca.subjectKeyId ?? encodePublicKey(ca.spki).keyId);
  }

  /**
   * Checks that `caCertificate` can issue SVIDs (CA:true, keyCertSign when key usage is present) and that `caKey` is
   * its private key. When the CA carries a SPIFFE ID, leaves must be in its trust domain.
   */
  static create(params: X509SvidSignerParams): X509SvidSigner {
    const { caCertificate, caKey } = params;
    if (!(caKey instanceof KeyObject) || caKey.type !== 'private') {
      throw new TypeError('caKey must be a private KeyObject');
    }
    let ca: CertificateInfo;
    try {
      ca = parseCertificate(caCertificate);
    } catch (err) {
      if (err instanceof X509SvidInvalid) {
        throw new X509IssueInvalid('ca-certificate', 'the CA certificate cannot be decoded', { cause: err });
      }
      throw err;
    }
    if (!ca.basicConstraints?.ca) {
      throw new X509IssueInvalid('ca-not-ca', 'the signing certificate must have basicConstraints CA:true');
    }
    if (ca.keyUsage !== undefined && !(ca.keyUsage & KU.keyCertSign)) {
      throw new X509IssueInvalid('ca-key-cert-sign', 'the signing certificate must have the keyCertSign key usage');
    }
    if (!samePublicKey(caKey, ca.publicKey())) {
      throw new KeyInvalid('ca-key-mismatch', 'the CA key does not match the CA certificate');
    }
    let trustDomain: TrustDomain | undefined;
    if (ca.uris.length === 1 && ca.uris[0]!.startsWith('spiffe://')) {
      trustDomain = SpiffeId.parse(ca.uris[0]!).trustDomain;
    }
    return new X509SvidSigner(caKey, ca, signatureAlgorithmFor(caKey), trustDomain);
  }

  /** The trust domain of the CA's SPIFFE ID, if it has one. */
  get trustDomain(): TrustDomain | undefined {
    return this.#trustDomain;
  }

  sign(params: SignX509SvidParams): SignedX509Svid {
    const { spiffeId, publicKey, now, ttlSeconds, dnsNames = [], serial } = params;
    if (!(spiffeId instanceof SpiffeId)) throw new TypeError('spiffeId must be a SpiffeId');
    if (!(now instanceof Date) || Number.isNaN(now.getTime())) throw new TypeError('now must be a valid Date');
    if (spiffeId.isTrustDomainId()) {
      throw new X509IssueInvalid('leaf-root-path', 'a leaf SVID SPIFFE ID must have a non-root path');
    }
    if (this.#trustDomain && !spiffeId.memberOf(this.#trustDomain)) {
      throw new X509IssueInvalid(
        'trust-domain-mismatch',
        `SPIFFE ID ${JSON.stringify(spiffeId.toString())} is not in the CA's trust domain ` +
          JSON.stringify(this.#trustDomain.name),
      );
    }
    if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds <= 0) {
      throw new X509IssueInvalid('ttl', 'ttlSeconds must be a positive integer');
    }
    const nowMs = Math.floor(now.getTime() / 1000) * 1000;
    const notBeforeMs = nowMs - BACKDATE_SECONDS * 1000;
    const notAfterMs = Math.min(nowMs + ttlSeconds * 1000, this.#caNotAfterMs);
    if (notAfterMs <= nowMs) throw new X509IssueInvalid('ca-expired', 'the CA certificate has expired');

    const key = encodePublicKey(publicKey);
    const sn = serial === undefined ? randomSerial() : encodeSerial(serial);

    const names: DerNode[] = [node(SAN_URI, ascii(spiffeId.toString()))];
    for (const dns of dnsNames) {
      validateDnsName(dns);
      names.push(node(SAN_DNS, ascii(dns)));
    }
    const t = this.#template;
    const alg = this.#algorithm;
    const tbs = this.#scratch.assemble(
      node(
        TAG_SEQUENCE,
        t.version,
        sn.der,
        alg.der,
        this.#issuer,
        node(TAG_SEQUENCE, cachedTime(this.#notBefore, notBeforeMs), cachedTime(this.#notAfter, notAfterMs)),
        t.subject,
        key.spki,
        node(
          0xa3, // [3] EXPLICIT Extensions
          node(
            TAG_SEQUENCE,
            ...t.fixedExtensions,
            node(TAG_SEQUENCE, t.skiOid, node(TAG_OCTET_STRING, node(TAG_OCTET_STRING, key.keyId))),
            node(TAG_SEQUENCE, t.sanOid, node(TAG_OCTET_STRING, node(TAG_SEQUENCE, ...names))),
          ),
        ),
      ),
    );
    const signature = cryptoSign(alg.hash, tbs, this.#caKey);
    const der = assemble(node(TAG_SEQUENCE, tbs, alg.der, node(TAG_BIT_STRING, ZERO, signature)));
    return {
      der,
      serial: sn.value,
      notBefore: new Date(notBeforeMs),
      notAfter: new Date(notAfterMs),
    };
  }
}

function cachedTime(cache: { ms: number; der: Uint8Array }, ms: number): Uint8Array {
  if (cache.ms !== ms) {
    cache.der = encodeTime(new Date(ms));
    cache.ms = ms;
  }
  return cache.der;
}
