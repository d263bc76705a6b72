import { describe, expect, it } from 'vitest';
import { KeyedRateLimiter } from '../../src/common/rate-limit.js';
import { fakeClock } from '../helpers/fake-clock.js';

describe('KeyedRateLimiter', () => {
  it('allows a burst, then the refill rate, per key', () => {
    const clock = fakeClock();
    const limiter = new KeyedRateLimiter({ perSecond: 2, burst: 3, maxKeys: 10, clock });
    expect([1, 2, 3, 4].map(() => limiter.take('a'))).toEqual([true, true, true, false]);
    expect(limiter.take('b')).toBe(true); // its own bucket
    clock.advance(499);
    expect(limiter.take('a')).toBe(false);
    clock.advance(1);
    expect(limiter.take('a')).toBe(true);
    expect(limiter.take('a')).toBe(false);
    clock.advance(60_000); // refills up to the burst, not beyond
    expect([1, 2, 3, 4].map(() => limiter.take('a'))).toEqual([true, true, true, false]);
  });

  it('tracks at most maxKeys keys, forgetting the least recently used', () => {
    const clock = fakeClock();
    const limiter = new KeyedRateLimiter({ perSecond: 1, burst: 1, maxKeys: 100, clock });
    expect(limiter.take('hot')).toBe(true);
    for (let i = 0; i < 10_000; i++) {
      limiter.take(`spoofed-${i}`);
      if (i % 50 === 0) expect(limiter.take('hot')).toBe(false); // kept recent, so still limited
      expect(limiter.size).toBeLessThanOrEqual(100);
    }
    expect(limiter.size).toBe(100);
  });

  it('refuses nonsensical limits', () => {
    expect(() => new KeyedRateLimiter({ perSecond: 0, burst: 1, maxKeys: 1, clock: fakeClock() })).toThrow(TypeError);
    expect(() => new KeyedRateLimiter({ perSecond: 1, burst: 0, maxKeys: 1, clock: fakeClock() })).toThrow(TypeError);
  });
});
