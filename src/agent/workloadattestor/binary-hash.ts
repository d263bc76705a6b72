import { createHash } from 'node:crypto';
import { closeSync, createReadStream, fstatSync, openSync, type BigIntStats } from 'node:fs';
import { permissionDenied, unavailable } from '../../common/errors.js';
import type { FileIdentity } from '../types.js';

/**
 * sha256 of a process's binary, read through /proc/<pid>/exe (that magic link opens the very inode the process runs,
 * even when its path lives in another mount namespace or was deleted). Results are cached by the inode's identity and
 * times (dev, ino, size, mtime, ctime; ns precision): re-attesting a process of an already hashed binary costs open +
 * fstat + close. ctime is in the key because mtime can be set back by the file's owner (utimes); ctime cannot.
 * The file is streamed (binaries can be hundreds of MB), concurrent requests for the same binary share one read, and
 * a file whose identity changed while it was being read is refused (UNAVAILABLE) rather than cached half-old.
 * Files larger than `maxBytes` are not read at all (undefined: no unix:sha256 selector): hashing costs about 1 s of a
 * core per GB, and the binary is the caller's choice.
 */
export interface BinaryHasher {
  /**
   * Hex sha256 of the binary `pid` runs, or undefined when it is larger than the size limit. With `expected`, the
   * file opened must be that one (PERMISSION_DENIED otherwise: the process exec'd since it was looked at). Rejects
   * with the fs error (ENOENT: process gone, EACCES: not readable).
   */
  sha256OfExe(pid: number, expected?: FileIdentity): Promise<string | undefined>;
  stats(): BinaryHasherStats;
}

export interface BinaryHasherStats {
  readonly hits: number;
  /** Files actually read and hashed. */
  readonly misses: number;
  readonly bytesHashed: number;
  readonly entries: number;
  /** Binaries not hashed because they were larger than the limit. */
  readonly tooLarge: number;
}

export interface BinaryHasherOptions {
  /** Cached binaries kept (least recently used dropped first). Default 1024. */
  readonly maxEntries?: number;
  /** Read size. Default 1 MiB. */
  readonly chunkSize?: number;
  /** Default /proc. */
  readonly procRoot?: string;
  /** Largest binary hashed, in bytes. Default {@link DEFAULT_MAX_HASH_BYTES}. */
  readonly maxBytes?: number;
}

/** 1 GiB: above the largest binaries in common use (browsers, big static Go or Rust programs are a few hundred MB). */
export const DEFAULT_MAX_HASH_BYTES = 1024 * 1024 * 1024;

export function createBinaryHasher(options: BinaryHasherOptions = {}): BinaryHasher {
  const maxEntries = options.maxEntries ?? 1024;
  const chunkSize = options.chunkSize ?? 1 << 20;
  const procRoot = options.procRoot ?? '/proc';
  const maxBytes = BigInt(options.maxBytes ?? DEFAULT_MAX_HASH_BYTES);
  const cache = new Map<string, string>();
  const inFlight = new Map<string, Promise<string>>();
  let hits = 0;
  let misses = 0;
  let bytesHashed = 0;
  let tooLarge = 0;

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
    async sha256OfExe(pid, expected) {
      const fd = openSync(`${procRoot}/${pid}/exe`, 'r');
      try {
        const st = fstatSync(fd, { bigint: true });
        if (expected !== undefined && (st.dev !== expected.dev || st.ino !== expected.ino)) {
          throw permissionDenied('process changed during attestation (exec?)');
        }
        if (st.size > maxBytes) {
          tooLarge++;
          return undefined;
        }
        const key = identity(st);
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
    stats: () => ({ hits, misses, bytesHashed, entries: cache.size, tooLarge }),
  };
}

function identity(st: BigIntStats): string {
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
}
