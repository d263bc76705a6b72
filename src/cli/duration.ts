import { UsageError } from './command.js';

const UNITS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86_400 };

/**
 * A duration option: one or more `<whole number><unit>` parts, units d, h, m, s (`30d`, `1h30m`, `90s`), within
 * [min, max] seconds; a usage error naming the option otherwise.
 */
export function durationFlag(name: string, text: string, min: number, max: number): number {
  const parts = /^(?:\d+[dhms])+$/.test(text) ? [...text.matchAll(/(\d+)([dhms])/g)] : [];
  if (parts.length === 0) {
    throw new UsageError(`--${name} must be a duration such as "30d", "12h", "1h30m" or "90s", not ${JSON.stringify(text)}`);
  }
  const seconds = parts.reduce((sum, [, n, unit]) => sum + Number(n) * UNITS[unit!]!, 0);
  if (!Number.isSafeInteger(seconds) || seconds < min || seconds > max) {
    throw new UsageError(`--${name} must be between ${min}s and ${max}s, not ${JSON.stringify(text)}`);
  }
  return seconds;
}
