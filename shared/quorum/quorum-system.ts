/**
 * Quorum systems over an adversary structure (Cachin, "Distributing Trust on the Internet", DSN 2001,
 * section 3; Hirt-Maurer general adversary structures). Protocols and crypto ask only three questions:
 *   isQuorum(S)  - the complement of S may be corrupted, so S is what one can wait for ("n - t");
 *   isKernel(S)  - S is not corruptible, so it holds at least one honest replica ("t + 1");
 *   isQualified(S) - S may combine coin, decryption and group-signature shares (= isKernel).
 * Threshold structures answer with counts, general ones with set logic on bitmasks. Both must satisfy
 * Q3 (no three corruptible sets cover all replicas; for thresholds n > 3t), checked at construction.
 */

export class StructureError extends Error {
  override readonly name = 'StructureError';
}

export type ReplicaIndex = number;

export type StructureDescription =
  | { readonly type: 'threshold'; readonly n: number; readonly t: number }
  | { readonly type: 'general'; readonly n: number; readonly maximalCorruptible: readonly (readonly number[])[] };

export interface QuorumSystem {
  readonly n: number;
  readonly description: StructureDescription;
  /** Size of the largest corruptible set. */
  readonly maxFaulty: number;
  isCorruptible(set: Iterable<ReplicaIndex>): boolean;
  isQuorum(set: Iterable<ReplicaIndex>): boolean;
  isKernel(set: Iterable<ReplicaIndex>): boolean;
  isQualified(set: Iterable<ReplicaIndex>): boolean;
  /** Maximal corruptible sets; for thresholds this enumerates all t-subsets, so only for small n. */
  maximalCorruptibleSets(): number[][];
}

export function maskOf(set: Iterable<ReplicaIndex>, n: number): bigint {
  let m = 0n;
  for (const i of set) {
    if (!Number.isInteger(i) || i < 0 || i >= n) throw new StructureError(`replica index ${String(i)} is outside 0..${n - 1}`);
    m |= 1n << BigInt(i);
  }
  return m;
}

export function membersOf(mask: bigint, n: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) if ((mask >> BigInt(i)) & 1n) out.push(i);
  return out;
}

function popcount(m: bigint): number {
  let c = 0;
  for (let v = m; v; v &= v - 1n) c++;
  return c;
}

function countDistinct(set: Iterable<ReplicaIndex>, n: number): number {
  return popcount(maskOf(set, n));
}

function checkN(n: number): void {
  if (!Number.isInteger(n) || n < 1 || n > 1024) throw new StructureError(`n must be an integer in 1..1024, got ${String(n)}`);
}

export function thresholdQuorumSystem(n: number, t: number): QuorumSystem {
  checkN(n);
  if (!Number.isInteger(t) || t < 0) throw new StructureError(`t must be a non-negative integer, got ${String(t)}`);
  if (n <= 3 * t) throw new StructureError(`not Q3: n = ${n} must exceed 3t = ${3 * t} (at most t = ${Math.floor((n - 1) / 3)} for n = ${n})`);
  return {
    n,
    description: { type: 'threshold', n, t },
    maxFaulty: t,
    isCorruptible: (s) => countDistinct(s, n) <= t,
    isQuorum: (s) => countDistinct(s, n) >= n - t,
    isKernel: (s) => countDistinct(s, n) >= t + 1,
    isQualified: (s) => countDistinct(s, n) >= t + 1,
    maximalCorruptibleSets() {
      if (n > 24) throw new StructureError('refusing to enumerate t-subsets for n > 24');
      const out: number[][] = [];
      const rec = (start: number, acc: number[]) => {
        if (acc.length === t) return void out.push(acc.slice());
        for (let i = start; i < n; i++) rec(i + 1, [...acc, i]);
      };
      rec(0, []);
      return out;
    },
  };
}

export const MAX_GENERAL_SETS = 512;

/** Drop sets contained in other sets, and duplicates; keep a canonical order. */
export function maximalOnly(masks: bigint[]): bigint[] {
  const uniq = [...new Set(masks)];
  const keep = uniq.filter((a) => !uniq.some((b) => b !== a && (a & b) === a));
  return keep.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Q3: no three corruptible sets cover everything. Returns a witness triple, or null. */
export function q3Violation(maximal: readonly bigint[], n: number): [bigint, bigint, bigint] | null {
  const all = (1n << BigInt(n)) - 1n;
  for (let i = 0; i < maximal.length; i++) {
    for (let j = i; j < maximal.length; j++) {
      const ij = maximal[i]! | maximal[j]!;
      const rest = all & ~ij;
      for (let k = j; k < maximal.length; k++) {
        if ((rest & ~maximal[k]!) === 0n) return [maximal[i]!, maximal[j]!, maximal[k]!];
      }
    }
  }
  return null;
}

export function generalQuorumSystem(n: number, corruptible: readonly (readonly number[])[]): QuorumSystem {
  checkN(n);
  if (n > 256) throw new StructureError('general structures support at most 256 replicas');
  if (!Array.isArray(corruptible) || corruptible.length === 0) throw new StructureError('a general structure needs at least one corruptible set');
  const maximal = maximalOnly(corruptible.map((s) => maskOf(s, n)));
  if (maximal.length > MAX_GENERAL_SETS) {
    throw new StructureError(`structure has ${maximal.length} maximal corruptible sets; at most ${MAX_GENERAL_SETS} are supported`);
  }
  const bad = q3Violation(maximal, n);
  if (bad) {
    const show = (m: bigint) => `{${membersOf(m, n).join(',')}}`;
    throw new StructureError(`not Q3: corruptible sets ${bad.map(show).join(' + ')} together cover all ${n} replicas`);
  }
  const all = (1n << BigInt(n)) - 1n;
  const corruptibleMask = (m: bigint) => maximal.some((a) => (m & ~a) === 0n);
  return {
    n,
    description: { type: 'general', n, maximalCorruptible: maximal.map((m) => membersOf(m, n)) },
    maxFaulty: Math.max(...maximal.map(popcount)),
    isCorruptible: (s) => corruptibleMask(maskOf(s, n)),
    isQuorum: (s) => corruptibleMask(all & ~maskOf(s, n)),
    isKernel: (s) => !corruptibleMask(maskOf(s, n)),
    isQualified: (s) => !corruptibleMask(maskOf(s, n)),
    maximalCorruptibleSets: () => maximal.map((m) => membersOf(m, n)),
  };
}

export function quorumSystemFrom(d: StructureDescription): QuorumSystem {
  if (d.type === 'threshold') return thresholdQuorumSystem(d.n, d.t);
  if (d.type === 'general') return generalQuorumSystem(d.n, d.maximalCorruptible);
  throw new StructureError(`unknown structure type ${String((d as { type: unknown }).type)}`);
}
