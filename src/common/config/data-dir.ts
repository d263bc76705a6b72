import { readdirSync } from 'node:fs';
import * as path from 'node:path';

/**
 * One rule for relative paths: against the config file's directory (`baseDir`). Before, the default dataDir string
 * (`./.tessera/server`, `./.tessera/agent`) alone resolved against the working directory. An install that still keeps
 * its data there, and has none at the new location, goes on using the old location with a warning saying how to
 * move it; a new, empty data dir there would mean a new CA (server) or a new agent identity.
 */
export function resolveDataDir(
  value: string,
  oldDefault: string,
  baseDir: string,
  cwd: string,
): { dataDir: string; warnings: string[] } {
  const dataDir = path.resolve(baseDir, value);
  if (value !== oldDefault) return { dataDir, warnings: [] };
  const old = path.resolve(cwd, value);
  if (old === dataDir || !holdsData(old)) return { dataDir, warnings: [] };
  if (holdsData(dataDir)) {
    return {
      dataDir,
      warnings: [
        `dataDir ${JSON.stringify(value)} now resolves against the config file's directory to ${JSON.stringify(dataDir)}; ` +
          `the old location ${JSON.stringify(old)} also holds data and is not used`,
      ],
    };
  }
  return {
    dataDir: old,
    warnings: [
      `dataDir ${JSON.stringify(value)}: using the old location ${JSON.stringify(old)} (relative to the working directory); ` +
        `relative paths now resolve against the config file's directory, so set dataDir to ${JSON.stringify(old)}, or stop ` +
        `the process and move the directory to ${JSON.stringify(dataDir)}`,
    ],
  };
}

function holdsData(dir: string): boolean {
  try {
    return readdirSync(dir).length > 0;
  } catch {
    return false;
  }
}
