import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';
import { concatBytes, fromHex, toHex } from '../../shared/crypto/bytes.ts';
import {
  EMPTY_ROOT,
  consistencyProof,
  inclusionProof,
  leafHash,
  nodeHash,
  rootOf,
  verifyConsistency,
  verifyInclusion,
} from '../../shared/log/merkle.ts';

// The 8 test leaves of the Certificate Transparency reference implementation (merkle_tree_test.cc) and
// the roots it lists for the first 1..8 leaves.
const CT_LEAVES = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f'];
const CT_ROOTS = [
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
];

const leaves = CT_LEAVES.map((h) => leafHash(fromHex(h)));

describe('RFC 6962 Merkle tree', () => {
  it('leaf and node hashes are SHA-256 of the prefixed input at every size, and independent of each other', () => {
    // Sizes around the reused scratch buffer's growth and its 64 KiB limit (larger inputs are concatenated).
    const sizes = [0, 1, 31, 1023, 1024, 1025, 5000, 64 * 1024, 64 * 1024 + 1, 70_000];
    const hashes = sizes.map((n) => {
      const entry = Uint8Array.from({ length: n }, (_, i) => (i * 7 + n) & 0xff);
      const h = leafHash(entry);
      expect(toHex(h)).toBe(toHex(nobleSha256(concatBytes(new Uint8Array([0]), entry))));
      return h;
    });
    // Earlier results are not overwritten by later calls (each result owns its bytes).
    expect(toHex(hashes[0]!)).toBe(toHex(nobleSha256(new Uint8Array([0]))));
    const [a, b] = [hashes[3]!, hashes[7]!];
    expect(toHex(nodeHash(a, b))).toBe(toHex(nobleSha256(concatBytes(new Uint8Array([1]), a, b))));
    expect(toHex(nodeHash(b, a))).not.toBe(toHex(nodeHash(a, b)));
  });

  it('matches the Certificate Transparency reference roots', () => {
    expect(toHex(rootOf([]))).toBe(toHex(EMPTY_ROOT));
    expect(toHex(EMPTY_ROOT)).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    for (let n = 1; n <= 8; n++) expect(toHex(rootOf(leaves.slice(0, n)))).toBe(CT_ROOTS[n - 1]);
  });

  it('inclusion proofs verify for every leaf of every size, and only there', () => {
    for (let n = 1; n <= 8; n++) {
      const root = rootOf(leaves.slice(0, n));
      for (let i = 0; i < n; i++) {
        const p = inclusionProof(leaves, i, n);
        expect(verifyInclusion(leaves[i]!, i, n, p, root)).toBe(true);
        expect(verifyInclusion(leaves[(i + 1) % 8]!, i, n, p, root)).toBe(false);
        if (n > 1) expect(verifyInclusion(leaves[i]!, (i + 1) % n, n, p, root)).toBe(false);
        if (n < 8) expect(verifyInclusion(leaves[i]!, i, n + 1, p, rootOf(leaves.slice(0, n + 1)))).toBe(false);
      }
    }
  });

  it('consistency proofs verify between all sizes, and fail for wrong roots', () => {
    for (let n = 1; n <= 8; n++) {
      for (let m = 1; m <= n; m++) {
        const p = consistencyProof(leaves, m, n);
        const r1 = rootOf(leaves.slice(0, m));
        const r2 = rootOf(leaves.slice(0, n));
        expect(verifyConsistency(m, n, p, r1, r2)).toBe(true);
        if (m < n) expect(verifyConsistency(m, n, p, r2, r2)).toBe(false);
      }
    }
  });

  it('property: random trees', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 70 }), fc.nat(), fc.nat(), (n, a, b) => {
        const ls = Array.from({ length: n }, (_, i) => leafHash(new Uint8Array([i, i >> 8])));
        const i = a % n;
        const m = 1 + (b % n);
        const root = rootOf(ls);
        expect(verifyInclusion(ls[i]!, i, n, inclusionProof(ls, i), root)).toBe(true);
        expect(verifyConsistency(m, n, consistencyProof(ls, m), rootOf(ls.slice(0, m)), root)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });
});
