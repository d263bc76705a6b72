import { createPublicKey, type KeyObject } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import {
  AuthorityKeyIdentifier,
  BasicConstraints,
  Certificate,
  ExtendedKeyUsage,
  KeyUsage,
  NameConstraints,
  SubjectAlternativeName,
  SubjectKeyIdentifier,
  type GeneralName,
} from '@peculiar/asn1-x509';
import { X509SvidInvalid } from '../errors.js';
import { certificateParts } from './der-reader.js';
import { OID } from './oids.js';

/** Key usage bits, bit n of the ASN.1 BIT STRING as 1 << n (same values as @peculiar/asn1-x509 KeyUsageFlags). */
export const KU = {
  digitalSignature: 1 << 0,
  keyEncipherment: 1 << 2,
  keyAgreement: 1 << 4,
  keyCertSign: 1 << 5,
  cRLSign: 1 << 6,
} as const;

/** Extensions whose meaning we apply; any other extension marked critical makes a certificate unusable. */
const HANDLED = new Set<string>([
  OID.basicConstraints,
  OID.keyUsage,
  OID.extKeyUsage,
  OID.subjectAltName,
  OID.subjectKeyIdentifier,
  OID.authorityKeyIdentifier,
  OID.nameConstraints,
]);

export interface NameSubtrees {
  readonly dns: string[];
  readonly uri: string[];
  /** Other GeneralName forms present, which we cannot evaluate. */
  readonly other: number;
}

/** What the SVID checks need from one certificate, decoded once. */
export interface CertificateInfo {
  readonly der: Uint8Array;
  /** Exact TBSCertificate bytes (what the issuer signed). */
  readonly tbs: Uint8Array;
  readonly issuerRaw: Uint8Array;
  readonly subjectRaw: Uint8Array;
  readonly spki: Uint8Array;
  readonly serial: bigint;
  readonly signatureAlgorithm: string;
  readonly signature: Uint8Array;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** undefined when the extension is absent. */
  readonly basicConstraints: { readonly ca: boolean; readonly pathLen: number | undefined } | undefined;
  /** KU bits (see {@link KU}); undefined when the extension is absent. */
  readonly keyUsage: number | undefined;
  readonly keyUsageCritical: boolean;
  readonly extKeyUsage: string[] | undefined;
  readonly uris: string[];
  readonly dnsNames: string[];
  /** Count of SAN entries that are neither URI nor DNS. */
  readonly otherSans: number;
  readonly subjectKeyId: Uint8Array | undefined;
  readonly authorityKeyId: Uint8Array | undefined;
  readonly nameConstraints: { readonly permitted?: NameSubtrees; readonly excluded?: NameSubtrees } | undefined;
  /** OIDs of critical extensions we do not process. */
  readonly unhandledCritical: string[];
  /** The certificate's public key (created on first use). */
  publicKey(): KeyObject;
}

/** Decodes a DER certificate; throws X509SvidInvalid (`malformed-certificate`) when it cannot. */
export function parseCertificate(der: Uint8Array): CertificateInfo {
  if (!(der instanceof Uint8Array)) throw new TypeError('certificate must be DER bytes (Uint8Array)');
  try {
    return decode(der);
  } catch (err) {
    if (err instanceof X509SvidInvalid) throw err;
    throw new X509SvidInvalid('malformed-certificate', 'certificate is not a valid DER X.509 certificate', {
      cause: err,
    });
  }
}

function decode(der: Uint8Array): CertificateInfo {
  const parts = certificateParts(der);
  const cert = AsnConvert.parse(der, Certificate);
  const tbs = cert.tbsCertificate;
  if (cert.signatureAlgorithm.algorithm !== tbs.signature.algorithm) {
    throw new X509SvidInvalid('signature-algorithm-mismatch', 'certificate and TBSCertificate signature algorithms differ');
  }
  let basicConstraints: CertificateInfo['basicConstraints'];
  let keyUsage: number | undefined;
  let keyUsageCritical = false;
  let extKeyUsage: string[] | undefined;
  const uris: string[] = [];
  const dnsNames: string[] = [];
  let otherSans = 0;
  let subjectKeyId: Uint8Array | undefined;
  let authorityKeyId: Uint8Array | undefined;
  let nameConstraints: CertificateInfo['nameConstraints'];
  const unhandledCritical: string[] = [];
  const seen = new Set<string>();
  for (const ext of tbs.extensions ?? []) {
    if (seen.has(ext.extnID)) {
      throw new X509SvidInvalid('duplicate-extension', `certificate repeats extension ${ext.extnID}`);
    }
    seen.add(ext.extnID);
    const value = ext.extnValue.buffer;
    switch (ext.extnID) {
      case OID.basicConstraints: {
        const bc = AsnConvert.parse(value, BasicConstraints);
        basicConstraints = { ca: bc.cA === true, pathLen: bc.pathLenConstraint };
        break;
      }
      case OID.keyUsage: {
        keyUsage = bitsOf(new Uint8Array(AsnConvert.parse(value, KeyUsage).value));
        keyUsageCritical = ext.critical === true;
        break;
      }
      case OID.extKeyUsage:
        extKeyUsage = [...AsnConvert.parse(value, ExtendedKeyUsage)];
        break;
      case OID.subjectAltName:
        for (const name of AsnConvert.parse(value, SubjectAlternativeName)) {
          if (name.uniformResourceIdentifier !== undefined) uris.push(name.uniformResourceIdentifier);
          else if (name.dNSName !== undefined) dnsNames.push(name.dNSName);
          else otherSans++;
        }
        break;
      case OID.subjectKeyIdentifier:
        subjectKeyId = new Uint8Array(AsnConvert.parse(value, SubjectKeyIdentifier).buffer);
        break;
      case OID.authorityKeyIdentifier: {
        const aki = AsnConvert.parse(value, AuthorityKeyIdentifier);
        if (aki.keyIdentifier) authorityKeyId = new Uint8Array(aki.keyIdentifier.buffer);
        break;
      }
      case OID.nameConstraints: {
        const nc = AsnConvert.parse(value, NameConstraints);
        nameConstraints = {
          ...(nc.permittedSubtrees ? { permitted: subtrees(nc.permittedSubtrees.map((s) => s.base)) } : {}),
          ...(nc.excludedSubtrees ? { excluded: subtrees(nc.excludedSubtrees.map((s) => s.base)) } : {}),
        };
        break;
      }
      default:
        if (ext.critical && !HANDLED.has(ext.extnID)) unhandledCritical.push(ext.extnID);
    }
  }
  let key: KeyObject | undefined;
  return {
    der,
    tbs: parts.tbs,
    issuerRaw: parts.issuer,
    subjectRaw: parts.subject,
    spki: parts.spki,
    serial: BigInt('0x' + (Buffer.from(tbs.serialNumber).toString('hex') || '0')),
    signatureAlgorithm: cert.signatureAlgorithm.algorithm,
    signature: new Uint8Array(cert.signatureValue),
    notBefore: tbs.validity.notBefore.getTime(),
    notAfter: tbs.validity.notAfter.getTime(),
    basicConstraints,
    keyUsage,
    keyUsageCritical,
    extKeyUsage,
    uris,
    dnsNames,
    otherSans,
    subjectKeyId,
    authorityKeyId,
    nameConstraints,
    unhandledCritical,
    publicKey(): KeyObject {
      key ??= createPublicKey({
        key: Buffer.from(parts.spki.buffer, parts.spki.byteOffset, parts.spki.byteLength),
        format: 'der',
        type: 'spki',
      });
      return key;
    },
  };
}

function bitsOf(bytes: Uint8Array): number {
  let flags = 0;
  for (let i = 0; i < bytes.length * 8 && i < 31; i++) {
    if ((bytes[i >> 3]! >> (7 - (i & 7))) & 1) flags |= 1 << i;
  }
  return flags;
}

function subtrees(names: GeneralName[]): NameSubtrees {
  const out = { dns: [] as string[], uri: [] as string[], other: 0 };
  for (const n of names) {
    if (n.dNSName !== undefined) out.dns.push(n.dNSName);
    else if (n.uniformResourceIdentifier !== undefined) out.uri.push(n.uniformResourceIdentifier);
    else out.other++;
  }
  return out;
}
