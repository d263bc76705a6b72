import { randomFillSync } from 'node:crypto';
import { X509IssueInvalid } from '../errors.js';
import { bigintToBytes, unsignedInteger } from './der.js';

/** Serial numbers are positive and at most 20 octets once DER-encoded (RFC 5280 §4.1.2.2). */
const MAX_SERIAL = (1n << 159n) - 1n;

const POOL_SIZE = 16 * 512;
const pool = new Uint8Array(POOL_SIZE);
let poolOffset = POOL_SIZE;

/** 16 random octets, served from a pool refilled from the CSPRNG (one syscall per 512 serials). */
function random16(): Uint8Array {
  if (poolOffset === POOL_SIZE) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const out = pool.slice(poolOffset, poolOffset + 16);
  poolOffset += 16;
  return out;
}

/** A serial and its DER INTEGER. */
export interface EncodedSerial {
  readonly value: bigint;
  readonly der: Uint8Array;
}

/** A random serial in [1, 2^128 − 1] (128 random bits; zero is redrawn). */
export function randomSerial(): EncodedSerial {
  for (;;) {
    const bytes = random16();
    const view = new DataView(bytes.buffer, bytes.byteOffset, 16);
    const value = (view.getBigUint64(0) << 64n) | view.getBigUint64(8);
    if (value !== 0n) return { value, der: unsignedInteger(bytes) };
  }
}

/** Checks and encodes a caller-chosen serial. */
export function encodeSerial(value: bigint): EncodedSerial {
  if (typeof value !== 'bigint') throw new TypeError('serial must be a bigint');
  if (value < 1n || value > MAX_SERIAL) {
    throw new X509IssueInvalid('serial', 'serial must be positive and fit in 20 octets');
  }
  return { value, der: unsignedInteger(bigintToBytes(value)) };
}
