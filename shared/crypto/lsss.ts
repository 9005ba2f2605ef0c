/**
 * Linear secret sharing schemes (monotone span programs) for threshold and general access structures.
 *
 * - `shamir` (Shamir 1979): one row per replica, evaluation point index + 1, qualified = any k replicas.
 * - `cnf` (replicated sharing; Ito-Saito-Nishizeki 1987, the scheme Cachin's general-structure SINTRA
 *   variants use): the secret is a sum of one sub-secret per maximal unqualified set U_j, and sub-secret j
 *   is given to every replica outside U_j. Realizes the kernel structure "not corruptible" when U_j are the
 *   maximal corruptible sets.
 * - `dnf`: an independent additive sharing among the members of every minimal qualified set Q_j. Realizes
 *   the quorum structure "complement corruptible" when Q_j are complements of maximal corruptible sets.
 *
 * Every scheme is linear: each row's share is a fixed linear function of (secret, randomness), and a
 * qualified set has public coefficients with sum(coeff_i * share_i) = secret. Threshold signatures, the
 * coin and TDH2 decryption combine "in the exponent" with those coefficients, so they work over any scheme.
 * A replica may own several rows; shares, verification keys and signature shares are per row.
 */
import { fail } from './errors.ts';
import { add, lagrangeAtZero, mul, randomScalar, sub } from './field.ts';
import type { RandomBytes } from './random.ts';

export type SchemeDescription =
  | { readonly type: 'shamir'; readonly n: number; readonly k: number }
  | { readonly type: 'cnf'; readonly n: number; readonly sets: readonly (readonly number[])[] }
  | { readonly type: 'dnf'; readonly n: number; readonly sets: readonly (readonly number[])[] };

export interface Recombination {
  readonly rows: readonly number[];
  readonly coeffs: readonly bigint[];
}

/** A public linear relation sum(coeffs_i * key_rows_i) = secret (or = 0) that honest dealing satisfies. */
export interface ConsistencyEquation extends Recombination {
  readonly target: 'secret' | 'zero';
}

export interface SharingScheme {
  readonly description: SchemeDescription;
  readonly n: number;
  /** owners[row] = the replica index holding that row. */
  readonly owners: readonly number[];
  rowsOf(replica: number): readonly number[];
  isQualified(replicas: Iterable<number>): boolean;
  /** Coefficients for a qualified set of replicas; throws `not-qualified` otherwise. */
  recombine(replicas: Iterable<number>): Recombination;
  /** Shares of `secret` for every row. */
  share(secret: bigint, rng: RandomBytes): bigint[];
  consistencyEquations(): ConsistencyEquation[];
}

function distinctSorted(replicas: Iterable<number>, n: number): number[] {
  const s = new Set<number>();
  for (const r of replicas) {
    if (!Number.isInteger(r) || r < 0 || r >= n) fail('index-out-of-range', `replica index ${String(r)} is outside 0..${n - 1}`);
    s.add(r);
  }
  return [...s].sort((a, b) => a - b);
}

function buildRowsOf(owners: readonly number[], n: number): number[][] {
  const rowsOf: number[][] = Array.from({ length: n }, () => []);
  owners.forEach((o, row) => rowsOf[o]!.push(row));
  return rowsOf;
}

function checkSets(n: number, sets: readonly (readonly number[])[], what: string): number[][] {
  if (!Number.isInteger(n) || n < 1) fail('invalid-structure', `scheme n must be a positive integer`);
  if (!Array.isArray(sets) || sets.length === 0) fail('invalid-structure', `${what}: at least one set is required`);
  return sets.map((s) => {
    if (!Array.isArray(s)) fail('invalid-structure', `${what}: sets must be arrays of replica indices`);
    const sorted = distinctSorted(s, n);
    if (sorted.length !== s.length) fail('invalid-structure', `${what}: a set repeats a replica`);
    return sorted;
  });
}

export function shamirScheme(n: number, k: number): SharingScheme {
  if (!Number.isInteger(n) || n < 1) fail('invalid-structure', 'shamir: n must be a positive integer');
  if (!Number.isInteger(k) || k < 1 || k > n) fail('invalid-structure', `shamir: need 1 <= k <= n, got k = ${k}, n = ${n}`);
  const owners = Array.from({ length: n }, (_, i) => i);
  const rowsOf = owners.map((i) => [i]);
  const xs = owners.map((i) => BigInt(i + 1));
  const lagrange = (rows: number[]): Recombination => ({ rows, coeffs: lagrangeAtZero(rows.map((r) => xs[r]!)) });
  return {
    description: { type: 'shamir', n, k },
    n,
    owners,
    rowsOf: (r) => rowsOf[r] ?? fail('index-out-of-range', `replica index ${r} is outside 0..${n - 1}`),
    isQualified: (s) => distinctSorted(s, n).length >= k,
    recombine(s) {
      const set = distinctSorted(s, n);
      if (set.length < k) fail('not-qualified', `shamir: ${set.length} of the needed ${k} replicas`);
      return lagrange(set.slice(0, k));
    },
    share(secret, rng) {
      const coeffs = [secret];
      for (let i = 1; i < k; i++) coeffs.push(randomScalar(rng));
      return xs.map((x) => {
        let acc = 0n;
        for (let i = coeffs.length - 1; i >= 0; i--) acc = add(mul(acc, x), coeffs[i]!);
        return acc;
      });
    },
    consistencyEquations() {
      // Windows of k consecutive rows that overlap in k - 1 points all interpolate to the secret, so
      // every row lies on one polynomial of degree < k.
      const eqs: ConsistencyEquation[] = [];
      for (let i = 0; i + k <= n; i++) eqs.push({ ...lagrange(owners.slice(i, i + k)), target: 'secret' });
      return eqs;
    },
  };
}

/** Replicated (CNF) sharing: `unqualified` are the maximal unqualified sets. */
export function cnfScheme(n: number, unqualified: readonly (readonly number[])[]): SharingScheme {
  const sets = checkSets(n, unqualified, 'cnf');
  const owners: number[] = [];
  const part: number[] = [];
  sets.forEach((u, j) => {
    const inU = new Set(u);
    for (let p = 0; p < n; p++) {
      if (!inU.has(p)) {
        owners.push(p);
        part.push(j);
      }
    }
  });
  for (let j = 0; j < sets.length; j++) if (!part.includes(j)) fail('invalid-structure', 'cnf: an unqualified set contains every replica');
  const rowsOf = buildRowsOf(owners, n);
  const firstRowOf = (j: number, present: Set<number>): number | undefined => {
    for (let row = 0; row < owners.length; row++) if (part[row] === j && present.has(owners[row]!)) return row;
    return undefined;
  };
  const recombine = (s: Iterable<number>): Recombination => {
    const present = new Set(distinctSorted(s, n));
    const rows: number[] = [];
    for (let j = 0; j < sets.length; j++) {
      const row = firstRowOf(j, present);
      if (row === undefined) fail('not-qualified', `cnf: no replica outside unqualified set ${j}`);
      rows.push(row);
    }
    return { rows, coeffs: rows.map(() => 1n) };
  };
  return {
    description: { type: 'cnf', n, sets },
    n,
    owners,
    rowsOf: (r) => rowsOf[r] ?? fail('index-out-of-range', `replica index ${r} is outside 0..${n - 1}`),
    isQualified(s) {
      const present = new Set(distinctSorted(s, n));
      return sets.every((_, j) => firstRowOf(j, present) !== undefined);
    },
    recombine,
    share(secret, rng) {
      const subs: bigint[] = [];
      let rest = secret;
      for (let j = 0; j < sets.length - 1; j++) {
        const r = randomScalar(rng);
        subs.push(r);
        rest = sub(rest, r);
      }
      subs.push(rest);
      return part.map((j) => subs[j]!);
    },
    consistencyEquations() {
      const eqs: ConsistencyEquation[] = [{ ...recombine(owners), target: 'secret' }];
      for (let j = 0; j < sets.length; j++) {
        const rows = owners.map((_, row) => row).filter((row) => part[row] === j);
        for (let i = 1; i < rows.length; i++) eqs.push({ rows: [rows[0]!, rows[i]!], coeffs: [1n, sub(0n, 1n)], target: 'zero' });
      }
      return eqs;
    },
  };
}

/** Additive sharing per minimal qualified set: `qualified` are the minimal qualified sets. */
export function dnfScheme(n: number, qualified: readonly (readonly number[])[]): SharingScheme {
  const sets = checkSets(n, qualified, 'dnf');
  const owners: number[] = [];
  const part: number[] = [];
  sets.forEach((q, j) => {
    if (q.length === 0) fail('invalid-structure', 'dnf: a qualified set must not be empty');
    for (const p of q) {
      owners.push(p);
      part.push(j);
    }
  });
  const rowsOf = buildRowsOf(owners, n);
  const rowsOfSet = sets.map((_, j) => owners.map((_, row) => row).filter((row) => part[row] === j));
  const findSet = (present: Set<number>) => sets.findIndex((q) => q.every((p) => present.has(p)));
  return {
    description: { type: 'dnf', n, sets },
    n,
    owners,
    rowsOf: (r) => rowsOf[r] ?? fail('index-out-of-range', `replica index ${r} is outside 0..${n - 1}`),
    isQualified: (s) => findSet(new Set(distinctSorted(s, n))) >= 0,
    recombine(s) {
      const j = findSet(new Set(distinctSorted(s, n)));
      if (j < 0) fail('not-qualified', 'dnf: the set contains no minimal qualified set');
      const rows = rowsOfSet[j]!;
      return { rows, coeffs: rows.map(() => 1n) };
    },
    share(secret, rng) {
      const out: bigint[] = new Array(owners.length);
      for (const rows of rowsOfSet) {
        let rest = secret;
        for (let i = 0; i < rows.length - 1; i++) {
          const r = randomScalar(rng);
          out[rows[i]!] = r;
          rest = sub(rest, r);
        }
        out[rows[rows.length - 1]!] = rest;
      }
      return out;
    },
    consistencyEquations: () => rowsOfSet.map((rows) => ({ rows, coeffs: rows.map(() => 1n), target: 'secret' as const })),
  };
}

export function schemeFrom(d: SchemeDescription): SharingScheme {
  switch (d?.type) {
    case 'shamir':
      return shamirScheme(d.n, d.k);
    case 'cnf':
      return cnfScheme(d.n, d.sets);
    case 'dnf':
      return dnfScheme(d.n, d.sets);
    default:
      return fail('invalid-structure', `unknown sharing scheme ${JSON.stringify((d as { type?: unknown })?.type)}`);
  }
}
