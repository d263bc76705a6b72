import { createHash } from 'node:crypto';
import { closeSync, createReadStream, fstatSync, openSync, type BigIntStats } from 'node:fs';
import { unavailable } from '../../common/errors.js';

/**
 * sha256 of a process's binary, read through /proc/<pid>/exe (that magic link opens the very inode the process runs,
 * even when its path lives in another mount namespace or was deleted). Results are cached by the inode's identity and
 * times (dev, ino, size, mtime, ctime; ns precision): re-attesting a process of an already hashed binary costs open +
 * fstat + close. ctime is in the key because mtime can be set back by the file's owner (utimes); ctime cannot.
 * The file is streamed (binaries can be hundreds of MB), concurrent requests for the same binary share one read, and
 * a file whose identity changed while it was being read is refused (UNAVAILABLE) rather than cached half-old.
 */
export interface BinaryHasher {
  /** Hex sha256 of the binary `pid` runs. Rejects with the fs error (ENOENT: process gone, EACCES: not readable). */
  sha256OfExe(pid: number): Promise<string>;
  stats(): BinaryHasherStats;
}

export interface BinaryHasherStats {
  readonly hits: number;
  /** Files actually read and hashed. */
  readonly misses: number;
  readonly bytesHashed: number;
  readonly entries: number;
}

export interface BinaryHasherOptions {
  /** Cached binaries kept (least recently used dropped first). Default 1024. */
  readonly maxEntries?: number;
  /** Read size. Default 1 MiB. */
  readonly chunkSize?: number;
  /** Default /proc. */
  readonly procRoot?: string;
}

export function createBinaryHasher(options: BinaryHasherOptions = {}): BinaryHasher {
  const maxEntries = options.maxEntries ?? 1024;
  const chunkSize = options.chunkSize ?? 1 << 20;
  const procRoot = options.procRoot ?? '/proc';
  const cache = new Map<string, string>();
  const inFlight = new Map<string, Promise<string>>();
  let hits = 0;
  let misses = 0;
  let bytesHashed = 0;

  async function hashFd(fd: number, key: string): Promise<string> {
    misses++;
    const hash = createHash('sha256');
    await new Promise<void>((resolve, reject) => {
      const stream = createReadStream('', { fd, autoClose: false, highWaterMark: chunkSize, start: 0 });
      stream.on('data', (chunk) => {
        bytesHashed += chunk.length;
        hash.update(chunk);
      });
      stream.once('error', reject);
      stream.once('end', resolve);
    });
    if (identity(fstatSync(fd, { bigint: true })) !== key) {
      throw unavailable('binary changed while it was being hashed');
    }
    const digest = hash.digest('hex');
    cache.set(key, digest);
    while (cache.size > maxEntries) cache.delete(cache.keys().next().value as string);
    return digest;
  }

  return {
    async sha256OfExe(pid) {
      const fd = openSync(`${procRoot}/${pid}/exe`, 'r');
      try {
        const key = identity(fstatSync(fd, { bigint: true }));
        const cached = cache.get(key);
        if (cached !== undefined) {
          hits++;
          // Refresh its place in the LRU order.
          cache.delete(key);
          cache.set(key, cached);
          return cached;
        }
        let pending = inFlight.get(key);
        if (pending === undefined) {
          pending = hashFd(fd, key).finally(() => inFlight.delete(key));
          inFlight.set(key, pending);
        } else {
          hits++;
        }
        return await pending;
      } finally {
        closeSync(fd);
      }
    },
    stats: () => ({ hits, misses, bytesHashed, entries: cache.size }),
  };
}

function identity(st: BigIntStats): string {
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
}
