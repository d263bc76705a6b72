/** Human output of the CLI: aligned blocks (one record) and tables (many), times in UTC ISO 8601. */

/** `label : value` lines with the colons aligned; a value list continues on the next lines under the first value. */
export function block(rows: ReadonlyArray<readonly [string, string | readonly string[] | undefined]>): string {
  const shown = rows.filter(([, v]) => v !== undefined && (typeof v === 'string' || v.length > 0)) as [
    string,
    string | readonly string[],
  ][];
  const width = Math.max(0, ...shown.map(([label]) => label.length));
  let out = '';
  for (const [label, value] of shown) {
    const values = typeof value === 'string' ? [value] : value;
    values.forEach((v, i) => {
      out += i === 0 ? `${label.padEnd(width)} : ${v}\n` : `${' '.repeat(width)}   ${v}\n`;
    });
  }
  return out;
}

/** Columns padded to their widest cell; the last column is not padded. */
export function table(headers: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd() + '\n';
  return line(headers) + rows.map(line).join('');
}

/** Unix seconds → `2026-01-02T03:04:05Z`; 0 → `never` (or the given word). */
export function formatUnixSeconds(seconds: number, zero = 'never'): string {
  if (!seconds) return zero;
  return new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function formatUnixMs(ms: number): string {
  return new Date(ms).toISOString();
}

/** 3600 → `1h`, 90 → `1m30s`, 86400 → `1d`; at most the two largest units (`400d6h`). */
export function humanDuration(seconds: number): string {
  const parts: string[] = [];
  let s = Math.abs(Math.trunc(seconds));
  for (const [unit, size] of [
    ['d', 86_400],
    ['h', 3600],
    ['m', 60],
  ] as const) {
    if (s >= size) {
      parts.push(`${Math.floor(s / size)}${unit}`);
      s %= size;
    }
  }
  if (s > 0 || parts.length === 0) parts.push(`${s}s`);
  return parts.slice(0, 2).join('');
}

/** A time with how far it is from now: `2026-01-02T03:04:05Z (in 10m)` / `(5m ago)`. */
export function withRelative(seconds: number, nowMs = Date.now()): string {
  if (!seconds) return 'never';
  const delta = Math.round(seconds - nowMs / 1000);
  const rel = delta >= 0 ? `in ${humanDuration(delta)}` : `${humanDuration(-delta)} ago`;
  return `${formatUnixSeconds(seconds)} (${rel})`;
}

export function plural(n: number, one: string, many = one + 's'): string {
  return `${n} ${n === 1 ? one : many}`;
}
