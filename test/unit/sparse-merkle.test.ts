import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesEqual, concatBytes, fromHex, toHex, utf8ToBytes } from '../../shared/crypto/bytes.ts';
import {
  EMPTY_SMT_ROOT,
  RetainedVersions,
  SMT_DEPTH,
  SparseMerkleTree,
  SparseProofError,
  decodeSparseProof,
  emptyHash,
  encodeSparseProof,
  keyBit,
  smtKey,
  smtLeafHash,
  smtNodeHash,
  sparseRootOf,
  verifySparseProof,
} from '../../shared/log/sparse-merkle.ts';

// Independent restatement of the hash definitions (module comment), for the vectors below.
const H = (...parts: Uint8Array[]): Uint8Array => sha256(concatBytes(...parts));
const b = (...xs: number[]): Uint8Array => new Uint8Array(xs);

function keyWithPrefix(bits: string): Uint8Array {
  const k = new Uint8Array(32);
  for (let i = 0; i < bits.length; i++) if (bits[i] === '1') k[i >> 3]! |= 0x80 >> (i & 7);
  return k;
}

describe('sparse Merkle tree: hashing and vectors', () => {
  it('empty subtree hashes and the empty root follow the definition', () => {
    let e = H(b(2));
    expect(toHex(emptyHash(0))).toBe(toHex(e));
    for (let h = 1; h <= SMT_DEPTH; h++) {
      e = H(b(1), e, e);
      expect(bytesEqual(emptyHash(h), e)).toBe(true);
    }
    expect(toHex(EMPTY_SMT_ROOT)).toBe(toHex(e));
    expect(toHex(SparseMerkleTree.empty().root)).toBe(toHex(e));
    expect(toHex(sparseRootOf([]))).toBe(toHex(e));
    // Pinned so that an accidental change of the hashing is caught.
    expect(toHex(emptyHash(0))).toBe('dbc1b4c900ffe48d575b5da5c638040125f65db0fe3e24494b76ea986457d986');
    expect(toHex(EMPTY_SMT_ROOT)).toBe(PINNED.empty);
    expect(() => emptyHash(257)).toThrow(RangeError);
    expect(() => emptyHash(-1)).toThrow(RangeError);
  });

  it('node hashes (a fixed-length SHA-256) agree with noble sha256', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ minLength: 32, maxLength: 32 }), (l, r) => {
        expect(toHex(smtNodeHash(l, r))).toBe(toHex(H(b(1), l, r)));
      }),
      { numRuns: 300 },
    );
    expect(toHex(smtNodeHash(new Uint8Array(32).fill(0xff), new Uint8Array(32).fill(0x80)))).toBe(toHex(H(b(1), new Uint8Array(32).fill(0xff), new Uint8Array(32).fill(0x80))));
    expect(() => smtNodeHash(new Uint8Array(31), new Uint8Array(32))).toThrow(RangeError);
  });

  it('single-key tree: the leaf folded up with empty siblings', () => {
    const key = smtKey('alice');
    expect(toHex(key)).toBe(toHex(sha256(utf8ToBytes('alice'))));
    const value = utf8ToBytes('v1');
    let h = H(b(0), key, value);
    expect(bytesEqual(smtLeafHash(key, value), h)).toBe(true);
    for (let d = SMT_DEPTH - 1; d >= 0; d--) {
      const e = emptyHash(SMT_DEPTH - d - 1);
      h = keyBit(key, d) ? H(b(1), e, h) : H(b(1), h, e);
    }
    const t = SparseMerkleTree.empty().set(key, value);
    expect(toHex(t.root)).toBe(toHex(h));
    expect(toHex(t.root)).toBe(PINNED.alice);
    expect(t.size).toBe(1);
    const p = t.prove(key);
    expect(p.siblings.length).toBe(0);
    expect(toHex(encodeSparseProof(p))).toBe('00'.repeat(32));
    expect(verifySparseProof(t.root, key, value, p)).toBe(true);
  });

  it('known small tree: keys 00.., 01.., 1... by hand', () => {
    const k0 = keyWithPrefix('00');
    const k1 = keyWithPrefix('01');
    const k2 = keyWithPrefix('1');
    const v = [utf8ToBytes('a'), utf8ToBytes('b'), utf8ToBytes('c')];
    // Each key's single-key subtree: leaf folded to the given height (all other bits are 0 = left).
    const fold = (k: Uint8Array, val: Uint8Array, height: number): Uint8Array => {
      let h = smtLeafHash(k, val);
      for (let hh = 1; hh <= height; hh++) h = H(b(1), h, emptyHash(hh - 1));
      return h;
    };
    const n00 = fold(k0, v[0]!, 254);
    const n01 = fold(k1, v[1]!, 254);
    const n1 = fold(k2, v[2]!, 255);
    const root = smtNodeHash(smtNodeHash(n00, n01), n1);
    const t = SparseMerkleTree.from([
      [k0, v[0]!],
      [k1, v[1]!],
      [k2, v[2]!],
    ]);
    expect(toHex(t.root)).toBe(toHex(root));
    expect(toHex(root)).toBe(PINNED.three);
    // The proof for k1: siblings n1 at depth 1 and n00 at depth 2.
    const p = t.prove(k1);
    expect(toHex(p.bitmap)).toBe('c0' + '00'.repeat(31));
    expect(p.siblings.map(toHex)).toEqual([toHex(n1), toHex(n00)]);
    // An absent key 001...: its path parts from k0 at depth 2 (bit 2).
    const absent = keyWithPrefix('001');
    const q = t.prove(absent);
    expect(toHex(q.bitmap)).toBe('e0' + '00'.repeat(31));
    expect(q.siblings.map(toHex)).toEqual([toHex(n1), toHex(n01), toHex(fold(k0, v[0]!, 253))]);
    expect(verifySparseProof(t.root, absent, null, q)).toBe(true);
    expect(verifySparseProof(t.root, absent, v[0]!, q)).toBe(false);
    // Keys that differ only in the last bit.
    const a = new Uint8Array(32);
    const c = new Uint8Array(32);
    c[31] = 1;
    const t2 = SparseMerkleTree.from([
      [a, v[0]!],
      [c, v[1]!],
    ]);
    let h = smtNodeHash(smtLeafHash(a, v[0]!), smtLeafHash(c, v[1]!));
    for (let hh = 2; hh <= SMT_DEPTH; hh++) h = H(b(1), h, emptyHash(hh - 1));
    expect(toHex(t2.root)).toBe(toHex(h));
    expect(verifySparseProof(t2.root, c, v[1]!, t2.prove(c))).toBe(true);
    expect(t2.prove(c).siblings.length).toBe(1);
  });
});

// Regression values of this implementation (the tests above derive them independently from the definition).
const PINNED = {
  empty: '9b97517f25140762b9e187bae23a31ab78a4230354dece720bbbefcfce8de5a0',
  alice: '4639d1ef6625bdfe0bb6233b11f1fe4d668fae5ee2ea90667bde5bf6d423c47a',
  three: '31d0a5b6481a5cccd342ad9e8a14264cc061856488a415f7e54c1d41cdb6a3ae',
};

describe('sparse Merkle tree: operations', () => {
  const arbKey = fc.oneof(
    fc.uint8Array({ minLength: 32, maxLength: 32 }),
    // Keys with long common prefixes exercise deep splits and collapses.
    fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 7 })).map(([last, flip]) => {
      const k = new Uint8Array(32);
      k[31] = last;
      k[0] = flip;
      return k;
    }),
  );
  const arbOp = fc.oneof(
    fc.record({ op: fc.constant('set' as const), key: arbKey, value: fc.uint8Array({ maxLength: 8 }) }),
    fc.record({ op: fc.constant('del' as const), key: arbKey }),
  );

  it('insert/update/delete sequences match a naive recomputation, and every proof verifies', () => {
    fc.assert(
      fc.property(fc.array(arbOp, { maxLength: 24 }), fc.array(arbKey, { maxLength: 4 }), (ops, probes) => {
        let t = SparseMerkleTree.empty();
        const model = new Map<string, [Uint8Array, Uint8Array]>();
        for (const o of ops) {
          if (o.op === 'set') {
            t = t.set(o.key, o.value);
            model.set(toHex(o.key), [o.key, o.value]);
          } else {
            t = t.delete(o.key);
            model.delete(toHex(o.key));
          }
        }
        const root = t.root;
        expect(toHex(root)).toBe(toHex(sparseRootOf(model.values())));
        expect(t.size).toBe(model.size);
        // The canonical shape: rebuilding from scratch gives the same root.
        expect(toHex(SparseMerkleTree.from(model.values()).root)).toBe(toHex(root));
        expect([...t.entries()].map(([k]) => toHex(k))).toEqual([...model.keys()].sort());
        for (const [k, v] of model.values()) {
          const p = t.prove(k);
          expect(toHex(t.get(k)!)).toBe(toHex(v));
          expect(verifySparseProof(root, k, v, p)).toBe(true);
          expect(verifySparseProof(root, k, v, encodeSparseProof(p))).toBe(true);
          expect(verifySparseProof(root, k, null, p)).toBe(false);
          expect(verifySparseProof(root, k, concatBytes(v, b(0)), p)).toBe(false);
        }
        for (const k of probes) {
          const p = t.prove(k);
          const v = model.get(toHex(k));
          expect(verifySparseProof(root, k, v ? v[1] : null, p)).toBe(true);
          if (!v) {
            expect(t.get(k)).toBeNull();
            expect(verifySparseProof(root, k, b(), p)).toBe(false);
          }
        }
      }),
      { numRuns: 150 },
    );
  });

  it('old versions stay intact and provable after updates (persistence)', () => {
    const keys = Array.from({ length: 40 }, (_, i) => smtKey(`name-${i}`));
    const versions: SparseMerkleTree[] = [SparseMerkleTree.empty()];
    for (let i = 0; i < keys.length; i++) versions.push(versions[i]!.set(keys[i]!, b(i)));
    for (let i = 0; i < 20; i++) versions.push(versions[versions.length - 1]!.delete(keys[i]!));
    for (let i = 0; i < 10; i++) versions.push(versions[versions.length - 1]!.set(keys[30 + i]!, b(100 + i)));
    for (const [vi, t] of versions.entries()) {
      const root = t.root;
      for (const [ki, k] of keys.entries()) {
        const v = t.get(k);
        expect(verifySparseProof(root, k, v, t.prove(k))).toBe(true);
        if (vi <= 40) expect(v === null ? null : v[0]).toBe(ki < vi ? ki : null);
      }
    }
    // Setting an unchanged value or deleting an absent key returns the same tree.
    const last = versions[versions.length - 1]!;
    expect(last.set(keys[39]!, b(109))).toBe(last);
    expect(last.delete(keys[0]!)).toBe(last);
  });

  it('rejects bad keys', () => {
    const t = SparseMerkleTree.empty();
    expect(() => t.set(new Uint8Array(31), b())).toThrow(RangeError);
    expect(() => t.get(new Uint8Array(33))).toThrow(RangeError);
    expect(() => t.prove(new Uint8Array(0))).toThrow(RangeError);
    expect(verifySparseProof(EMPTY_SMT_ROOT, new Uint8Array(31), null, t.prove(new Uint8Array(32)))).toBe(false);
  });
});

describe('sparse Merkle proofs: strict encoding and tampering', () => {
  const names = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'heidi'];
  const t = SparseMerkleTree.from(names.map((n) => [smtKey(n), utf8ToBytes(`cert:${n}`)] as const));
  const root = t.root;
  const k = smtKey('carol');
  const v = utf8ToBytes('cert:carol');
  const enc = encodeSparseProof(t.prove(k));

  it('round-trips and verifies', () => {
    expect(verifySparseProof(root, k, v, enc)).toBe(true);
    expect(toHex(encodeSparseProof(decodeSparseProof(enc)))).toBe(toHex(enc));
    const absent = smtKey('mallory');
    expect(verifySparseProof(root, absent, null, encodeSparseProof(t.prove(absent)))).toBe(true);
  });

  it('rejects wrong lengths, trailing bytes and listed empty siblings', () => {
    expect(() => decodeSparseProof(enc.slice(0, 31))).toThrow(SparseProofError);
    expect(() => decodeSparseProof(enc.slice(0, enc.length - 1))).toThrow(SparseProofError);
    expect(() => decodeSparseProof(concatBytes(enc, b(0)))).toThrow(SparseProofError);
    expect(() => decodeSparseProof(concatBytes(enc, new Uint8Array(32)))).toThrow(SparseProofError);
    // Bit 255 set with the empty leaf hash listed: same root, but non-canonical, so refused.
    const p = decodeSparseProof(enc);
    const bitmap = p.bitmap.slice();
    bitmap[31]! |= 1;
    const nonCanonical = { bitmap, siblings: [...p.siblings, emptyHash(0)] };
    expect(() => encodeSparseProof(nonCanonical)).toThrow(SparseProofError);
    expect(verifySparseProof(root, k, v, nonCanonical)).toBe(false);
    expect(verifySparseProof(root, k, v, concatBytes(bitmap, ...p.siblings, emptyHash(0)))).toBe(false);
    expect(verifySparseProof(root, k, v, { bitmap: p.bitmap, siblings: p.siblings.slice(1) })).toBe(false);
    expect(verifySparseProof(root, k, v, { bitmap: p.bitmap.slice(1), siblings: p.siblings })).toBe(false);
    expect(verifySparseProof(root.slice(1), k, v, p)).toBe(false);
  });

  it('rejects every single-bit change of the proof, root, key and value', () => {
    const flip = (x: Uint8Array, i: number): Uint8Array => {
      const y = x.slice();
      y[i >> 3]! ^= 0x80 >> (i & 7);
      return y;
    };
    for (let i = 0; i < enc.length * 8; i += 3) expect(verifySparseProof(root, k, v, flip(enc, i))).toBe(false);
    for (let i = 0; i < 256; i += 5) {
      expect(verifySparseProof(flip(root, i), k, v, enc)).toBe(false);
      expect(verifySparseProof(root, flip(k, i), v, enc)).toBe(false);
    }
    for (let i = 0; i < v.length * 8; i++) expect(verifySparseProof(root, k, flip(v, i), enc)).toBe(false);
  });

  it('a non-membership proof cannot claim presence and a membership proof cannot claim absence', () => {
    const absent = smtKey('mallory');
    const q = encodeSparseProof(t.prove(absent));
    expect(verifySparseProof(root, absent, v, q)).toBe(false);
    expect(verifySparseProof(root, absent, b(), q)).toBe(false);
    expect(verifySparseProof(root, k, null, enc)).toBe(false);
    // A proof for another key does not transfer.
    expect(verifySparseProof(root, smtKey('dave'), v, enc)).toBe(false);
  });

  it('fuzz: random proof bytes never verify and never throw', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.option(fc.uint8Array({ maxLength: 16 }), { nil: null }), (bytes, val) => {
        expect(verifySparseProof(root, k, val, bytes)).toBe(false);
      }),
      { numRuns: 200 },
    );
    expect(() => decodeSparseProof(fromHex('ff'.repeat(32)))).toThrow(SparseProofError);
  });
});

describe('RetainedVersions', () => {
  it('answers the latest version at or below, and forgets beyond K', () => {
    const r = new RetainedVersions<string>(3);
    expect(r.at(0)).toBeUndefined();
    r.put(-1, 'init');
    r.put(2, 'a');
    r.put(2, 'a2');
    r.put(5, 'b');
    expect(r.at(-1)).toBe('init');
    expect(r.at(1)).toBe('init');
    expect(r.at(2)).toBe('a2');
    expect(r.at(4)).toBe('a2');
    expect(r.at(100)).toBe('b');
    r.put(7, 'c');
    expect(r.versions()).toEqual([2, 5, 7]);
    expect(r.at(1)).toBeUndefined();
    expect(r.at(3)).toBe('a2');
    expect(r.latest()).toBe('c');
    expect(() => r.put(6, 'x')).toThrow(RangeError);
    expect(() => new RetainedVersions(0)).toThrow(RangeError);
  });
});
