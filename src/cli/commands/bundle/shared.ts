import type { OptionSpec } from '../../admin-command.js';

/** tessera.admin.v1.FederatedBundle as the admin client receives it. */
export interface FederatedBundleMessage {
  trust_domain: string;
  spiffe_bundle: Buffer;
  x509_pem: string;
  sequence_number: number | string;
  x509_authority_count: number;
  jwt_authority_count: number;
  updated_at: number;
  has_relationship: boolean;
}

export const FEDERATED_TRUST_DOMAIN_OPTION: Readonly<Record<string, OptionSpec>> = {
  'trust-domain': { type: 'string', value: 'TD', description: 'the federated trust domain, e.g. b.test' },
};

/** "static" (set by an operator, never fetched) or "federation" (fetched through a relationship). */
export function bundleSource(b: FederatedBundleMessage): string {
  return b.has_relationship ? 'federation' : 'static';
}

export function federatedBundleJson(b: FederatedBundleMessage) {
  return {
    trustDomain: b.trust_domain,
    source: bundleSource(b),
    sequenceNumber: String(b.sequence_number),
    x509Authorities: b.x509_authority_count,
    jwtAuthorities: b.jwt_authority_count,
    updatedAt: b.updated_at,
    x509Pem: b.x509_pem,
    spiffeBundle: JSON.parse(Buffer.from(b.spiffe_bundle).toString('utf8')) as unknown,
  };
}
