import { invalidArgument } from '../../common/errors.js';
import { isSpiffeError } from '../../spiffe/errors.js';
import { TrustDomain } from '../../spiffe/id/index.js';
import { parseSpiffeIdField } from '../entries/validate.js';
import type { BundleEndpointProfile, FederationRelationshipInput } from './types.js';

/**
 * Checks of a federation relationship as an operator sends it (the admin API's Create/Update requests). Field names in
 * messages are the wire names; every failure is INVALID_ARGUMENT saying what to fix.
 */

/** Longest bundle endpoint URL accepted. */
export const MAX_BUNDLE_ENDPOINT_URL_LENGTH = 2048;

const SCHEME = 'spiffe://';

/** The request fields, as received (anything may be missing or of the wrong type). */
export interface RawRelationship {
  readonly trustDomain: unknown;
  readonly bundleEndpointUrl: unknown;
  /** Already mapped from the wire enum; undefined when unset or unknown. */
  readonly profile: BundleEndpointProfile | undefined;
  readonly endpointSpiffeId: unknown;
}

export function validateRelationshipInput(raw: RawRelationship, ownTrustDomain: TrustDomain): FederationRelationshipInput {
  const trustDomain = parseFederatedTrustDomain('trust_domain', raw.trustDomain, ownTrustDomain);
  const bundleEndpointUrl = parseBundleEndpointUrl('bundle_endpoint_url', raw.bundleEndpointUrl);
  if (raw.profile === undefined) {
    throw invalidArgument('profile is required: https_web (Web PKI certificate) or https_spiffe (an X509-SVID)');
  }
  const given = raw.endpointSpiffeId !== undefined && raw.endpointSpiffeId !== '';
  if (raw.profile === 'https_web') {
    if (given) throw invalidArgument('endpoint_spiffe_id is only for profile https_spiffe; leave it empty for https_web');
    return { trustDomain: trustDomain.name, bundleEndpointUrl, profile: 'https_web' };
  }
  if (!given) {
    throw invalidArgument('endpoint_spiffe_id is required for profile https_spiffe: the SPIFFE ID the endpoint presents');
  }
  const endpointSpiffeId = parseSpiffeIdField('endpoint_spiffe_id', raw.endpointSpiffeId).toString();
  return { trustDomain: trustDomain.name, bundleEndpointUrl, profile: 'https_spiffe', endpointSpiffeId };
}

/** A trust domain name (`b.test`, or `spiffe://b.test`, normalised to `b.test`) that is not `ownTrustDomain`. */
export function parseFederatedTrustDomain(field: string, value: unknown, ownTrustDomain: TrustDomain): TrustDomain {
  const td = parseTrustDomainField(field, value);
  if (td.equals(ownTrustDomain)) {
    throw invalidArgument(
      `${field} ${q(td.name)} is this server's own trust domain: a server cannot federate with its own trust domain`,
    );
  }
  return td;
}

/** A required trust domain name; `spiffe://b.test` is accepted and normalised, a SPIFFE ID with a path is not. */
export function parseTrustDomainField(field: string, value: unknown): TrustDomain {
  if (value === undefined || value === '') {
    throw invalidArgument(`${field} is required (a trust domain name, e.g. "b.test")`);
  }
  if (typeof value !== 'string') throw invalidArgument(`${field} must be a string`);
  let name = value;
  if (value.startsWith(SCHEME)) {
    name = value.slice(SCHEME.length);
    if (name.includes('/')) {
      throw invalidArgument(`${field} ${q(value)} has a path: give the trust domain name alone, e.g. "b.test"`);
    }
  }
  try {
    return TrustDomain.parse(name);
  } catch (err) {
    if (isSpiffeError(err)) throw invalidArgument(`${field} ${q(value)} is not a valid trust domain name: ${err.message}`);
    throw err;
  }
}

/** An absolute `https:` URL without user info or fragment; returned normalised (WHATWG URL serialisation). */
export function parseBundleEndpointUrl(field: string, value: unknown): string {
  if (value === undefined || value === '') {
    throw invalidArgument(`${field} is required (the https:// URL of the trust domain's bundle endpoint)`);
  }
  if (typeof value !== 'string') throw invalidArgument(`${field} must be a string`);
  if (value.length > MAX_BUNDLE_ENDPOINT_URL_LENGTH) {
    throw invalidArgument(`${field} is ${value.length} characters long; at most ${MAX_BUNDLE_ENDPOINT_URL_LENGTH}`);
  }
  // eslint-disable-next-line no-control-regex
  if (/[\s\u0000-\u001f\u007f]/.test(value)) {
    throw invalidArgument(`${field} must not contain spaces or control characters`);
  }
  // Checked before anything that quotes the value: a password must not end up in an error message or a log.
  const userInfo = () => invalidArgument(`${field} must not carry user info ("user:password@"): the endpoint is public`);
  if (/^[^/?#]*\/\/[^/?#]*@/.test(value)) throw userInfo();
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw invalidArgument(`${field} ${q(value)} is not an absolute URL (e.g. "https://b.test/bundle")`);
  }
  if (url.username !== '' || url.password !== '') throw userInfo();
  if (url.protocol !== 'https:') throw invalidArgument(`${field} ${q(value)} must use https (got ${q(url.protocol)})`);
  if (value.includes('#')) throw invalidArgument(`${field} ${q(value)} must not have a fragment ("#...")`);
  return url.href;
}

function q(value: string): string {
  return JSON.stringify(value.length > 256 ? value.slice(0, 256) + '…' : value);
}
