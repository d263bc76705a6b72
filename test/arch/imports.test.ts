/**
 * One-way imports (architecture.md §9): spiffe ← common ← server | agent | cli. Scans every import specifier in src/
 * and fails on a sideways or backwards edge. The only allowed crossing is the binary handing its process over to the
 * server's or agent's entry point by a run-time import of their main module (src/cli/commands/{server,agent-run}.ts),
 * and `tessera config validate` loading their config module the same way.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve, dirname, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));

const ALLOWED: Record<string, readonly string[]> = {
  spiffe: ['spiffe'],
  common: ['common', 'spiffe'],
  server: ['server', 'common', 'spiffe'],
  agent: ['agent', 'common', 'spiffe'],
  cli: ['cli', 'common', 'spiffe'],
};

/** Entry-point handoffs: `await import('…/main.js')` of a process's main module, from the binary's command files. */
const HANDOFFS: ReadonlyArray<readonly [string, string]> = [
  ['cli/commands/server.ts', 'server/main.ts'],
  ['cli/commands/agent-run.ts', 'agent/main.ts'],
  // `tessera config validate` checks a file with the process's own schema and rules.
  ['cli/commands/config/validate.ts', 'server/config.ts'],
  ['cli/commands/config/validate.ts', 'agent/config.ts'],
];

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? walk(p) : p.endsWith('.ts') ? [p] : [];
  });
}

const layerOf = (file: string) => relative(SRC, file).split(sep)[0]!;
const SPECIFIER = /(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

describe('import direction', () => {
  const files = walk(SRC);

  it('finds the source tree', () => {
    expect(files.length).toBeGreaterThan(50);
    expect(new Set(files.map(layerOf))).toEqual(new Set(Object.keys(ALLOWED)));
  });

  it('never imports sideways or backwards', () => {
    const violations: string[] = [];
    for (const file of files) {
      const from = layerOf(file);
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(SPECIFIER)) {
        const spec = m[1] ?? m[2]!;
        if (!spec.startsWith('.')) continue;
        const target = relative(SRC, resolve(dirname(file), spec)).replace(/\.js$/, '.ts');
        const to = target.split(sep)[0]!;
        if (ALLOWED[from]!.includes(to)) continue;
        const rel = relative(SRC, file);
        if (m[2] !== undefined && HANDOFFS.some(([f, t]) => f === rel && t === target)) continue;
        violations.push(`${rel} imports ${target}`);
      }
    }
    expect(violations).toEqual([]);
  });
});
