import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface PackageInfo {
  readonly name: string;
  readonly version: string;
}

/**
 * Reads our package.json at run time. The file is found by walking up from this module, so it works the same from
 * src/cli/commands (tsx, vitest) and from dist/cli/commands (the built bin) and through npm's bin symlink.
 */
export function readPackageInfo(from: string = fileURLToPath(import.meta.url)): PackageInfo {
  let dir = dirname(from);
  for (;;) {
    let text: string | undefined;
    try {
      text = readFileSync(join(dir, 'package.json'), 'utf8');
    } catch {
      text = undefined;
    }
    if (text !== undefined) {
      const pkg = JSON.parse(text) as { name?: unknown; version?: unknown };
      if (pkg.name === 'tessera' && typeof pkg.version === 'string') return { name: pkg.name, version: pkg.version };
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error('cannot find the tessera package.json above ' + JSON.stringify(from));
    dir = parent;
  }
}


/** The version string of this build (package.json). */
export function readPackageVersion(): string {
  return readPackageInfo().version;
}
