/**
 * The simulator's only source of randomness: sfc32 (Chris Doty-Humphrey's "small fast counting" generator,
 * 128-bit state, passes PractRand) seeded from a 32-bit seed through splitmix32. Deterministic, fast, no
 * Math.random. `fork(label)` derives an independent stream from the *seed* and a label (not from the current
 * state), so adding a draw to one stream (say the scenario's) never shifts another (say the network's).
 */
import type { RandomBytes } from '../../shared/crypto/random.ts';

const TWO_32 = 4294967296;

/** murmur3's 32-bit finalizer: a bijective avalanche mix. */
export function mix32(x: number): number {
  let z = x >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/** A seed for a sub-stream: mixes the parent seed with a label. */
export function deriveSeed(seed: number, label: string | number): number {
  let h = 0x811c9dc5 ^ mix32(seed);
  const s = String(label);
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return mix32(h ^ 0x5bd1e995);
}

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(readonly seed: number) {
    if (!Number.isInteger(seed) || seed < 0 || seed >= TWO_32) throw new RangeError(`seed must be an integer in 0..2^32-1, got ${String(seed)}`);
    let s = seed | 0;
    const sm = () => {
      s = (s + 0x9e3779b9) | 0;
      return mix32(s);
    };
    this.a = sm();
    this.b = sm();
    this.c = sm();
    this.d = sm();
    for (let i = 0; i < 12; i++) this.next();
  }

  /** Uniform 32-bit unsigned integer. */
  next(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1). */
  float(): number {
    return this.next() / TWO_32;
  }

  /** Uniform integer in [0, n); n must be a positive integer. */
  int(n: number): number {
    if (!(n > 0) || !Number.isInteger(n)) throw new RangeError(`int(n) needs a positive integer, got ${String(n)}`);
    return Math.floor(this.float() * n);
  }

  /** Uniform integer in [lo, hi] (inclusive). */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  chance(p: number): boolean {
    return p > 0 && this.float() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('pick from an empty array');
    return items[this.int(items.length)]!;
  }

  /** Fisher-Yates, in place; returns the array. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const x = items[i]!;
      items[i] = items[j]!;
      items[j] = x;
    }
    return items;
  }

  /** k distinct elements in random order. */
  sample<T>(items: readonly T[], k: number): T[] {
    return this.shuffle(items.slice()).slice(0, Math.max(0, Math.min(k, items.length)));
  }

  bytes(length: number): Uint8Array {
    const out = new Uint8Array(length);
    let i = 0;
    for (; i + 4 <= length; i += 4) {
      const x = this.next();
      out[i] = x & 0xff;
      out[i + 1] = (x >>> 8) & 0xff;
      out[i + 2] = (x >>> 16) & 0xff;
      out[i + 3] = x >>> 24;
    }
    if (i < length) {
      let x = this.next();
      for (; i < length; i++, x >>>= 8) out[i] = x & 0xff;
    }
    return out;
  }

  /** An independent stream derived from this generator's seed and a label (draw-order independent). */
  fork(label: string | number): Rng {
    return new Rng(deriveSeed(this.seed, label));
  }

  /** This stream as the `RandomBytes` that shared/ code takes as an argument. */
  randomBytes(): RandomBytes {
    return (length) => this.bytes(length);
  }
}
