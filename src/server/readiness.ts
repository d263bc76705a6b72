import { statfs } from 'node:fs/promises';
import type { Readiness } from '../common/http/readiness-cache.js';
import type { CaHealth } from './ca/types.js';
import type { Datastore } from './datastore/index.js';

/** Below this many bytes free for the server on the data dir's filesystem, the datastore counts as full. */
export const MIN_FREE_BYTES = 1024 * 1024;

export interface ServerReadinessOptions {
  readonly datastore: Pick<Datastore, 'ping' | 'checkWritable'>;
  readonly ca: CaHealth;
  /** The directory of the datastore file (the data dir). */
  readonly dataDir: string;
  /** Free bytes for unprivileged writers on `dir`'s filesystem. Default: statfs. */
  readonly freeBytes?: (dir: string) => Promise<number>;
}

/**
 * Ready means able to do the job: issue an SVID and record it. In order, the first failure is the reason:
 * the datastore answers a read; its filesystem has at least MIN_FREE_BYTES free ("datastore disk full: …"); a write
 * transaction commits; the CA signs a test X509-SVID and JWT-SVID that verify against the bundle.
 */
export function serverReadiness(o: ServerReadinessOptions): () => Promise<Readiness> {
  const freeBytes = o.freeBytes ?? statfsFreeBytes;
  return async () => {
    try {
      await o.datastore.ping();
    } catch (err) {
      return { ok: false, reason: `datastore unreachable: ${(err as Error).message}` };
    }
    let free: number;
    try {
      free = await freeBytes(o.dataDir);
    } catch (err) {
      return { ok: false, reason: `cannot check the free space of ${JSON.stringify(o.dataDir)}: ${(err as Error).message}` };
    }
    if (free < MIN_FREE_BYTES) {
      return { ok: false, reason: `datastore disk full: ${free} bytes free on the filesystem of ${JSON.stringify(o.dataDir)}` };
    }
    try {
      await o.datastore.checkWritable();
    } catch (err) {
      return { ok: false, reason: `datastore cannot write: ${(err as Error).message}` };
    }
    return (await o.ca.canSign()) ? { ok: true } : { ok: false, reason: 'the CA test signature failed (see the log)' };
  };
}

async function statfsFreeBytes(dir: string): Promise<number> {
  const s = await statfs(dir);
  return s.bavail * s.bsize;
}
