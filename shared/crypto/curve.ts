/**
 * BLS12-381 groups and strict encodings (compressed, ZCash/IETF serialization), on @noble/curves.
 * Decoding checks, in order: exact length, flag bits, canonical field elements (x < p), the identity
 * (rejected: no key, signature share or ciphertext component is ever the identity), on-curve, subgroup.
 * Each failure is a typed CryptoError, never a generic exception.
 */
import { bls12_381 } from '@noble/curves/bls12-381.js';
import { pippenger } from '@noble/curves/abstract/curve.js';
import { bigintToBytes, bytesToBigint } from './bytes.ts';
import { CryptoError, fail } from './errors.ts';

export const bls = bls12_381;
export const G1 = bls12_381.G1.Point;
export const G2 = bls12_381.G2.Point;
export const Fr = bls12_381.fields.Fr;
const Fp = bls12_381.fields.Fp;
const Fp2 = bls12_381.fields.Fp2;

export type G1Point = InstanceType<typeof G1>;
export type G2Point = InstanceType<typeof G2>;

/** Order r of G1, G2 and the scalar field. */
export const R = Fr.ORDER;
export const P = Fp.ORDER;
export const G1_BYTES = 48;
export const G2_BYTES = 96;
export const SCALAR_BYTES = 32;

function checkFlags(b: Uint8Array, expected: number, group: string): void {
  if (!(b instanceof Uint8Array)) fail('bad-encoding', `${group}: expected bytes`);
  if (b.length !== expected) fail('bad-length', `${group}: expected ${expected} bytes, got ${b.length}`);
  const flags = b[0]! & 0xe0;
  if ((flags & 0x80) === 0) fail('bad-encoding', `${group}: compression flag not set`);
  if (flags & 0x40) fail('identity', `${group}: the identity point is not allowed`);
}

function fieldElement(b: Uint8Array, maskFlags: boolean, group: string): bigint {
  const c = b.slice();
  if (maskFlags) c[0] = c[0]! & 0x1f;
  const x = bytesToBigint(c);
  if (x >= P) fail('non-canonical', `${group}: coordinate is not reduced modulo p`);
  return x;
}

/**
 * noble's fromBytes takes the square root and checks the subgroup; only when it refuses is the reason told
 * apart (a second square root: is x on the curve at all?), so an accepted point costs one root, not two.
 */
function decodeOrClassify<T>(decode: () => T, onCurve: () => boolean, group: string): T {
  try {
    return decode();
  } catch (e) {
    if (e instanceof CryptoError) throw e;
    if (!onCurve()) fail('not-on-curve', `${group}: x is not the coordinate of a curve point`);
    fail('not-in-subgroup', `${group}: point is not in the prime-order subgroup`);
  }
}

function hasRoot(sqrt: () => unknown): boolean {
  try {
    sqrt();
    return true;
  } catch {
    return false;
  }
}

export function decodeG1(b: Uint8Array): G1Point {
  checkFlags(b, G1_BYTES, 'G1');
  const x = fieldElement(b.subarray(0, 48), true, 'G1');
  return decodeOrClassify(() => G1.fromBytes(b), () => hasRoot(() => Fp.sqrt(Fp.add(Fp.pow(x, 3n), 4n))), 'G1');
}

export function decodeG2(b: Uint8Array): G2Point {
  checkFlags(b, G2_BYTES, 'G2');
  const c1 = fieldElement(b.subarray(0, 48), true, 'G2');
  const c0 = fieldElement(b.subarray(48, 96), false, 'G2');
  const x = Fp2.create({ c0, c1 });
  return decodeOrClassify(() => G2.fromBytes(b), () => hasRoot(() => Fp2.sqrt(Fp2.add(Fp2.pow(x, 3n), Fp2.create({ c0: 4n, c1: 4n })))), 'G2');
}

/*
 * Encoding writes the ZCash compressed form itself: noble's toBytes first checks that the point is in the
 * prime-order subgroup (2.8 ms for a fresh G1 point, more for G2), and every point this code encodes is in
 * it by construction (hash-to-curve output, decoded points, which decodeG1/decodeG2 check, and sums and
 * multiples of those). test/unit/curve.test.ts checks the bytes equal noble's.
 */
const HALF_P = (P - 1n) / 2n;

export function encodeG1(p: G1Point): Uint8Array {
  if (p.is0()) fail('identity', 'G1: refusing to encode the identity point');
  const { x, y } = p.toAffine();
  const out = bigintToBytes(x, G1_BYTES);
  out[0] = out[0]! | 0x80 | (y > HALF_P ? 0x20 : 0);
  return out;
}

export function encodeG2(p: G2Point): Uint8Array {
  if (p.is0()) fail('identity', 'G2: refusing to encode the identity point');
  const { x, y } = p.toAffine();
  const out = new Uint8Array(G2_BYTES);
  out.set(bigintToBytes(x.c1, 48), 0);
  out.set(bigintToBytes(x.c0, 48), 48);
  // The sign of y in Fp2: its c1 if non-zero, else its c0 (lexicographically largest).
  const largest = y.c1 !== 0n ? y.c1 > HALF_P : y.c0 > HALF_P;
  out[0] = out[0]! | 0x80 | (largest ? 0x20 : 0);
  return out;
}

/** 32-byte big-endian scalar in [1, r) (or [0, r) with allowZero). */
export function decodeScalar(b: Uint8Array, allowZero = false): bigint {
  if (!(b instanceof Uint8Array)) fail('bad-encoding', 'scalar: expected bytes');
  if (b.length !== SCALAR_BYTES) fail('bad-length', `scalar: expected ${SCALAR_BYTES} bytes, got ${b.length}`);
  const x = bytesToBigint(b);
  if (x >= R) fail('scalar-out-of-range', 'scalar: not reduced modulo r');
  if (x === 0n && !allowZero) fail('scalar-out-of-range', 'scalar: zero is not allowed');
  return x;
}

export function encodeScalar(x: bigint): Uint8Array {
  if (x < 0n || x >= R) fail('scalar-out-of-range', 'scalar: not in [0, r)');
  return bigintToBytes(x, SCALAR_BYTES);
}

/** Multi-scalar multiplication (Pippenger) with scalars already reduced mod r. */
export function msmG1(points: G1Point[], scalars: bigint[]): G1Point {
  if (points.length === 1) return scalars[0] === 0n ? G1.ZERO : points[0]!.multiply(scalars[0]!);
  return pippenger(G1, points, scalars);
}

export function msmG2(points: G2Point[], scalars: bigint[]): G2Point {
  if (points.length === 1) return scalars[0] === 0n ? G2.ZERO : points[0]!.multiply(scalars[0]!);
  return pippenger(G2, points, scalars);
}

/** Scalar multiplication that accepts 0 (noble's multiply refuses it). */
export function mulG1(p: G1Point, k: bigint): G1Point {
  return k === 0n ? G1.ZERO : p.multiply(k);
}

export function mulG2(p: G2Point, k: bigint): G2Point {
  return k === 0n ? G2.ZERO : p.multiply(k);
}

/** RFC 9380 hash_to_curve for BLS12381G1_XMD:SHA-256_SSWU_RO_ with the given DST. */
export function hashToCurveG1(msg: Uint8Array, dst: string): G1Point {
  return bls12_381.G1.hashToCurve(msg, { DST: dst }) as G1Point;
}
