import { describe, expect, it } from 'vitest';
import { cachedReadiness, READINESS_CACHE_MS, type Readiness } from '../../../src/common/http/readiness-cache.js';
import { fakeClock } from '../../helpers/fake-clock.js';

function countingCheck(answers: Readiness[]) {
  const c = {
    calls: 0,
    check: async (): Promise<Readiness> => answers[Math.min(c.calls++, answers.length - 1)]!,
  };
  return c;
}

describe('cachedReadiness', () => {
  it('runs the check once per second of the injected clock, then again with the new answer', async () => {
    const clock = fakeClock();
    const c = countingCheck([{ ok: true }, { ok: false, reason: 'datastore disk full' }]);
    const ready = cachedReadiness(c.check, clock);
    expect(await ready()).toEqual({ ok: true });
    for (let i = 0; i < 50; i++) expect(await ready()).toEqual({ ok: true });
    clock.advance(READINESS_CACHE_MS - 1);
    expect(await ready()).toEqual({ ok: true });
    expect(c.calls).toBe(1);
    clock.advance(1);
    expect(await ready()).toEqual({ ok: false, reason: 'datastore disk full' });
    expect(c.calls).toBe(2);
  });

  it('lets callers that arrive while a check runs share it', async () => {
    const clock = fakeClock();
    let calls = 0;
    let release!: (r: Readiness) => void;
    const ready = cachedReadiness(() => {
      calls++;
      return new Promise<Readiness>((resolve) => (release = resolve));
    }, clock);
    const answers = Promise.all(Array.from({ length: 20 }, () => ready()));
    release({ ok: true });
    expect(await answers).toEqual(Array.from({ length: 20 }, () => ({ ok: true })));
    expect(calls).toBe(1);
  });

  it('reports a check that throws as not ready, with its message', async () => {
    const ready = cachedReadiness(() => {
      throw new Error('boom');
    }, fakeClock());
    expect(await ready()).toEqual({ ok: false, reason: 'readiness check failed: boom' });
  });
});
