import { describe, expect, it } from 'vitest';
import { JwtSvidCache } from '../../src/agent/manager/jwt-cache.js';

const svid = (token: string) => ({ spiffeId: 'spiffe://example.org/w', token, hint: '' });

describe('JwtSvidCache', () => {
  it('serves a token until its fresh-until time, then forgets it', () => {
    const cache = new JwtSvidCache();
    cache.set('i1\ne1\naud', svid('t1'), 1_000);
    expect(cache.get('i1\ne1\naud', 999)?.token).toBe('t1');
    expect(cache.get('i1\ne1\naud', 1_000)).toBeUndefined();
    expect(cache.size).toBe(0);
    expect(cache.bytes).toBe(0);
  });

  it('stays within its byte budget however many large tokens are stored, dropping the oldest first', () => {
    const maxBytes = 100_000;
    const cache = new JwtSvidCache({ maxBytes });
    const token = 'x'.repeat(10_000); // ~20 KB as a string: four fit
    for (let i = 0; i < 1_000; i++) {
      cache.set(`i1\ne1\naud-${i}`, svid(token), Number.MAX_SAFE_INTEGER);
      expect(cache.bytes).toBeLessThanOrEqual(maxBytes);
    }
    expect(cache.size).toBe(4);
    expect(cache.get('i1\ne1\naud-999', 0)).toBeDefined();
    expect(cache.get('i1\ne1\naud-995', 0)).toBeUndefined();
  });

  it('keeps at most maxEntries tokens and never stores one larger than the whole budget', () => {
    const cache = new JwtSvidCache({ maxBytes: 1_000, maxEntries: 3 });
    for (let i = 0; i < 10; i++) cache.set(`k${i}`, svid('t'), Number.MAX_SAFE_INTEGER);
    expect(cache.size).toBe(3);
    cache.set('huge', svid('y'.repeat(1_000)), Number.MAX_SAFE_INTEGER);
    expect(cache.get('huge', 0)).toBeUndefined();
    expect(cache.size).toBe(3);
  });

  it('drops an exited instance by key prefix and gives its bytes back', () => {
    const cache = new JwtSvidCache();
    cache.set('i1\ne1\na', svid('t1'), Number.MAX_SAFE_INTEGER);
    cache.set('i1\ne2\na', svid('t2'), Number.MAX_SAFE_INTEGER);
    cache.set('i2\ne1\na', svid('t3'), Number.MAX_SAFE_INTEGER);
    const before = cache.bytes;
    cache.deletePrefix('i1\n');
    expect(cache.size).toBe(1);
    expect(cache.get('i2\ne1\na', 0)?.token).toBe('t3');
    expect(cache.bytes).toBeLessThan(before);
  });
});
