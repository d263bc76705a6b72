import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** Where Go is installed on our machines when it is not on PATH (CI's PATH may lack it). */
export const GO_FALLBACK_DIRS: readonly string[] = ['/usr/local/go/bin'];

/**
 * The absolute path of the `go` executable: the first one on PATH, else the first in GO_FALLBACK_DIRS.
 * Returns undefined when there is none; callers decide whether that is a failure (the interop test says so loudly).
 */
export function findGo(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const dirs = [...(env['PATH'] ?? '').split(delimiter).filter((d) => d !== ''), ...GO_FALLBACK_DIRS];
  for (const dir of dirs) {
    const candidate = join(dir, process.platform === 'win32' ? 'go.exe' : 'go');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here; keep looking
    }
  }
  return undefined;
}
