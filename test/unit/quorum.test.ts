import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  StructureError,
  generalQuorumSystem,
  parseStructureFile,
  thresholdQuorumSystem,
  thresholdStructure,
} from '../../shared/quorum/index.ts';
import { GRID_FILE } from '../helpers/structures.ts';

const GRID = GRID_FILE;

function err(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(StructureError);
    return (e as Error).message;
  }
  throw new Error('expected a StructureError');
}

describe('threshold quorum systems', () => {
  it('answer with counts', () => {
    const q = thresholdQuorumSystem(4, 1);
    expect(q.isQuorum([0, 1, 2])).toBe(true);
    expect(q.isQuorum([0, 1])).toBe(false);
    expect(q.isKernel([0, 1])).toBe(true);
    expect(q.isKernel([3])).toBe(false);
    expect(q.isCorruptible([2])).toBe(true);
    expect(q.isQualified([1, 3])).toBe(true);
    expect(q.isQuorum([0, 0, 1, 1])).toBe(false); // duplicates do not count twice
    expect(q.maximalCorruptibleSets()).toEqual([[0], [1], [2], [3]]);
  });
  it('refuse n <= 3t with a clear message', () => {
    expect(err(() => thresholdQuorumSystem(3, 1))).toMatch(/n = 3 must exceed 3t = 3/);
    expect(err(() => thresholdQuorumSystem(16, 6))).toMatch(/at most t = 5/);
    expect(err(() => thresholdQuorumSystem(4, -1))).toMatch(/t must be/);
  });
  it('reject indices outside the group', () => {
    expect(err(() => thresholdQuorumSystem(4, 1).isQuorum([0, 1, 4]))).toMatch(/outside 0..3/);
  });
});

describe('general quorum systems', () => {
  it('validate Q3 and name the covering triple', () => {
    expect(err(() => generalQuorumSystem(4, [[0], [1, 2], [3]]))).toMatch(/not Q3/);
    const q = generalQuorumSystem(4, [[0], [1], [2], [3], [0]]);
    expect(q.maximalCorruptibleSets()).toEqual([[0], [1], [2], [3]]);
  });
  it('agree with the threshold system on threshold sets', () => {
    const t = thresholdQuorumSystem(7, 2);
    const g = generalQuorumSystem(7, t.maximalCorruptibleSets());
    fc.assert(
      fc.property(fc.subarray([0, 1, 2, 3, 4, 5, 6]), (s) => {
        expect(g.isQuorum(s)).toBe(t.isQuorum(s));
        expect(g.isKernel(s)).toBe(t.isKernel(s));
        expect(g.isCorruptible(s)).toBe(t.isCorruptible(s));
      }),
      { numRuns: 200 },
    );
  });
});

describe("the paper's 4 x 4 grid (location x os)", () => {
  const parsed = parseStructureFile(GRID);
  const q = parsed.quorum;
  const id = (s: string) => parsed.replicas.findIndex((r) => r.id === s);
  const zrhOrLinux = parsed.replicas.flatMap((r, i) => (r.attributes.location === 'zrh' || r.attributes.os === 'linux' ? [i] : []));

  it('has 16 maximal corruptible sets of 7 replicas and is Q3', () => {
    expect(q.n).toBe(16);
    const sets = q.maximalCorruptibleSets();
    expect(sets).toHaveLength(16);
    expect(sets.every((s) => s.length === 7)).toBe(true);
    expect(q.maxFaulty).toBe(7);
  });
  it('tolerates corrupting one location plus one os (7 of 16)', () => {
    expect(zrhOrLinux).toHaveLength(7);
    expect(q.isCorruptible(zrhOrLinux)).toBe(true);
    const rest = [...Array(16).keys()].filter((i) => !zrhOrLinux.includes(i));
    expect(q.isQuorum(rest)).toBe(true);
    expect(q.isKernel(rest)).toBe(true);
  });
  it('while a threshold structure on 16 replicas tolerates only 5', () => {
    const t5 = thresholdQuorumSystem(16, 5);
    expect(t5.isCorruptible(zrhOrLinux)).toBe(false);
    expect(() => thresholdQuorumSystem(16, 7)).toThrow(StructureError);
  });
  it('three replicas on a diagonal form a kernel; any two do not', () => {
    expect(q.isKernel([id('zrh-linux'), id('nyc-bsd')])).toBe(false); // zrh plus bsd covers both
    expect(q.isKernel([id('zrh-linux'), id('nyc-bsd'), id('sgp-windows')])).toBe(true);
    expect(q.isKernel([id('zrh-linux'), id('zrh-bsd')])).toBe(false);
    expect(q.isKernel([id('zrh-linux'), id('zrh-bsd'), id('nyc-linux'), id('zrh-windows')])).toBe(false);
  });
  it('any two quorums intersect in a kernel (Q3)', () => {
    fc.assert(
      fc.property(fc.subarray([...Array(16).keys()]), fc.subarray([...Array(16).keys()]), (a, b) => {
        if (q.isQuorum(a) && q.isQuorum(b)) expect(q.isKernel(a.filter((x) => b.includes(x)))).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});

describe('structure files', () => {
  const base = (adversary: unknown) => ({ replicas: GRID.replicas.slice(0, 4), adversary });
  it('threshold and explicit sets', () => {
    expect(parseStructureFile(base({ threshold: 1 })).structure).toEqual({ type: 'threshold', n: 4, t: 1 });
    const s = parseStructureFile(base({ sets: [['zrh-linux'], ['zrh-bsd']] }));
    expect(s.structure).toEqual({ type: 'general', n: 4, maximalCorruptible: [[0], [1]] });
    expect(thresholdStructure(7, 2).replicas.map((r) => r.id)).toEqual(['r1', 'r2', 'r3', 'r4', 'r5', 'r6', 'r7']);
  });
  it('reject bad input with a message that names the problem', () => {
    expect(err(() => parseStructureFile(base({ threshold: 2 })))).toMatch(/not Q3/);
    expect(err(() => parseStructureFile(base({ attributes: { region: 1 } })))).toMatch(/unknown attribute "region"/);
    expect(err(() => parseStructureFile(base({ sets: [['nope']] })))).toMatch(/unknown replica id "nope"/);
    expect(err(() => parseStructureFile({ replicas: GRID.replicas.slice(0, 4) }))).toMatch(/"adversary"/);
    expect(err(() => parseStructureFile({ adversary: { threshold: 1 } }))).toMatch(/"replicas"/);
    expect(err(() => parseStructureFile({ replicas: [{ id: 'a' }, { id: 'a' }], adversary: { threshold: 0 } }))).toMatch(/duplicate replica id "a"/);
    expect(err(() => parseStructureFile({ replicas: [{ id: 'Bad Id' }], adversary: { threshold: 0 } }))).toMatch(/replicas\[0\]\.id/);
    expect(err(() => parseStructureFile(base({ threshold: 1, sets: [] })))).toMatch(/exactly one/);
    expect(err(() => parseStructureFile({ ...GRID, adversary: { attributes: { location: 1, os: 1 }, plus: 1 } }))).toMatch(/not Q3/);
    expect(err(() => parseStructureFile({ ...GRID, extra: 1 }))).toMatch(/unknown field "extra"/);
  });
  it('attribute rules with "plus" add arbitrary replicas', () => {
    const replicas = ['a', 'b', 'c', 'd', 'e', 'f', 'g'].map((id, i) => ({ id, attributes: { provider: i < 2 ? 'cf' : `p${i}` } }));
    const s = parseStructureFile({ replicas, adversary: { attributes: { provider: 1 }, plus: 0 } });
    expect(s.quorum.isCorruptible([0, 1])).toBe(true);
    expect(s.quorum.isCorruptible([0, 2])).toBe(false);
    expect(err(() => parseStructureFile({ replicas, adversary: { attributes: { provider: 1 }, plus: 1 } }))).toMatch(/not Q3/);
  });
});
