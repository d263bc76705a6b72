import type { Clock } from '../../common/clock.js';
import type { Logger } from '../../common/log.js';
import type { WorkloadSelector } from '../types.js';
import { selectorKey } from './matching.js';

/** Per (uid, binary) at most one line per this interval by default. */
export const REFUSAL_LOG_INTERVAL_MS = 60_000;
/** Distinct (uid, binary) keys remembered; beyond that the memory starts over (a flood cannot grow it). */
const MAX_KEYS = 1024;

/**
 * Logs a refused workload (no entry matches, or a supervisor/worker rule refused it) at info with the selectors it
 * presented, so "why does my process get no SVID?" has an answer in the agent's log (issue 15). At most one line per
 * (uid, binary) per interval; the next line says how many were left out (`suppressed`). Selectors are kernel facts
 * (ids, paths, hashes, cgroups), never secrets; the refusal reason is the PERMISSION_DENIED message the caller got.
 */
export class RefusalLog {
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #intervalMs: number;
  readonly #last = new Map<string, { at: number; suppressed: number }>();

  constructor(log: Logger, clock: Clock, intervalMs = REFUSAL_LOG_INTERVAL_MS) {
    this.#log = log;
    this.#clock = clock;
    this.#intervalMs = intervalMs;
  }

  refused(pid: number, selectors: readonly WorkloadSelector[], reason: string): void {
    const uid = selectors.find((s) => s.type === 'unix' && s.value.startsWith('uid:'))?.value.slice(4) ?? '';
    const exe = selectors.find((s) => s.type === 'unix' && s.value.startsWith('path:'))?.value.slice(5) ?? '';
    const key = `${uid}\n${exe}`;
    const now = this.#clock.now().getTime();
    const seen = this.#last.get(key);
    if (seen !== undefined && now - seen.at < this.#intervalMs) {
      seen.suppressed++;
      return;
    }
    if (seen === undefined && this.#last.size >= MAX_KEYS) this.#last.clear();
    this.#last.set(key, { at: now, suppressed: 0 });
    this.#log.info(
      {
        pid,
        ...(uid !== '' && { uid: Number(uid) }),
        ...(exe !== '' && { exe }),
        selectors: selectors.map(selectorKey),
        reason,
        ...(seen !== undefined && seen.suppressed > 0 && { suppressed: seen.suppressed }),
      },
      'Workload refused; see "tessera entry explain --pid" for why each entry did not match',
    );
  }
}
