import type { Clock } from '../../src/common/clock.js';

/** A clock that moves only when told to. */
export interface FakeClock extends Clock {
  set(at: Date | number): void;
  advance(ms: number): void;
}

export function fakeClock(start: Date | number = Date.UTC(2026, 0, 1)): FakeClock {
  let ms = typeof start === 'number' ? start : start.getTime();
  return {
    now: () => new Date(ms),
    set: (at) => void (ms = typeof at === 'number' ? at : at.getTime()),
    advance: (delta) => void (ms += delta),
  };
}
