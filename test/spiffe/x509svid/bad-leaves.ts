/** Leaves that each break one X509-SVID leaf rule (spiffe-notes §2), with the error both parse and verify must give. */
import {
  KU,
  LEAF_KU,
  newLeaf,
  type MintParams,
  type TestCert,
} from '../../helpers/test-ca.js';

export interface BadLeafCase {
  readonly name: string;
  readonly params: MintParams;
  readonly spiffeId?: string;
  readonly code: string;
  readonly rule: string;
}

export const BAD_LEAVES: readonly BadLeafCase[] = [
  { name: 'leaf with the CA flag', params: { ca: true }, code: 'ERR_X509_SVID_INVALID', rule: 'leaf-ca-flag' },
  {
    name: 'leaf without digitalSignature',
    params: { keyUsage: KU.keyEncipherment | KU.keyAgreement },
    code: 'ERR_X509_SVID_INVALID',
    rule: 'leaf-digital-signature',
  },
  {
    name: 'leaf without a key usage extension',
    params: { keyUsage: undefined },
    code: 'ERR_X509_SVID_INVALID',
    rule: 'leaf-digital-signature',
  },
  {
    name: 'leaf with keyCertSign',
    params: { keyUsage: LEAF_KU | KU.keyCertSign },
    code: 'ERR_X509_SVID_INVALID',
    rule: 'leaf-key-cert-sign',
  },
  {
    name: 'leaf with cRLSign',
    params: { keyUsage: LEAF_KU | KU.cRLSign },
    code: 'ERR_X509_SVID_INVALID',
    rule: 'leaf-crl-sign',
  },
  { name: 'leaf without a URI SAN', params: { uris: [], dnsNames: ['a.example.org'] }, code: 'ERR_X509_SVID_INVALID', rule: 'no-uri-san' },
  {
    name: 'leaf with two URI SANs',
    params: { uris: ['spiffe://example.org/a', 'spiffe://example.org/b'] },
    code: 'ERR_X509_SVID_INVALID',
    rule: 'multiple-uri-sans',
  },
  {
    name: 'leaf whose SPIFFE ID has a root path',
    spiffeId: 'spiffe://example.org',
    params: {},
    code: 'ERR_X509_SVID_INVALID',
    rule: 'leaf-root-path',
  },
  {
    name: 'leaf whose URI has a bad scheme',
    spiffeId: 'sparfe://example.org/workload',
    params: {},
    code: 'ERR_X509_SVID_INVALID',
    rule: 'leaf-spiffe-id',
  },
  {
    name: 'leaf whose URI has an invalid path',
    spiffeId: 'spiffe://example.org/a//b',
    params: {},
    code: 'ERR_X509_SVID_INVALID',
    rule: 'leaf-spiffe-id',
  },
];

export async function mintBadLeaf(issuer: TestCert, c: BadLeafCase): Promise<TestCert> {
  return newLeaf(issuer, c.spiffeId ?? 'spiffe://example.org/workload', c.params);
}
