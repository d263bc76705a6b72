/**
 * Differential check of the authority rewriter on a real client's byte stream (tests): the rewritten stream, decoded
 * independently (test/helpers/http2-frames.ts), has the same header lists as the original except that each refused
 * :authority/host is "localhost", and the same other frames byte for byte, however the input is cut into chunks.
 */
import { expect } from 'vitest';
import { AuthorityFrameRewriter, isAcceptedAuthority, REWRITTEN_AUTHORITY } from '../../../src/agent/workloadapi/authority-frames.js';
import { headerLists, otherFrames, type HeaderList } from '../../helpers/http2-frames.js';

/** Runs `bytes` through a fresh rewriter in chunks cut at `cuts` (sorted offsets). */
export function rewrite(bytes: Buffer, cuts: readonly number[] = []): { out: Buffer; rewrites: number } {
  const r = new AuthorityFrameRewriter();
  const parts: Buffer[] = [];
  let prev = 0;
  for (const c of [...cuts, bytes.length]) {
    parts.push(r.push(bytes.subarray(prev, c)));
    prev = c;
  }
  return { out: Buffer.concat(parts), rewrites: r.rewrites };
}

function expected(lists: readonly HeaderList[]): HeaderList[] {
  return lists.map((l) => ({
    ...l,
    fields: l.fields.map(([n, v]) =>
      (n === ':authority' || n === 'host') && !isAcceptedAuthority(Buffer.from(v, 'latin1')) ? [n, REWRITTEN_AUTHORITY] : [n, v],
    ) as [string, string][],
  }));
}

/** Checks the round trip on `bytes` in one chunk and in `splits` pseudo-random chunkings; returns the rewrite count. */
export function expectRoundTrip(bytes: Buffer, splits = 20): number {
  const original = headerLists(bytes);
  expect(original.length).toBeGreaterThan(0);
  const whole = rewrite(bytes);
  expect(headerLists(whole.out)).toEqual(expected(original));
  expect(otherFrames(whole.out)).toEqual(otherFrames(bytes));
  let seed = 0x2545f491;
  const random = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  for (let s = 0; s < splits; s++) {
    const cuts = new Set<number>();
    const n = 1 + Math.floor(random() * 40);
    for (let k = 0; k < n; k++) cuts.add(Math.floor(random() * bytes.length));
    const chunked = rewrite(bytes, [...cuts].sort((a, b) => a - b));
    expect(chunked.out.equals(whole.out), `chunking ${[...cuts].join(',')} changed the output`).toBe(true);
  }
  return whole.rewrites;
}
