import { readFileSync } from 'node:fs';
import type { Logger } from './log.js';

/**
 * The process's open-file limit (RLIMIT_NOFILE). Node raises the soft limit to the hard one itself at start (as Go's
 * runtime does for SPIRE), so there is nothing left to raise from JavaScript; what the daemons do is log the limit
 * they got and warn when their connection caps do not fit under it (raise the hard limit: systemd `LimitNOFILE=`,
 * `ulimit -Hn`).
 */
export interface OpenFileLimit {
  readonly soft: number;
  readonly hard: number;
}

/** Reads the limit from /proc/self/limits; undefined where that file does not exist or says "unlimited". */
export function readOpenFileLimit(limitsFile = '/proc/self/limits'): OpenFileLimit | undefined {
  let text: string;
  try {
    text = readFileSync(limitsFile, 'utf8');
  } catch {
    return undefined;
  }
  const line = text.split('\n').find((l) => l.startsWith('Max open files'));
  const m = line && /^Max open files\s+(\d+)\s+(\d+)/.exec(line);
  return m ? { soft: Number(m[1]), hard: Number(m[2]) } : undefined;
}

/**
 * File descriptors kept for everything but the capped listener (datastore, admin socket, outgoing connections,
 * pidfds): a cap above `soft - FD_HEADROOM` could let that listener starve the rest.
 */
export const FD_HEADROOM = 256;

/** Logs the open-file limit, and a warning when `maxConnections` (named by `setting`) does not fit under it. */
export function logOpenFileLimit(log: Logger, maxConnections: number, setting: string): void {
  const limit = readOpenFileLimit();
  if (!limit) return;
  log.info({ openFilesSoft: limit.soft, openFilesHard: limit.hard }, 'Open-file limit (RLIMIT_NOFILE)');
  if (maxConnections > limit.soft - FD_HEADROOM) {
    log.warn(
      { [setting]: maxConnections, openFilesSoft: limit.soft, headroom: FD_HEADROOM },
      `${setting} does not fit under the open-file limit: lower it or raise the limit (systemd LimitNOFILE)`,
    );
  }
}
