/**
 * A seeded PRNG (mulberry32) for reproducible random test inputs. Set TESSERA_TEST_SEED to replay or vary a run;
 * the seed in use is part of every failure context through `Rng.seed`.
 */
export class Rng {
  readonly seed: number;
  #state: number;

  constructor(defaultSeed: number) {
    const env = process.env['TESSERA_TEST_SEED'];
    this.seed = env ? Number(env) >>> 0 : defaultSeed >>> 0;
    this.#state = this.seed;
  }

  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.#state = (this.#state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  bool(p = 0.5): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }

  string(alphabet: string, min: number, max: number): string {
    let s = '';
    const n = this.int(min, max);
    for (let i = 0; i < n; i++) s += alphabet[Math.floor(this.next() * alphabet.length)];
    return s;
  }

  /** 1–6 valid SPIFFE path segments (never `.` or `..`). */
  pathSegments(): string[] {
    const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-';
    const out: string[] = [];
    for (let i = this.int(1, 6); i > 0; i--) {
      let seg = this.string(alphabet, 1, 24);
      if (seg === '.' || seg === '..') seg += 'x';
      out.push(seg);
    }
    return out;
  }

  /** 0–4 valid DNS names, sometimes with a leading wildcard. */
  dnsNames(): string[] {
    const out: string[] = [];
    for (let i = this.pick([0, 0, 1, 2, 4]); i > 0; i--) {
      const labels: string[] = [];
      for (let j = this.int(2, 4); j > 0; j--) {
        const inner = this.string('abcdefghijklmnopqrstuvwxyz0123456789-', 0, 12);
        labels.push(this.string('abcdefghijklmnopqrstuvwxyz0123456789', 1, 1) + (inner ? inner.replace(/-+$/, '') + 'z' : ''));
      }
      out.push((this.bool(0.15) ? '*.' : '') + labels.join('.'));
    }
    return out;
  }

  /** A positive serial of 1–159 bits. */
  serial(): bigint {
    const bits = this.int(1, 159);
    let v = 0n;
    for (let i = 0; i < bits; i += 16) v = (v << 16n) | BigInt(this.int(0, 0xffff));
    v &= (1n << BigInt(bits)) - 1n;
    return v === 0n ? 1n : v;
  }
}
