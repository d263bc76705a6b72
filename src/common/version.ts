import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Our package's name on npm (`tessera` there is an unrelated project); the program it installs is `tessera`. */
export const PACKAGE_NAME = 'tessera-spiffe';
/** The command name: package.json's `bin` key, what `tessera version` prints. */
export const PROGRAM_NAME = 'tessera';

export interface PackageInfo {
  /** The program's name ({@link PROGRAM_NAME}), not the npm package's. */
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
      if (pkg.name === PACKAGE_NAME && typeof pkg.version === 'string') return { name: PROGRAM_NAME, version: pkg.version };
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`cannot find the ${PACKAGE_NAME} package.json above ${JSON.stringify(from)}`);
    dir = parent;
  }
}


/** The version string of this build (package.json). */
export function readPackageVersion(): string {
  return readPackageInfo().version;
}
