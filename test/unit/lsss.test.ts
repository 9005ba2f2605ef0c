import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { CryptoError } from '../../shared/crypto/errors.ts';
import { add, mul, randomScalar } from '../../shared/crypto/field.ts';
import { cnfScheme, dnfScheme, schemeFrom, shamirScheme } from '../../shared/crypto/lsss.ts';
import type { SharingScheme } from '../../shared/crypto/lsss.ts';
import { seededRandom } from '../../shared/crypto/random.ts';
import { kernelScheme, quorumScheme } from '../../shared/crypto/schemes.ts';
import { thresholdQuorumSystem } from '../../shared/quorum/index.ts';
import { grid } from '../helpers/structures.ts';

function subsets(n: number): number[][] {
  const out: number[][] = [];
  for (let m = 0; m < 1 << n; m++) out.push([...Array(n).keys()].filter((i) => (m >> i) & 1));
  return out;
}

function reconstruct(scheme: SharingScheme, shares: bigint[], set: number[]): bigint {
  const rec = scheme.recombine(set);
  for (const row of rec.rows) expect(set).toContain(scheme.owners[row]);
  return rec.rows.reduce((acc, row, i) => add(acc, mul(rec.coeffs[i]!, shares[row]!)), 0n);
}

function exhaustive(scheme: SharingScheme, qualified: (s: number[]) => boolean) {
  const rng = seededRandom(`lsss-${JSON.stringify(scheme.description)}`);
  const secret = randomScalar(rng);
  const shares = scheme.share(secret, rng);
  expect(shares).toHaveLength(scheme.owners.length);
  for (const s of subsets(scheme.n)) {
    expect(scheme.isQualified(s)).toBe(qualified(s));
    if (qualified(s)) expect(reconstruct(scheme, shares, s)).toBe(secret);
    else expect(() => scheme.recombine(s)).toThrow(CryptoError);
  }
  for (const eq of scheme.consistencyEquations()) {
    const v = eq.rows.reduce((acc, row, i) => add(acc, mul(eq.coeffs[i]!, shares[row]!)), 0n);
    expect(v).toBe(eq.target === 'secret' ? secret : 0n);
  }
}

describe('linear secret sharing', () => {
  it('shamir (n, k): exactly the sets of k or more reconstruct', () => {
    for (const [n, k] of [[4, 2], [4, 3], [7, 3], [7, 5], [1, 1]] as const) exhaustive(shamirScheme(n, k), (s) => s.length >= k);
  });
  it('cnf realizes "not contained in an unqualified set"', () => {
    const unq = [[0, 1], [1, 2], [3]];
    exhaustive(cnfScheme(4, unq), (s) => !unq.some((u) => s.every((x) => u.includes(x))));
  });
  it('dnf realizes "contains a qualified set"', () => {
    const q = [[0, 1], [2, 3], [1, 3]];
    exhaustive(dnfScheme(4, q), (s) => q.some((m) => m.every((x) => s.includes(x))));
  });
  it('kernel and quorum schemes of a threshold structure are Shamir t+1 and n-t', () => {
    const q = thresholdQuorumSystem(7, 2);
    exhaustive(kernelScheme(q.description), (s) => q.isKernel(s));
    exhaustive(quorumScheme(q.description), (s) => q.isQuorum(s));
  });
  it('on the 4 x 4 grid the kernel scheme qualifies exactly the kernels, the quorum scheme exactly the quorums', () => {
    const q = grid().quorum;
    const kernel = kernelScheme(q.description);
    const quorum = quorumScheme(q.description);
    expect(kernel.rowsOf(0)).toHaveLength(9);
    const rng = seededRandom('grid');
    const secret = randomScalar(rng);
    const ks = kernel.share(secret, rng);
    const qs = quorum.share(secret, rng);
    fc.assert(
      fc.property(fc.subarray([...Array(16).keys()]), (s) => {
        expect(kernel.isQualified(s)).toBe(q.isKernel(s));
        expect(quorum.isQualified(s)).toBe(q.isQuorum(s));
        if (q.isKernel(s)) expect(reconstruct(kernel, ks, s)).toBe(secret);
        if (q.isQuorum(s)) expect(reconstruct(quorum, qs, s)).toBe(secret);
      }),
      { numRuns: 1000, seed: 42 },
    );
  });
  it('rejects malformed descriptions with typed errors', () => {
    const codeOf = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return (e as CryptoError).code;
      }
      return 'accepted';
    };
    expect(codeOf(() => shamirScheme(4, 5))).toBe('invalid-structure');
    expect(codeOf(() => cnfScheme(3, [[0, 1, 2]]))).toBe('invalid-structure');
    expect(codeOf(() => dnfScheme(3, [[0, 3]]))).toBe('index-out-of-range');
    expect(codeOf(() => schemeFrom({ type: 'magic' } as never))).toBe('invalid-structure');
    expect(codeOf(() => shamirScheme(4, 2).rowsOf(9))).toBe('index-out-of-range');
    expect(codeOf(() => shamirScheme(4, 2).recombine([0]))).toBe('not-qualified');
    expect(codeOf(() => shamirScheme(4, 2).isQualified([-1]))).toBe('index-out-of-range');
  });
});
