/**
 * go-spiffe's own test data (svid/x509svid/testdata, bundle/<kind>/testdata), read from the go-spiffe module that the
 * interop harness (test/interop/go.mod) already downloads: `scripts/test-deps.sh` runs `go mod download` there.
 * The directory is resolved once per test file with `go list -m`; a missing Go or module fails loudly (never a skip).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findGo } from './go.js';

const INTEROP_DIR = fileURLToPath(new URL('../interop/', import.meta.url));
export const GO_SPIFFE_MODULE = 'github.com/spiffe/go-spiffe/v2';
const FIX = 'run `bash scripts/test-deps.sh` (or `go mod download` in test/interop)';

let moduleDir: string | undefined;

/** The go-spiffe module directory (`$(go env GOMODCACHE)/github.com/spiffe/go-spiffe/v2@<version>`). */
export function goSpiffeModuleDir(): string {
  if (moduleDir !== undefined) return moduleDir;
  const go = findGo();
  if (go === undefined) {
    throw new Error(`go-spiffe test data needs Go ≥ 1.24 on PATH or in /usr/local/go/bin; install it, then ${FIX}`);
  }
  const r = spawnSync(go, ['list', '-m', '-f', '{{.Dir}}', GO_SPIFFE_MODULE], { cwd: INTEROP_DIR, encoding: 'utf8' });
  if (r.error) throw new Error(`cannot run ${JSON.stringify(go)}: ${r.error.message}`);
  const dir = r.stdout.trim();
  if (r.status !== 0 || dir === '' || !existsSync(dir)) {
    throw new Error(`the ${GO_SPIFFE_MODULE} module is not downloaded; ${FIX}\n${r.stderr.trim()}`);
  }
  moduleDir = dir;
  return dir;
}

/** A testdata directory of the go-spiffe module, e.g. `goSpiffeTestdata('svid/x509svid')`. */
export function goSpiffeTestdata(pkg: string): string {
  const dir = join(goSpiffeModuleDir(), pkg, 'testdata');
  if (!existsSync(dir)) throw new Error(`go-spiffe has no ${JSON.stringify(`${pkg}/testdata`)} in ${GO_SPIFFE_MODULE}`);
  return dir;
}
