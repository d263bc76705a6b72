#!/usr/bin/env node
// Benchmark dispatcher: `npm run bench -- <name> [args...]` runs bench/<name>.mjs (after `npm run build`, so
// benchmarks import the compiled code from dist/). With no name, lists the benchmarks available.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const names = readdirSync(here)
  .filter((f) => f.endsWith('.mjs') && f !== 'run.mjs' && !f.startsWith('_'))
  .map((f) => f.slice(0, -'.mjs'.length))
  .sort();

const [name, ...args] = process.argv.slice(2);
if (!name) {
  console.log('usage: npm run bench -- <name> [args...]\n\nbenchmarks:');
  for (const n of names) console.log(`  ${n}`);
  process.exit(0);
}
if (!names.includes(name)) {
  console.error(`unknown benchmark ${JSON.stringify(name)}; available: ${names.join(', ')}`);
  process.exit(2);
}
const res = spawnSync(process.execPath, [join(here, `${name}.mjs`), ...args], { stdio: 'inherit' });
process.exit(res.status ?? 1);
