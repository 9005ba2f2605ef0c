/**
 * RFC 6962 (Certificate Transparency) Merkle tree hashing, inclusion proofs and consistency proofs,
 * section 2.1: leaf hash = SHA-256(0x00 || entry), node hash = SHA-256(0x01 || left || right), the tree of
 * n leaves splits at the largest power of two below n. Verification follows RFC 9162 section 2.1.3.2 and
 * 2.1.4.2 (the iterative algorithms), so proofs interoperate with CT tooling.
 */
import { sha256 } from '../crypto/sha256.ts';
import { bytesEqual, concatBytes } from '../crypto/bytes.ts';

const LEAF = new Uint8Array([0]);
const NODE = new Uint8Array([1]);

export const EMPTY_ROOT = sha256(new Uint8Array(0));

/**
 * The prefixed input is written into one reused buffer: leaf and node hashes run once per request and
 * replica, and a fresh concatenation each time was 5% of the in-process CPU with its garbage
 * (docs/benchmarks.md). Safe because sha256 reads its input synchronously and keeps no reference to it.
 * Inputs over SCRATCH_MAX bytes are concatenated as before, so the buffer stays small.
 */
const SCRATCH_MAX = 64 * 1024 + 1;
let scratch = new Uint8Array(1024);

function hashPrefixed(prefix: Uint8Array, a: Uint8Array, b?: Uint8Array): Uint8Array {
  const len = 1 + a.length + (b?.length ?? 0);
  if (len > SCRATCH_MAX) return sha256(b ? concatBytes(prefix, a, b) : concatBytes(prefix, a));
  if (scratch.length < len) scratch = new Uint8Array(Math.min(SCRATCH_MAX, Math.max(len, 2 * scratch.length)));
  scratch[0] = prefix[0]!;
  scratch.set(a, 1);
  if (b) scratch.set(b, 1 + a.length);
  return sha256(scratch.subarray(0, len));
}

export function leafHash(entry: Uint8Array): Uint8Array {
  return hashPrefixed(LEAF, entry);
}

export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  return hashPrefixed(NODE, left, right);
}

function largestPowerOfTwoBelow(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** MTH(D[lo:hi]) over leaf hashes. */
export function rootOf(leaves: readonly Uint8Array[], lo = 0, hi = leaves.length): Uint8Array {
  const n = hi - lo;
  if (n === 0) return EMPTY_ROOT;
  if (n === 1) return leaves[lo]!;
  const k = largestPowerOfTwoBelow(n);
  return nodeHash(rootOf(leaves, lo, lo + k), rootOf(leaves, lo + k, hi));
}

/** PATH(m, D[lo:hi]): audit path for leaf index m (absolute) in the subtree [lo, hi). */
export function inclusionProof(leaves: readonly Uint8Array[], index: number, size = leaves.length): Uint8Array[] {
  if (!Number.isInteger(index) || index < 0 || index >= size || size > leaves.length) throw new RangeError('leaf index outside the tree');
  const path = (m: number, lo: number, hi: number): Uint8Array[] => {
    const n = hi - lo;
    if (n <= 1) return [];
    const k = largestPowerOfTwoBelow(n);
    return m - lo < k ? [...path(m, lo, lo + k), rootOf(leaves, lo + k, hi)] : [...path(m, lo + k, hi), rootOf(leaves, lo, lo + k)];
  };
  return path(index, 0, size);
}

/** PROOF(m, D[0:n]): consistency proof between the tree of size m and the tree of size n. */
export function consistencyProof(leaves: readonly Uint8Array[], m: number, n = leaves.length): Uint8Array[] {
  if (!Number.isInteger(m) || m < 0 || m > n || n > leaves.length) throw new RangeError('sizes outside the tree');
  if (m === 0 || m === n) return [];
  const sub = (m2: number, lo: number, hi: number, complete: boolean): Uint8Array[] => {
    const size = hi - lo;
    if (m2 === size) return complete ? [] : [rootOf(leaves, lo, hi)];
    const k = largestPowerOfTwoBelow(size);
    if (m2 <= k) return [...sub(m2, lo, lo + k, complete), rootOf(leaves, lo + k, hi)];
    return [...sub(m2 - k, lo + k, hi, false), rootOf(leaves, lo, lo + k)];
  };
  return sub(m, 0, n, true);
}

export function verifyInclusion(leaf: Uint8Array, index: number, size: number, proof: readonly Uint8Array[], root: Uint8Array): boolean {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size) return false;
  if (proof.some((p) => !(p instanceof Uint8Array) || p.length !== 32)) return false;
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && bytesEqual(r, root);
}

export function verifyConsistency(size1: number, size2: number, proof: readonly Uint8Array[], root1: Uint8Array, root2: Uint8Array): boolean {
  if (!Number.isSafeInteger(size1) || !Number.isSafeInteger(size2) || size1 < 0 || size1 > size2) return false;
  if (proof.some((p) => !(p instanceof Uint8Array) || p.length !== 32)) return false;
  if (size1 === size2) return proof.length === 0 && bytesEqual(root1, root2);
  if (size1 === 0) return proof.length === 0;
  let path = [...proof];
  if ((size1 & (size1 - 1)) === 0) path = [root1, ...path];
  if (path.length === 0) return false;
  let fn = size1 - 1;
  let sn = size2 - 1;
  while (fn % 2 === 1) {
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  let fr = path[0]!;
  let sr = path[0]!;
  for (const c of path.slice(1)) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && bytesEqual(fr, root1) && bytesEqual(sr, root2);
}
