// CPU profile analysis for the benchmarks (node --cpu-prof output): self and inclusive time per function within a time
// window, mapped to src/ through the source maps of dist/. The same analysis as bench/server-issuance.mjs.
import { existsSync, readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const sourceMaps = new Map();

function toSource(url, line, column) {
  if (!url.startsWith('file://')) return `${url || '(native)'}${url ? `:${line + 1}` : ''}`;
  const path = fileURLToPath(url);
  let map = sourceMaps.get(path);
  if (map === undefined) {
    map = null;
    try {
      if (existsSync(`${path}.map`)) map = new SourceMap(JSON.parse(readFileSync(`${path}.map`, 'utf8')));
    } catch {
      map = null;
    }
    sourceMaps.set(path, map);
  }
  if (map) {
    const e = map.findEntry(line, column);
    if (e && e.originalSource) {
      const src = e.originalSource.startsWith('file://') ? fileURLToPath(e.originalSource) : join(dirname(path), e.originalSource);
      return `${relative(ROOT, src)}:${e.originalLine + 1}`;
    }
  }
  const rel = relative(ROOT, path);
  return `${rel.startsWith('node_modules') ? rel.replace(/^(node_modules\/(@[^/]+\/)?[^/]+).*$/, '$1') + '/' + path.split('/').pop() : rel}:${line + 1}`;
}

/**
 * @param {string} file a .cpuprofile
 * @param {[number, number] | [number, number][] | undefined} windowUs one window or a list of windows, in monotonic-clock µs
 *        (process.hrtime.bigint() / 1000n); undefined = the whole run
 * @returns {{total: number, selfTop: [string, number][], inclusiveTop: [string, number][], windowed: boolean}} µs
 */
export function analyseProfile(file, windowUs, k = 25) {
  const prof = typeof file === 'string' ? JSON.parse(readFileSync(file, 'utf8')) : file;
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map();
  let t = prof.startTime;
  let total = 0;
  const windows = windowUs === undefined ? undefined : Array.isArray(windowUs[0]) ? windowUs : [windowUs];
  const inWindow = (ts) => !windows || windows.some(([a, b]) => ts >= a && ts <= b);
  const counts = new Map();
  for (let i = 0; i < prof.samples.length; i++) {
    t += prof.timeDeltas[i];
    if (!inWindow(t)) continue;
    const dt = prof.timeDeltas[i + 1] ?? 0;
    counts.set(prof.samples[i], (counts.get(prof.samples[i]) ?? 0) + dt);
    total += dt;
  }
  if (total === 0 && windowUs) return analyseProfile(prof, undefined, k);
  const label = (n) => {
    const cf = n.callFrame;
    return `${cf.functionName || '(anonymous)'}  ${toSource(cf.url, cf.lineNumber, cf.columnNumber)}`;
  };
  const inclusive = new Map();
  for (const [id, us] of counts) {
    const l = label(byId.get(id));
    self.set(l, (self.get(l) ?? 0) + us);
    const seen = new Set();
    for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
      const cl = label(byId.get(cur));
      if (seen.has(cl)) continue;
      seen.add(cl);
      inclusive.set(cl, (inclusive.get(cl) ?? 0) + us);
    }
  }
  const top = (m, filter = () => true) =>
    [...m.entries()].filter(([l]) => filter(l)).sort((a, b) => b[1] - a[1]).slice(0, k);
  return { total, selfTop: top(self), inclusiveTop: top(inclusive, (l) => /\s(src|dist)\//.test(l)), windowed: !!windowUs };
}
