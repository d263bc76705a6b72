import { systemClock, type Clock } from '../clock.js';
import type { Logger } from '../log.js';

/**
 * A warning that is logged at most once per interval: a flood of refused connections must not become a flood of log
 * lines. The next line logged after a quiet spell says how many were left out (`suppressed`).
 */
export class RateLimitedWarning {
  readonly #log: Logger;
  readonly #intervalMs: number;
  readonly #clock: Clock;
  #lastAt = Number.NEGATIVE_INFINITY;
  #suppressed = 0;

  constructor(log: Logger, options: { intervalMs?: number; clock?: Clock } = {}) {
    this.#log = log;
    this.#intervalMs = options.intervalMs ?? 10_000;
    this.#clock = options.clock ?? systemClock;
  }

  /** Logs `message` with `fields` (and the count left out since the last line), or counts it as left out. */
  warn(fields: Record<string, unknown>, message: string): void {
    const now = this.#clock.now().getTime();
    if (now - this.#lastAt < this.#intervalMs) {
      this.#suppressed++;
      return;
    }
    this.#lastAt = now;
    const suppressed = this.#suppressed;
    this.#suppressed = 0;
    this.#log.warn({ ...fields, ...(suppressed > 0 && { suppressed }) }, message);
  }
}
