/**
 * The stored sparse Merkle tree (shared/log/stored-sparse-merkle.ts) against the in-memory one
 * (sparse-merkle.ts): the same roots, values and proofs after every batch of sets and deletions, every
 * retained version readable, pruning the stale records of versions no longer retained leaves exactly the
 * nodes the retained versions reach, and reads through a partial source ask for the missing nodes level by
 * level.
 */
import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../shared/crypto/random.ts';
import { toHex } from '../../shared/crypto/bytes.ts';
import { EMPTY_SMT_ROOT, SparseMerkleTree, encodeSparseProof, smtKey, verifySparseProof } from '../../shared/log/sparse-merkle.ts';
import {
  SmtNodeMissing,
  SmtStorageError,
  decodeSmtNode,
  encodeSmtNode,
  smtGet,
  smtMissing,
  smtProve,
  smtRootHash,
  smtStorageKey,
  smtUpdate,
} from '../../shared/log/stored-sparse-merkle.ts';
import type { SmtNodeRef, SmtUpdate } from '../../shared/log/stored-sparse-merkle.ts';

class MapSource {
  readonly records = new Map<string, Uint8Array>();
  get(k: string): Uint8Array | undefined {
    return this.records.get(k);
  }
  apply(u: SmtUpdate): void {
    for (const [k, v] of u.put) this.records.set(k, v);
  }
}

/** Every storage key reachable from a root. */
function reachable(source: MapSource, root: SmtNodeRef | null, out = new Set<string>()): Set<string> {
  if (root === null) return out;
  const k = smtStorageKey(root);
  out.add(k);
  const b = source.get(k);
  expect(b, `node ${k} reachable from a retained root is stored`).toBeDefined();
  const n = decodeSmtNode(b!);
  if (n.kind === 'branch') {
    reachable(source, n.left, out);
    reachable(source, n.right, out);
  }
  return out;
}

describe('stored sparse Merkle tree', () => {
  it('matches the in-memory tree: roots, values and proofs after every batch; every old version stays readable', () => {
    const rng = seededRandom('stored-smt');
    const names = Array.from({ length: 60 }, (_, i) => `name-${i}`);
    const source = new MapSource();
    let root: SmtNodeRef | null = null;
    let ref = SparseMerkleTree.empty();
    const versions: { root: SmtNodeRef | null; tree: SparseMerkleTree }[] = [];
    expect(smtRootHash(null)).toEqual(EMPTY_SMT_ROOT);
    for (let v = 0; v < 40; v++) {
      const changes: [Uint8Array, Uint8Array | null][] = [];
      const count = 1 + (rng(1)[0]! % 6);
      for (let c = 0; c < count; c++) {
        const [a, b] = rng(2);
        const key = smtKey(names[a! % names.length]!);
        const value = b! % 4 === 0 ? null : Uint8Array.of(b!, v, c);
        changes.push([key, value]);
        ref = value === null ? ref.delete(key) : ref.set(key, value);
      }
      const u = smtUpdate(source, root, v, changes);
      source.apply(u);
      root = u.root;
      versions.push({ root, tree: ref });
      expect(toHex(smtRootHash(root))).toBe(toHex(ref.root));
    }
    for (const { root: r, tree } of versions) {
      for (const name of names) {
        const key = smtKey(name);
        expect(smtGet(source, r, key)).toEqual(tree.get(key));
        const proof = smtProve(source, r, key);
        expect(toHex(encodeSparseProof(proof))).toBe(toHex(encodeSparseProof(tree.prove(key))));
        expect(verifySparseProof(smtRootHash(r), key, tree.get(key), proof)).toBe(true);
      }
    }
  });

  it('pruning the stale records of versions no longer retained keeps exactly what the retained versions reach', () => {
    const rng = seededRandom('stored-smt-prune');
    const source = new MapSource();
    let root: SmtNodeRef | null = null;
    const RETAIN = 4;
    const roots: (SmtNodeRef | null)[] = [];
    const staleAt: string[][] = [];
    let ref = SparseMerkleTree.empty();
    for (let v = 0; v < 60; v++) {
      const changes: [Uint8Array, Uint8Array | null][] = [];
      for (let c = 0; c < 3; c++) {
        const [a, b] = rng(2);
        const key = smtKey(`k${a! % 25}`);
        const value = b! % 5 === 0 ? null : Uint8Array.of(b!);
        changes.push([key, value]);
        ref = value === null ? ref.delete(key) : ref.set(key, value);
      }
      const u = smtUpdate(source, root, v, changes);
      source.apply(u);
      root = u.root;
      roots.push(root);
      staleAt.push([...u.stale]);
      // Records no longer referenced from version w on are needed by versions before w only.
      const oldest = v - RETAIN + 1;
      if (oldest >= 0) for (const k of staleAt[oldest]!) source.records.delete(k);
      const live = new Set<string>();
      for (let w = Math.max(0, oldest); w <= v; w++) reachable(source, roots[w]!, live);
      expect(new Set(source.records.keys())).toEqual(live);
      expect(toHex(smtRootHash(root))).toBe(toHex(ref.root));
    }
  });

  it('reads through a partial source: smtMissing names the nodes level by level, and an update refuses to run without them', () => {
    const full = new MapSource();
    let root: SmtNodeRef | null = null;
    const keys = Array.from({ length: 200 }, (_, i) => smtKey(`user-${i}`));
    for (let i = 0; i < keys.length; i += 20) {
      const u = smtUpdate(full, root, i, keys.slice(i, i + 20).map((k, j) => [k, Uint8Array.of(j)] as const));
      full.apply(u);
      root = u.root;
    }
    const partial = new MapSource();
    const wanted = [keys[3]!, keys[150]!, smtKey('nobody')];
    expect(() => smtGet(partial, root, wanted[0]!)).toThrow(SmtNodeMissing);
    expect(() => smtUpdate(partial, root, 999, [[wanted[2]!, Uint8Array.of(1)]])).toThrow(SmtNodeMissing);
    let rounds = 0;
    for (let m = smtMissing(partial, root, wanted); m.length > 0; m = smtMissing(partial, root, wanted)) {
      rounds++;
      expect(m.length).toBeLessThanOrEqual(wanted.length);
      for (const k of m) partial.records.set(k, full.get(k)!);
    }
    expect(rounds).toBeGreaterThan(2);
    expect(rounds).toBeLessThan(20);
    expect(partial.records.size).toBeLessThan(full.records.size / 4);
    expect(smtGet(partial, root, wanted[1]!)).toEqual(Uint8Array.of(10));
    expect(smtGet(partial, root, wanted[2]!)).toBeNull();
    const u = smtUpdate(partial, root, 1000, [[wanted[2]!, Uint8Array.of(7)], [wanted[0]!, Uint8Array.of(8)]]);
    const v = smtUpdate(full, root, 1000, [[wanted[2]!, Uint8Array.of(7)], [wanted[0]!, Uint8Array.of(8)]]);
    expect(u.root).toEqual(v.root);
    expect([...u.put.keys()].sort()).toEqual([...v.put.keys()].sort());
    // A deletion also needs the siblings on its path.
    const del = [keys[3]!];
    for (let m = smtMissing(partial, root, del, true); m.length > 0; m = smtMissing(partial, root, del, true)) for (const k of m) partial.records.set(k, full.get(k)!);
    expect(smtUpdate(partial, root, 1001, [[keys[3]!, null]]).root).toEqual(smtUpdate(full, root, 1001, [[keys[3]!, null]]).root);
  });

  it('two updates at one version: a node dropped and written again is not stale', () => {
    const source = new MapSource();
    const a = smtKey('a');
    const b = smtKey('b');
    const u1 = smtUpdate(source, null, 5, [[a, Uint8Array.of(1)]]);
    source.apply(u1);
    const u2 = smtUpdate(source, u1.root, 5, [[b, Uint8Array.of(2)], [b, null]]);
    // b inserted then deleted: the tree is back to u1's, whose leaf for a is re-lifted at the same version.
    expect(u2.root).toEqual(u1.root);
    for (const k of u2.put.keys()) expect(u2.stale).not.toContain(k);
    source.apply(u2);
    for (const k of u2.stale) source.records.delete(k);
    expect(smtGet(source, u2.root, a)).toEqual(Uint8Array.of(1));
  });

  it('node encoding: exact round trip; anything else is a storage error', () => {
    const leaf = { kind: 'leaf' as const, key: smtKey('x'), value: Uint8Array.of(1, 2, 3) };
    expect(decodeSmtNode(encodeSmtNode(leaf))).toEqual(leaf);
    const branch = { kind: 'branch' as const, left: { version: 7, hash: smtKey('l') }, right: null };
    const bytes = encodeSmtNode(branch);
    expect(bytes.length).toBe(2 + 40);
    expect(decodeSmtNode(bytes)).toEqual(branch);
    const both = { kind: 'branch' as const, left: { version: 1, hash: smtKey('l') }, right: { version: 2 ** 40, hash: smtKey('r') } };
    expect(decodeSmtNode(encodeSmtNode(both))).toEqual(both);
    for (const bad of [new Uint8Array(0), Uint8Array.of(1, 0), Uint8Array.of(1, 4), Uint8Array.of(2, 1), bytes.subarray(0, 41), Uint8Array.of(0, 1)]) {
      expect(() => decodeSmtNode(bad)).toThrow(SmtStorageError);
    }
    expect(smtStorageKey({ version: 255, hash: new Uint8Array(32) })).toBe(`00000000000000ff${'00'.repeat(32)}`);
  });
});
