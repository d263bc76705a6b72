import type { KeyRecord } from '../datastore/index.js';
import type { AuthorityInfo, AuthorityKind } from './types.js';

/** What the CA reads of a key ring to describe its keys. */
export interface DescribedRing {
  readonly active: { readonly record: KeyRecord } | undefined;
  readonly prepared: { readonly record: KeyRecord } | undefined;
  readonly preparedPublishedAtMs: number | undefined;
  readonly retired: readonly KeyRecord[];
}

/** The operator's view of one key record (no key material). */
export function authorityInfo(
  kind: AuthorityKind,
  record: KeyRecord,
  state: AuthorityInfo['state'] = record.state,
  published?: { atMs: number; minPublishMs: number },
): AuthorityInfo {
  return {
    kind,
    keyId: record.id,
    state,
    notAfter: new Date(record.notAfter * 1000),
    createdAt: new Date(record.createdAt * 1000),
    ...(published
      ? { publishedAt: new Date(published.atMs), activatableAt: new Date(published.atMs + published.minPublishMs) }
      : {}),
  };
}

/** A ring's keys: prepared first, then active, then retired (newest first). */
export function describeRing(kind: AuthorityKind, ring: DescribedRing, minPublishMs: number): AuthorityInfo[] {
  const out: AuthorityInfo[] = [];
  if (ring.prepared) {
    const atMs = ring.preparedPublishedAtMs;
    const published = atMs === undefined ? undefined : { atMs, minPublishMs };
    out.push(authorityInfo(kind, ring.prepared.record, 'prepared', published));
  }
  if (ring.active) out.push(authorityInfo(kind, ring.active.record, 'active'));
  for (const r of [...ring.retired].reverse()) out.push(authorityInfo(kind, r, 'retired'));
  return out;
}
