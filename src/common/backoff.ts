/**
 * Exponential backoff with jitter for retries (the agent's server calls, sync reconnects and attestation; the server's
 * federated bundle fetches). Each delay is the current step ± `jitter` (a fraction), the step doubling from
 * `initialMs` up to `maxMs`; `reset()` after a success.
 */
export interface BackoffOptions {
  readonly initialMs?: number;
  readonly maxMs?: number;
  /** Fraction of the step added or removed at random, 0–1. Default 0.2. */
  readonly jitter?: number;
  readonly random?: () => number;
}

export class Backoff {
  readonly #initialMs: number;
  readonly #maxMs: number;
  readonly #jitter: number;
  readonly #random: () => number;
  #stepMs: number;

  constructor(options: BackoffOptions = {}) {
    this.#initialMs = options.initialMs ?? 500;
    this.#maxMs = options.maxMs ?? 30_000;
    this.#jitter = options.jitter ?? 0.2;
    this.#random = options.random ?? Math.random;
    this.#stepMs = this.#initialMs;
  }

  /** The next delay, in ms; the following one is twice as long (up to the cap). */
  next(): number {
    const step = this.#stepMs;
    this.#stepMs = Math.min(this.#maxMs, step * 2);
    const delta = step * this.#jitter * (this.#random() * 2 - 1);
    return Math.max(0, Math.round(Math.min(this.#maxMs, step + delta)));
  }

  reset(): void {
    this.#stepMs = this.#initialMs;
  }
}

/** Resolves after `ms`, or at once (rejecting with the signal's reason) when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** `fraction` of a duration with ± `jitter` (fraction of the result) applied: e.g. half a TTL ± 10 %. */
export function jittered(durationMs: number, fraction: number, jitter: number, random: () => number = Math.random): number {
  const base = durationMs * fraction;
  return base + base * jitter * (random() * 2 - 1);
}
