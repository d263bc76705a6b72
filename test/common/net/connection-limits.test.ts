import { describe, expect, it } from 'vitest';
import { ConnectionLimits } from '../../../src/common/net/connection-limits.js';
import { RateLimitedWarning } from '../../../src/common/net/rate-limited-warning.js';
import { fakeClock } from '../../helpers/fake-clock.js';
import { captureLogger } from '../../helpers/log-capture.js';

describe('ConnectionLimits', () => {
  it('caps each peer and the total, and frees a slot on release', () => {
    const limits = new ConnectionLimits({ maxConnections: 3, maxConnectionsPerPeer: 2 });
    expect(limits.acquire('a')).toBeUndefined();
    expect(limits.acquire('a')).toBeUndefined();
    expect(limits.acquire('a')).toBe('peer_limit');
    expect(limits.acquire('b')).toBeUndefined();
    expect(limits.acquire('c')).toBe('total_limit');
    expect([limits.count(), limits.count('a'), limits.count('b'), limits.count('c')]).toEqual([3, 2, 1, 0]);
    limits.release('a');
    expect(limits.acquire('c')).toBeUndefined();
    limits.release('nobody'); // a peer that holds nothing changes nothing
    expect(limits.count()).toBe(3);
  });

  it.each([0, -1, 1.5, Number.NaN])('refuses a cap of %s', (bad) => {
    expect(() => new ConnectionLimits({ maxConnections: bad, maxConnectionsPerPeer: 1 })).toThrow(RangeError);
  });
});

describe('RateLimitedWarning', () => {
  it('logs once per interval and then says how many it left out', () => {
    const clock = fakeClock();
    const { log, lines } = captureLogger('warn');
    const w = new RateLimitedWarning(log, { intervalMs: 1000, clock });
    for (let i = 0; i < 5; i++) w.warn({ uid: 7 }, 'Refused');
    expect(lines()).toHaveLength(1);
    clock.advance(999);
    w.warn({ uid: 7 }, 'Refused');
    expect(lines()).toHaveLength(1);
    clock.advance(1);
    w.warn({ uid: 8 }, 'Refused');
    expect(lines().map((l) => [l.uid, l.suppressed])).toEqual([
      [7, undefined],
      [8, 5],
    ]);
  });
});
