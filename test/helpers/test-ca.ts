/**
 * Test certificate minting (like go-spiffe internal/test/ca.go, but free-form): keys of any supported type and
 * certificates with arbitrary extensions, built with @peculiar/x509's generator so tests can make the bad certificates
 * that Tessera's own issuer refuses to make. Nothing here is used by src/.
 */
import 'reflect-metadata';
import { KeyObject, webcrypto } from 'node:crypto';
import * as px from '@peculiar/x509';
import { X509Bundle } from '../../src/spiffe/bundle/x509-bundle.js';
import { TrustDomain } from '../../src/spiffe/id/index.js';
import { encodePem } from '../../src/spiffe/pem.js';

const subtle = webcrypto.subtle;
const provider = webcrypto as unknown as Crypto;

export type TestKeyKind = 'P-256' | 'P-384' | 'RSA-2048' | 'RSA-3072' | 'Ed25519';

export interface TestKey {
  readonly kind: TestKeyKind;
  readonly publicKey: KeyObject;
  readonly privateKey: KeyObject;
  /** WebCrypto pair for @peculiar/x509. */
  readonly pair: CryptoKeyPair;
  /** PKCS#8 DER of the private key. */
  readonly pkcs8: Uint8Array;
  /** SPKI DER of the public key. */
  readonly spki: Uint8Array;
  readonly signingAlgorithm: Algorithm;
}

const GEN: Record<TestKeyKind, [RsaHashedKeyGenParams | EcKeyGenParams | Algorithm, Algorithm]> = {
  'P-256': [{ name: 'ECDSA', namedCurve: 'P-256' } as EcKeyGenParams, { name: 'ECDSA', hash: 'SHA-256' } as Algorithm],
  'P-384': [{ name: 'ECDSA', namedCurve: 'P-384' } as EcKeyGenParams, { name: 'ECDSA', hash: 'SHA-384' } as Algorithm],
  'RSA-2048': [
    { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
    { name: 'RSASSA-PKCS1-v1_5' },
  ],
  'RSA-3072': [
    { name: 'RSASSA-PKCS1-v1_5', modulusLength: 3072, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
    { name: 'RSASSA-PKCS1-v1_5' },
  ],
  Ed25519: [{ name: 'Ed25519' }, { name: 'Ed25519' }],
};

export async function generateTestKey(kind: TestKeyKind = 'P-256'): Promise<TestKey> {
  const [genAlg, signingAlgorithm] = GEN[kind];
  const pair = (await subtle.generateKey(genAlg as EcKeyGenParams, true, ['sign', 'verify'])) as CryptoKeyPair;
  const pkcs8 = new Uint8Array(await subtle.exportKey('pkcs8', pair.privateKey));
  const spki = new Uint8Array(await subtle.exportKey('spki', pair.publicKey));
  return {
    kind,
    pair,
    publicKey: KeyObject.from(pair.publicKey),
    privateKey: KeyObject.from(pair.privateKey),
    pkcs8,
    spki,
    signingAlgorithm,
  };
}

export interface TestCert {
  readonly der: Uint8Array;
  readonly pem: string;
  readonly key: TestKey;
  readonly cert: px.X509Certificate;
}

export interface MintParams {
  /** Subject DN string (peculiar syntax, sequence order). Default `O=Test, CN=<serial>`. */
  readonly subject?: string;
  /** Issuing certificate; omitted = self-signed with `key`. */
  readonly issuer?: TestCert;
  /** Key certified. Default: a fresh P-256 key. */
  readonly key?: TestKey;
  /** Sign with this key instead of the issuer's (keeps the issuer's name): forged-signature cases. */
  readonly signWith?: TestKey;
  readonly notBefore?: Date;
  readonly notAfter?: Date;
  /** Hex serial. Default: a counter. */
  readonly serial?: string;
  /** basicConstraints: undefined = no extension. */
  readonly ca?: boolean;
  readonly pathLen?: number;
  /** Key usage flags (px.KeyUsageFlags); undefined = no extension. */
  readonly keyUsage?: number;
  readonly keyUsageCritical?: boolean;
  readonly uris?: readonly string[];
  readonly dnsNames?: readonly string[];
  readonly sanCritical?: boolean;
  readonly extKeyUsage?: readonly string[];
  /** Adds SKI (of `key`) and, when an issuer is given, AKI (of the issuer key). Default true. */
  readonly keyIds?: boolean;
  readonly extensions?: readonly px.Extension[];
}

export const KU = px.KeyUsageFlags;
export const LEAF_KU = KU.digitalSignature | KU.keyEncipherment | KU.keyAgreement;
export const CA_KU = KU.keyCertSign | KU.cRLSign;
export const DEFAULT_NOT_BEFORE = new Date('2020-01-01T00:00:00Z');
export const DEFAULT_NOT_AFTER = new Date('2040-01-01T00:00:00Z');

let counter = 1;

export async function mintCertificate(p: MintParams = {}): Promise<TestCert> {
  const key = p.key ?? (await generateTestKey('P-256'));
  const serial = p.serial ?? (counter++).toString(16).padStart(4, '0');
  const subject = p.subject ?? `O=Test, CN=${serial}`;
  const extensions: px.Extension[] = [];
  if (p.ca !== undefined) extensions.push(new px.BasicConstraintsExtension(p.ca, p.pathLen, true));
  if (p.keyUsage !== undefined) extensions.push(new px.KeyUsagesExtension(p.keyUsage, p.keyUsageCritical ?? true));
  if (p.extKeyUsage) extensions.push(new px.ExtendedKeyUsageExtension([...p.extKeyUsage], false));
  const names = [
    ...(p.uris ?? []).map((value) => ({ type: 'url' as const, value })),
    ...(p.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value })),
  ];
  if (names.length > 0) extensions.push(new px.SubjectAlternativeNameExtension(names, p.sanCritical ?? false));
  if (p.keyIds ?? true) {
    extensions.push(await px.SubjectKeyIdentifierExtension.create(key.pair.publicKey, false, provider));
    if (p.issuer) {
      extensions.push(await px.AuthorityKeyIdentifierExtension.create(p.issuer.key.pair.publicKey, false, provider));
    }
  }
  extensions.push(...(p.extensions ?? []));
  const signer = p.signWith ?? (p.issuer ? p.issuer.key : key);
  const cert = await px.X509CertificateGenerator.create(
    {
      serialNumber: serial,
      subject,
      issuer: p.issuer ? p.issuer.cert.subjectName : subject,
      notBefore: p.notBefore ?? DEFAULT_NOT_BEFORE,
      notAfter: p.notAfter ?? DEFAULT_NOT_AFTER,
      publicKey: key.pair.publicKey,
      signingKey: signer.pair.privateKey,
      signingAlgorithm: signer.signingAlgorithm,
      extensions,
    },
    provider,
  );
  const der = new Uint8Array(cert.rawData);
  return { der, pem: encodePem('CERTIFICATE', der), key, cert };
}

/** A self-signed SPIFFE root CA for `trustDomain` (URI SAN `spiffe://<td>`). */
export async function newRootCa(trustDomain = 'example.org', p: MintParams = {}): Promise<TestCert> {
  return mintCertificate({
    subject: `O=Test Root, CN=${trustDomain}`,
    ca: true,
    keyUsage: CA_KU,
    uris: [`spiffe://${trustDomain}`],
    ...p,
  });
}

/** An intermediate CA under `issuer`. */
export async function newIntermediateCa(issuer: TestCert, trustDomain = 'example.org', p: MintParams = {}): Promise<TestCert> {
  return mintCertificate({
    subject: `O=Test Intermediate, CN=${trustDomain} ${counter}`,
    issuer,
    ca: true,
    keyUsage: CA_KU,
    uris: [`spiffe://${trustDomain}`],
    ...p,
  });
}

/** A conforming leaf SVID for `spiffeId` under `issuer`; override any field to break it. */
export async function newLeaf(issuer: TestCert, spiffeId: string, p: MintParams = {}): Promise<TestCert> {
  return mintCertificate({
    subject: 'O=Test Leaf',
    issuer,
    ca: false,
    keyUsage: LEAF_KU,
    extKeyUsage: ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2'],
    uris: [spiffeId],
    ...p,
  });
}

export function bundleOf(trustDomain: string, ...authorities: TestCert[]): X509Bundle {
  return new X509Bundle(
    TrustDomain.parse(trustDomain),
    authorities.map((a) => a.der),
  );
}

/**
 * A web PKI for TLS tests: a CA and a server certificate under it for `names` (default localhost and 127.0.0.1), with
 * the PEM a server needs (`chainPem`: leaf then CA; `keyPem`: PKCS#8).
 */
export async function webCertificates(
  names: { dns?: readonly string[]; ip?: readonly string[] } = { dns: ['localhost'], ip: ['127.0.0.1'] },
): Promise<{ ca: TestCert; leaf: TestCert; chainPem: string; keyPem: string }> {
  const ca = await mintCertificate({ subject: 'CN=Tessera Test Web CA', ca: true, keyUsage: CA_KU });
  const leaf = await mintCertificate({
    subject: 'CN=localhost',
    issuer: ca,
    ca: false,
    keyUsage: KU.digitalSignature | KU.keyEncipherment,
    extKeyUsage: ['1.3.6.1.5.5.7.3.1'],
    extensions: [
      new px.SubjectAlternativeNameExtension([
        ...(names.dns ?? []).map((value) => ({ type: 'dns' as const, value })),
        ...(names.ip ?? []).map((value) => ({ type: 'ip' as const, value })),
      ]),
    ],
  });
  const keyPem = leaf.key.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  return { ca, leaf, chainPem: leaf.pem + ca.pem, keyPem };
}
