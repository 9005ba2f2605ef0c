/** Arithmetic in the scalar field Fr of BLS12-381: sampling, hashing to scalars, Lagrange coefficients. */
import { sha512 } from '@noble/hashes/sha2.js';
import { bytesToBigint, frame } from './bytes.ts';
import { Fr, R } from './curve.ts';
import type { RandomBytes } from './random.ts';

export const mod = (x: bigint): bigint => Fr.create(x);
export const add = (a: bigint, b: bigint): bigint => Fr.add(a, b);
export const sub = (a: bigint, b: bigint): bigint => Fr.sub(a, b);
export const mul = (a: bigint, b: bigint): bigint => Fr.mul(a, b);
export const inv = (a: bigint): bigint => Fr.inv(a);

/**
 * Uniform nonzero scalar: 64 random bytes reduced mod r (bias below 2^-256).
 */
export function randomScalar(rng: RandomBytes): bigint {
  for (;;) {
    const x = bytesToBigint(rng(64)) % R;
    if (x !== 0n) return x;
  }
}

/** Random oracle into Fr, domain-separated by `purpose`; used for Fiat-Shamir challenges and nonces. */
export function hashToScalar(purpose: string, ...parts: (Uint8Array | string)[]): bigint {
  return bytesToBigint(sha512(frame(`sintra-edge/v1/h2s/${purpose}`, ...parts))) % R;
}

/** Lagrange coefficients at 0 for distinct nonzero evaluation points xs. */
export function lagrangeAtZero(xs: readonly bigint[]): bigint[] {
  const out: bigint[] = [];
  for (let i = 0; i < xs.length; i++) {
    let num = 1n;
    let den = 1n;
    for (let j = 0; j < xs.length; j++) {
      if (i === j) continue;
      num = mul(num, xs[j]!);
      den = mul(den, sub(xs[j]!, xs[i]!));
    }
    out.push(mul(num, inv(den)));
  }
  return out;
}
