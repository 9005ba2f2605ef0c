/**
 * The tree in storage (merkle-nodes.ts): the frontier's roots and the nodes it emits must give exactly the
 * reference roots and proofs of merkle.ts, computed from stored nodes alone, reading O(log^2 n) of them.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { toHex, u32be } from '../../shared/crypto/bytes.ts';
import { consistencyProof, inclusionProof, leafHash, rootOf } from '../../shared/log/merkle.ts';
import { consistencyProofFrom, inclusionProofFrom, MerkleFrontier, nodeKey, nodesNeeded, readerOf, rootFrom } from '../../shared/log/merkle-nodes.ts';

function grow(n: number): { leaves: Uint8Array[]; frontier: MerkleFrontier; nodes: Map<string, Uint8Array> } {
  const frontier = new MerkleFrontier();
  const nodes = new Map<string, Uint8Array>();
  const leaves: Uint8Array[] = [];
  for (let i = 0; i < n; i++) {
    const l = leafHash(u32be(i * 7919));
    leaves.push(l);
    const a = frontier.append(l);
    expect(a.index).toBe(i);
    for (const x of a.nodes) {
      // Each node is written once, when the leaf that completes it arrives.
      expect(nodes.has(nodeKey(x.level, x.index))).toBe(false);
      nodes.set(nodeKey(x.level, x.index), x.hash);
    }
  }
  return { leaves, frontier, nodes };
}

describe('MerkleFrontier and proofs from stored nodes', () => {
  it('the frontier root equals the reference root at every size, and emits every perfect subtree once', () => {
    const frontier = new MerkleFrontier();
    const leaves: Uint8Array[] = [];
    let emitted = 0;
    for (let n = 1; n <= 300; n++) {
      const l = leafHash(u32be(n));
      leaves.push(l);
      emitted += frontier.append(l).nodes.length;
      expect(toHex(frontier.root())).toBe(toHex(rootOf(leaves)));
      // 2n - popcount(n) perfect subtrees in a tree of n leaves.
      expect(emitted).toBe(2 * n - n.toString(2).replaceAll('0', '').length);
    }
  });

  it('roots, inclusion and consistency proofs from stored nodes equal the reference for every past size', () => {
    const { leaves, nodes } = grow(70);
    const get = readerOf(nodes);
    for (const size of [1, 2, 3, 5, 8, 13, 32, 33, 64, 70]) {
      expect(toHex(rootFrom(get, size))).toBe(toHex(rootOf(leaves, 0, size)));
      for (let i = 0; i < size; i++) expect(inclusionProofFrom(get, i, size).map(toHex)).toEqual(inclusionProof(leaves, i, size).map(toHex));
      for (let m = 0; m <= size; m++) expect(consistencyProofFrom(get, m, size).map(toHex)).toEqual(consistencyProof(leaves, m, size).map(toHex));
    }
  });

  it('property: a proof reads only the nodes nodesNeeded names, O(log^2 n) of them', () => {
    const { leaves, nodes } = grow(1000);
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1000 }), fc.nat(), (size, b) => {
        const index = b % size;
        const compute = (get: (l: number, i: number) => Uint8Array) => inclusionProofFrom(get, index, size);
        const keys = nodesNeeded(compute);
        expect(keys.length).toBeLessThanOrEqual(10 * 10);
        const only = new Map(keys.map((k) => [nodeKey(k.level, k.index), nodes.get(nodeKey(k.level, k.index))!]));
        expect(compute(readerOf(only)).map(toHex)).toEqual(inclusionProof(leaves, index, size).map(toHex));
      }),
      { numRuns: 80 },
    );
  });

  it('the frontier survives JSON (snapshots) and goes on identically', () => {
    for (const n of [0, 1, 6, 7, 8, 255, 256, 1000]) {
      const a = grow(n).frontier;
      const b = MerkleFrontier.fromJSON(JSON.parse(JSON.stringify(a.toJSON())) as { size: number; edge: string[] });
      expect(b.size).toBe(n);
      expect(toHex(b.root())).toBe(toHex(a.root()));
      const l = leafHash(u32be(123456));
      const x = a.append(l);
      const y = b.append(l);
      expect(y.nodes.map((k) => `${k.level}/${k.index}/${toHex(k.hash)}`)).toEqual(x.nodes.map((k) => `${k.level}/${k.index}/${toHex(k.hash)}`));
    }
    expect(() => MerkleFrontier.fromJSON({ size: 3, edge: ['00'.repeat(32)] })).toThrow(/2 edge subtrees/);
  });

  it('a missing node is an error that names it, not a wrong proof', () => {
    const { nodes } = grow(8);
    nodes.delete(nodeKey(2, 1));
    expect(() => inclusionProofFrom(readerOf(nodes), 0, 8)).toThrow(/lacks Merkle node 2\/1/);
  });
});
