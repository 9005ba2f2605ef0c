/** MerkleLog (cached subtrees) must agree with the reference functions of merkle.ts for every size. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { fromHex, toHex, u32be } from '../../shared/crypto/bytes.ts';
import { consistencyProof, inclusionProof, leafHash, rootOf, verifyConsistency, verifyInclusion } from '../../shared/log/merkle.ts';
import { MerkleLog } from '../../shared/log/merkle-log.ts';

const CT_LEAVES = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f'];

describe('MerkleLog', () => {
  it('gives the Certificate Transparency reference root for 8 leaves', () => {
    const log = new MerkleLog();
    for (const h of CT_LEAVES) log.append(leafHash(fromHex(h)));
    expect(toHex(log.root())).toBe('5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328');
  });

  it('roots and proofs equal the reference for every size, index and past size (up to 70 leaves)', () => {
    const log = new MerkleLog();
    const leaves: Uint8Array[] = [];
    for (let n = 1; n <= 70; n++) {
      const l = leafHash(u32be(n * 7919));
      leaves.push(l);
      log.append(l);
      expect(toHex(log.root())).toBe(toHex(rootOf(leaves)));
    }
    for (const size of [1, 2, 3, 5, 8, 13, 32, 33, 64, 70]) {
      expect(toHex(log.root(size))).toBe(toHex(rootOf(leaves, 0, size)));
      for (let i = 0; i < size; i++) {
        const p = log.inclusionProof(i, size);
        expect(p.map(toHex)).toEqual(inclusionProof(leaves, i, size).map(toHex));
        expect(verifyInclusion(leaves[i]!, i, size, p, log.root(size))).toBe(true);
      }
      for (let m = 0; m <= size; m++) {
        const p = log.consistencyProof(m, size);
        expect(p.map(toHex)).toEqual(consistencyProof(leaves, m, size).map(toHex));
        if (m > 0) expect(verifyConsistency(m, size, p, log.root(m), log.root(size))).toBe(true);
      }
    }
  });

  it('property: random sizes agree with the reference', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300 }), fc.nat(), fc.nat(), (n, a, b) => {
        const log = new MerkleLog();
        const leaves = Array.from({ length: n }, (_, i) => leafHash(u32be(i)));
        for (const l of leaves) log.append(l);
        const size = 1 + (a % n);
        const index = b % size;
        expect(toHex(log.root(size))).toBe(toHex(rootOf(leaves, 0, size)));
        expect(log.inclusionProof(index, size).map(toHex)).toEqual(inclusionProof(leaves, index, size).map(toHex));
      }),
      { numRuns: 60 },
    );
  });

  it('refuses sizes and indices outside the log', () => {
    const log = new MerkleLog();
    log.append(leafHash(new Uint8Array(1)));
    expect(() => log.root(2)).toThrow(RangeError);
    expect(() => log.inclusionProof(1, 1)).toThrow(RangeError);
    expect(() => log.consistencyProof(2, 1)).toThrow(RangeError);
    expect(() => log.leaf(5)).toThrow(RangeError);
  });
});
