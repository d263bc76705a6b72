/**
 * Workload API response messages (spiffe-notes §4) built from a WorkloadState, as the plain objects proto-loader
 * serializes (keepCase field names, bytes as Buffers). Every message carries the full state, never a delta.
 */
import type {
  JwtBundlesResponse,
  JwtSvidMessage,
  X509BundlesResponse,
  X509SvidMessage,
  X509SvidResponse,
} from '../../common/grpc/workload-messages.js';
import type { Logger } from '../../common/log.js';
import type { JwtBundle, X509Bundle } from '../../spiffe/bundle/index.js';
import type { TrustDomain } from '../../spiffe/id/index.js';
import type { WorkloadJwtSvid, WorkloadState, WorkloadX509Svid } from '../types.js';

/**
 * google.protobuf.Value as proto-loader takes it: protobufjs defines the well-known types itself with camelCase field
 * names (keepCase does not apply to them), enums as strings.
 */
export type StructValue =
  | { nullValue: 'NULL_VALUE' }
  | { numberValue: number }
  | { stringValue: string }
  | { boolValue: boolean }
  | { structValue: StructMessage }
  | { listValue: { values: StructValue[] } };

export interface StructMessage {
  fields: Record<string, StructValue>;
}

/** The map key of a trust domain in every Workload API bundle map: its SPIFFE ID, `spiffe://<td>`. */
export function bundleKey(trustDomain: TrustDomain | string): string {
  return `spiffe://${typeof trustDomain === 'string' ? trustDomain : trustDomain.name}`;
}

/**
 * Keeps the first item of each non-empty hint and drops later ones (a non-empty hint MUST be unique within one
 * response; go-spiffe keeps the first). Empty hints are never deduplicated.
 */
export function uniqueHints<T extends { readonly hint: string; readonly spiffeId: string }>(
  items: readonly T[],
  log?: Logger,
): T[] {
  const seen = new Set<string>();
  const out: T[] = [];
  for (const item of items) {
    if (item.hint !== '') {
      if (seen.has(item.hint)) {
        log?.warn({ hint: item.hint, spiffeId: item.spiffeId }, 'Dropped an SVID whose hint repeats an earlier one');
        continue;
      }
      seen.add(item.hint);
    }
    out.push(item);
  }
  return out;
}

function concat(parts: readonly Uint8Array[]): Buffer {
  return Buffer.concat(parts.map((p) => (Buffer.isBuffer(p) ? p : Buffer.from(p.buffer, p.byteOffset, p.byteLength))));
}

function derOf(bundle: X509Bundle): Buffer {
  const der = bundle.toConcatenatedDer();
  return Buffer.from(der.buffer, der.byteOffset, der.byteLength);
}

/** Federated bundles in a stable order (sorted by trust domain) so equal states encode to equal bytes. */
function sortedEntries<B>(map: ReadonlyMap<string, B>): [string, B][] {
  return [...map.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** FetchX509SVID's message; its `svids` is empty when the caller has no identity (callers then refuse). */
export function x509SvidResponse(state: WorkloadState, log?: Logger): X509SvidResponse {
  const bundle = derOf(state.x509Bundle);
  const federated: Record<string, Buffer> = {};
  for (const [td, b] of sortedEntries(state.federatedX509Bundles)) {
    // The own trust domain is never a federated one: go-spiffe would let the federated entry replace it.
    if (td === state.trustDomain.name) continue;
    federated[bundleKey(td)] = derOf(b);
  }
  return {
    svids: uniqueHints(state.x509Svids, log).map(
      (s: WorkloadX509Svid): X509SvidMessage => ({
        spiffe_id: s.spiffeId,
        x509_svid: concat(s.chain),
        x509_svid_key: concat([s.privateKeyPkcs8]),
        bundle,
        hint: s.hint,
      }),
    ),
    crl: [],
    federated_bundles: federated,
  };
}

/** FetchX509Bundles' message: own trust domain first, then federated ones. */
export function x509BundlesResponse(state: WorkloadState): X509BundlesResponse {
  const bundles: Record<string, Buffer> = { [bundleKey(state.trustDomain)]: derOf(state.x509Bundle) };
  for (const [td, b] of sortedEntries(state.federatedX509Bundles)) {
    if (td !== state.trustDomain.name) bundles[bundleKey(td)] = derOf(b);
  }
  return { crl: [], bundles };
}

/** FetchJWTBundles' message: plain JWKS bytes per trust domain, own first. */
export function jwtBundlesResponse(state: WorkloadState): JwtBundlesResponse {
  const jwks = (b: JwtBundle) => Buffer.from(b.toJwks(), 'utf8');
  const bundles: Record<string, Buffer> = { [bundleKey(state.trustDomain)]: jwks(state.jwtBundle) };
  for (const [td, b] of sortedEntries(state.federatedJwtBundles)) {
    if (td !== state.trustDomain.name) bundles[bundleKey(td)] = jwks(b);
  }
  return { bundles };
}

export function jwtSvidMessages(svids: readonly WorkloadJwtSvid[], log?: Logger): JwtSvidMessage[] {
  return uniqueHints(svids, log).map((s) => ({ spiffe_id: s.spiffeId, svid: s.token, hint: s.hint }));
}

/** JSON claims → google.protobuf.Struct. `undefined` members are left out (JSON has none). */
export function toStruct(obj: Readonly<Record<string, unknown>>): StructMessage {
  const fields: Record<string, StructValue> = {};
  for (const [k, v] of Object.entries(obj)) {
    const value = toValue(v);
    if (value !== undefined) fields[k] = value;
  }
  return { fields };
}

function toValue(v: unknown): StructValue | undefined {
  if (v === null) return { nullValue: 'NULL_VALUE' };
  switch (typeof v) {
    case 'string':
      return { stringValue: v };
    case 'number':
      return { numberValue: v };
    case 'bigint':
      return { numberValue: Number(v) };
    case 'boolean':
      return { boolValue: v };
    case 'object':
      if (Array.isArray(v)) {
        return { listValue: { values: v.map((e) => toValue(e) ?? { nullValue: 'NULL_VALUE' as const }) } };
      }
      return { structValue: toStruct(v as Record<string, unknown>) };
    default:
      return undefined;
  }
}
