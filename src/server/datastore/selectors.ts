import { createHash } from 'node:crypto';
import type { EntryInput, Selector } from './entries.js';

/** Sorted by (type, value), duplicates removed: the stored form of a selector set. */
export function canonicalSelectors(selectors: readonly Selector[]): Selector[] {
  const seen = new Map<string, Selector>();
  for (const s of selectors) seen.set(JSON.stringify([s.type, s.value]), { type: s.type, value: s.value });
  return [...seen.values()].sort((a, b) => compare(a.type, b.type) || compare(a.value, b.value));
}

/**
 * SHA-256 (hex) of an entry's identity: spiffeId, parentId and the selector set, order-insensitive. A UNIQUE index
 * on it makes "no two entries with the same identity" hold across connections, processes and servers.
 */
export function entryIdentityHash(input: Pick<EntryInput, 'spiffeId' | 'parentId' | 'selectors'>): string {
  const canonical = JSON.stringify([
    input.spiffeId,
    input.parentId,
    canonicalSelectors(input.selectors).map((s) => [s.type, s.value]),
  ]);
  return createHash('sha256').update(canonical).digest('hex');
}

/** SHA-256 (hex) of a join token: what the store keeps instead of the token. */
export function joinTokenHash(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Code-unit order, the same as SQLite's BINARY collation and PostgreSQL's COLLATE "C". */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
