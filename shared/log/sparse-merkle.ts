/**
 * Sparse Merkle tree over 256-bit keys (the CA directory: key = SHA-256 of the name), with membership and
 * non-membership proofs.
 *
 * Construction: the full binary tree of 2^256 leaves, one per possible key, where every leaf that holds no
 * value is "empty" and the hash of an empty subtree of each height is precomputed once (256 + 1 constants):
 * the sparse Merkle tree of Laurie and Kasper, "Revocation Transparency" (2012). The byte encodings below,
 * the proof compression and the storage are this module's own. Hashes are domain-separated:
 *
 *   empty(0)     = SHA-256(0x02)
 *   empty(h)     = node(empty(h-1), empty(h-1))
 *   leaf(k, v)   = SHA-256(0x00 || k || v)            (k: 32 bytes, so the encoding is unambiguous)
 *   node(l, r)   = SHA-256(0x01 || l || r)
 *
 * Heights: leaves have height 0, the root height 256. The node at depth d (root: depth 0) on the path of a
 * key is its parent's child number bit(key, d) (bit 0 is the most significant bit of key[0]; 0 = left).
 * A key is absent exactly when its leaf is empty(0), so one proof format serves both membership and
 * non-membership: the 256 siblings of the key's path.
 *
 * Proof encoding (compressed, strict): bitmap (32 bytes; bit d, most significant first, set iff the sibling
 * at depth d+1 is not the empty subtree of its height) || the set siblings, 32 bytes each, in order of
 * increasing d. The length must be exactly 32 + 32 * popcount(bitmap), and a listed sibling that equals the
 * empty hash of its height is rejected (it must be left out), so every proof has one encoding.
 *
 * Storage: the tree is immutable and persistent. A subtree that holds exactly one key is stored as one
 * node (key, value, and its hash at that height), a subtree with two or more keys as a branch; an update
 * copies only the O(log n) branches on the key's path (plus the lifted single-key nodes) and shares the
 * rest. Every `SparseMerkleTree` value is therefore a version that stays answerable as long as it is
 * referenced; `RetainedVersions` keeps the last K of them and drops older ones, whose unshared nodes the
 * JavaScript garbage collector reclaims. Memory: the live tree plus, per retained version, the nodes its
 * updates copied.
 */
import { sha256 } from '../crypto/sha256.ts';
import { bytesEqual, utf8ToBytes } from '../crypto/bytes.ts';

export const SMT_DEPTH = 256;
export const SMT_KEY_BYTES = 32;
export const SMT_HASH_BYTES = 32;
export const SMT_BITMAP_BYTES = SMT_DEPTH / 8;

const LEAF_PREFIX = 0x00;
const NODE_PREFIX = 0x01;
const EMPTY_PREFIX = 0x02;

export function smtLeafHash(key: Uint8Array, value: Uint8Array): Uint8Array {
  if (!(key instanceof Uint8Array) || key.length !== SMT_KEY_BYTES) throw new RangeError('sparse Merkle key must be 32 bytes');
  const b = new Uint8Array(1 + SMT_KEY_BYTES + value.length);
  b[0] = LEAF_PREFIX;
  b.set(key, 1);
  b.set(value, 1 + SMT_KEY_BYTES);
  return sha256(b);
}

export function smtNodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  if (left.length !== SMT_HASH_BYTES || right.length !== SMT_HASH_BYTES) throw new RangeError('node children must be 32-byte hashes');
  return sha256Pair(NODE_PREFIX, left, right);
}

// ---------------------------------------------------------------------------------------------------------
// SHA-256 (FIPS 180-4) of one byte and two 32-byte strings, for node hashes: the tree is hash-bound (about
// 256 node hashes per update and per verification), and this fixed-length, allocation-free version runs
// about 14x faster than the general-purpose noble sha256 here. Tests check it against noble.

const K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
  0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
  0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
  0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);
const IV = new Uint32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);
const W = new Uint32Array(64);
const Hs = new Uint32Array(8);
function compress(block: Uint8Array, off: number): void {
  for (let i = 0; i < 16; i++) {
    const j = off + 4 * i;
    W[i] = (block[j]! << 24) | (block[j + 1]! << 16) | (block[j + 2]! << 8) | block[j + 3]!;
  }
  for (let i = 16; i < 64; i++) {
    const w15 = W[i - 15]!;
    const w2 = W[i - 2]!;
    const s0 = ((w15 >>> 7) | (w15 << 25)) ^ ((w15 >>> 18) | (w15 << 14)) ^ (w15 >>> 3);
    const s1 = ((w2 >>> 17) | (w2 << 15)) ^ ((w2 >>> 19) | (w2 << 13)) ^ (w2 >>> 10);
    W[i] = (W[i - 16]! + s0 + W[i - 7]! + s1) | 0;
  }
  let a = Hs[0]!;
  let b = Hs[1]!;
  let c = Hs[2]!;
  let d = Hs[3]!;
  let e = Hs[4]!;
  let f = Hs[5]!;
  let g = Hs[6]!;
  let h = Hs[7]!;
  for (let i = 0; i < 64; i++) {
    const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const t1 = (h + S1 + ((e & f) ^ (~e & g)) + K[i]! + W[i]!) | 0;
    const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const t2 = (S0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
    h = g;
    g = f;
    f = e;
    e = (d + t1) | 0;
    d = c;
    c = b;
    b = a;
    a = (t1 + t2) | 0;
  }
  const v = [a, b, c, d, e, f, g, h];
  for (let i = 0; i < 8; i++) Hs[i] = (Hs[i]! + v[i]!) | 0;
}
const BUF = new Uint8Array(128);
/** SHA-256(prefix || a || b) for one prefix byte and two 32-byte strings (65 bytes: two blocks). */
function sha256Pair(prefix: number, a: Uint8Array, b: Uint8Array): Uint8Array {
  BUF.fill(0);
  BUF[0] = prefix;
  BUF.set(a, 1);
  BUF.set(b, 33);
  BUF[65] = 0x80; // padding
  BUF[126] = 0x02; // message length: 65 * 8 = 520 bits, big-endian
  BUF[127] = 0x08;
  Hs.set(IV);
  compress(BUF, 0);
  compress(BUF, 64);
  const out = new Uint8Array(32);
  for (let i = 0; i < 8; i++) {
    const x = Hs[i]!;
    out[4 * i] = x >>> 24;
    out[4 * i + 1] = (x >>> 16) & 0xff;
    out[4 * i + 2] = (x >>> 8) & 0xff;
    out[4 * i + 3] = x & 0xff;
  }
  return out;
}

const EMPTY: readonly Uint8Array[] = (() => {
  const e: Uint8Array[] = [sha256(new Uint8Array([EMPTY_PREFIX]))];
  for (let h = 1; h <= SMT_DEPTH; h++) e.push(smtNodeHash(e[h - 1]!, e[h - 1]!));
  return e;
})();

/** Hash of the empty subtree of height `height` (0 = an empty leaf, 256 = the empty tree). */
export function emptyHash(height: number): Uint8Array {
  const e = EMPTY[height];
  if (!Number.isInteger(height) || e === undefined) throw new RangeError(`height outside 0..${SMT_DEPTH}`);
  return e.slice();
}

/** Root of the tree with no keys. */
export const EMPTY_SMT_ROOT: Uint8Array = EMPTY[SMT_DEPTH]!.slice();

/** The directory key of a name: SHA-256 of its UTF-8 bytes (or of the given bytes). */
export function smtKey(name: string | Uint8Array): Uint8Array {
  return sha256(typeof name === 'string' ? utf8ToBytes(name) : name);
}

/** Bit `d` of a key, most significant bit of key[0] first. */
export function keyBit(key: Uint8Array, d: number): number {
  return (key[d >> 3]! >> (7 - (d & 7))) & 1;
}

/** The first depth >= from where the paths of two keys part, or -1 if the keys are equal. */
export function firstDifferingBit(a: Uint8Array, b: Uint8Array, from: number): number {
  for (let d = from; d < SMT_DEPTH; d++) if (keyBit(a, d) !== keyBit(b, d)) return d;
  return -1;
}

function checkKey(key: Uint8Array): void {
  if (!(key instanceof Uint8Array) || key.length !== SMT_KEY_BYTES) throw new RangeError('sparse Merkle key must be 32 bytes');
}

// ---------------------------------------------------------------------------------------------------------
// Nodes

interface LeafNode {
  readonly kind: 'leaf';
  /** Height of the single-key subtree this node stands for. */
  readonly height: number;
  readonly key: Uint8Array;
  readonly value: Uint8Array;
  /** leaf(key, value): the hash at height 0. */
  readonly leafHash: Uint8Array;
  /** Hash of the subtree at `height`. */
  readonly hash: Uint8Array;
  readonly count: 1;
}

interface BranchNode {
  readonly kind: 'branch';
  readonly height: number;
  readonly left: TreeNode | null;
  readonly right: TreeNode | null;
  readonly hash: Uint8Array;
  /** Number of keys below (at least 2). */
  readonly count: number;
}

type TreeNode = LeafNode | BranchNode;

/** Hash of the single-key subtree of height `to` from its hash `h` at height `from`. */
export function lift(key: Uint8Array, h: Uint8Array, from: number, to: number): Uint8Array {
  let x = h;
  for (let hh = from + 1; hh <= to; hh++) {
    x = keyBit(key, SMT_DEPTH - hh) === 1 ? smtNodeHash(EMPTY[hh - 1]!, x) : smtNodeHash(x, EMPTY[hh - 1]!);
  }
  return x;
}

function makeLeaf(key: Uint8Array, value: Uint8Array, leafHash: Uint8Array, height: number): LeafNode {
  return { kind: 'leaf', height, key, value, leafHash, hash: lift(key, leafHash, 0, height), count: 1 };
}

function liftLeaf(leaf: LeafNode, height: number): LeafNode {
  return { ...leaf, height, hash: lift(leaf.key, leaf.hash, leaf.height, height) };
}

const hashOf = (n: TreeNode | null, height: number): Uint8Array => (n ? n.hash : EMPTY[height]!);

function makeBranch(height: number, left: TreeNode | null, right: TreeNode | null): BranchNode {
  return {
    kind: 'branch',
    height,
    left,
    right,
    hash: smtNodeHash(hashOf(left, height - 1), hashOf(right, height - 1)),
    count: (left?.count ?? 0) + (right?.count ?? 0),
  };
}

/** Two single-key subtrees (different keys) joined into the subtree of `height`. */
function join(height: number, a: LeafNode, key: Uint8Array, value: Uint8Array, leafHash: Uint8Array): TreeNode {
  const d0 = SMT_DEPTH - height;
  const j = firstDifferingBit(a.key, key, d0);
  const h = SMT_DEPTH - j - 1; // height of the two single-key subtrees under the split at depth j
  const na = makeLeaf(a.key, a.value, a.leafHash, h);
  const nb = makeLeaf(key, value, leafHash, h);
  let node: TreeNode = keyBit(key, j) === 1 ? makeBranch(h + 1, na, nb) : makeBranch(h + 1, nb, na);
  for (let d = j - 1; d >= d0; d--) {
    const hh = SMT_DEPTH - d;
    node = keyBit(key, d) === 1 ? makeBranch(hh, null, node) : makeBranch(hh, node, null);
  }
  return node;
}

function insertAt(node: TreeNode | null, height: number, key: Uint8Array, value: Uint8Array, leafHash: Uint8Array): TreeNode {
  if (node === null) return makeLeaf(key, value, leafHash, height);
  if (node.kind === 'leaf') {
    if (bytesEqual(node.key, key)) return bytesEqual(node.value, value) ? node : makeLeaf(key, value, leafHash, height);
    return join(height, node, key, value, leafHash);
  }
  const d = SMT_DEPTH - height;
  if (keyBit(key, d) === 1) {
    const r = insertAt(node.right, height - 1, key, value, leafHash);
    return r === node.right ? node : makeBranch(height, node.left, r);
  }
  const l = insertAt(node.left, height - 1, key, value, leafHash);
  return l === node.left ? node : makeBranch(height, l, node.right);
}

function deleteAt(node: TreeNode | null, height: number, key: Uint8Array): TreeNode | null {
  if (node === null) return null;
  if (node.kind === 'leaf') return bytesEqual(node.key, key) ? null : node;
  const d = SMT_DEPTH - height;
  const right = keyBit(key, d) === 1;
  const child = right ? node.right : node.left;
  const nc = deleteAt(child, height - 1, key);
  if (nc === child) return node;
  const other = right ? node.left : node.right;
  const [l, r] = right ? [other, nc] : [nc, other];
  // A subtree left with one key becomes one single-key node again (the canonical shape).
  if (l === null && r !== null && r.kind === 'leaf') return liftLeaf(r, height);
  if (r === null && l !== null && l.kind === 'leaf') return liftLeaf(l, height);
  if (l === null && r === null) return null;
  return makeBranch(height, l, r);
}

// ---------------------------------------------------------------------------------------------------------
// Proofs

export interface SparseProof {
  /** 32 bytes: bit d set iff the sibling at depth d+1 is non-empty. */
  readonly bitmap: Uint8Array;
  /** The non-empty siblings, in order of increasing depth. */
  readonly siblings: readonly Uint8Array[];
}

/** The compressed proof of the siblings by depth (null: the empty subtree of that depth). */
export function proofFromSiblings(sib: readonly (Uint8Array | null)[]): SparseProof {
  const bitmap = new Uint8Array(SMT_BITMAP_BYTES);
  const siblings: Uint8Array[] = [];
  sib.forEach((s, i) => {
    if (s === null) return;
    bitmap[i >> 3]! |= 0x80 >> (i & 7);
    siblings.push(s.slice());
  });
  return { bitmap, siblings };
}

export class SparseProofError extends Error {
  override readonly name = 'SparseProofError';
}

function popcount(bitmap: Uint8Array): number {
  let c = 0;
  for (const b of bitmap) {
    let x = b;
    while (x) {
      c += x & 1;
      x >>= 1;
    }
  }
  return c;
}

/** Throws SparseProofError unless `p` is a canonical proof (exact lengths, no listed empty siblings). */
function checkProof(p: SparseProof): void {
  if (typeof p !== 'object' || p === null) throw new SparseProofError('proof: expected an object');
  if (!(p.bitmap instanceof Uint8Array) || p.bitmap.length !== SMT_BITMAP_BYTES) throw new SparseProofError(`proof bitmap must be ${SMT_BITMAP_BYTES} bytes`);
  if (!Array.isArray(p.siblings)) throw new SparseProofError('proof siblings: expected an array');
  if (p.siblings.length !== popcount(p.bitmap)) throw new SparseProofError('proof: sibling count does not match the bitmap');
  let i = 0;
  for (let d = 0; d < SMT_DEPTH; d++) {
    if (keyBit(p.bitmap, d) === 0) continue;
    const s = p.siblings[i++];
    if (!(s instanceof Uint8Array) || s.length !== SMT_HASH_BYTES) throw new SparseProofError('proof: every sibling must be 32 bytes');
    if (bytesEqual(s, EMPTY[SMT_DEPTH - d - 1]!)) throw new SparseProofError(`proof: sibling at depth ${d + 1} is the empty hash and must be left out`);
  }
}

export function encodeSparseProof(p: SparseProof): Uint8Array {
  checkProof(p);
  const out = new Uint8Array(SMT_BITMAP_BYTES + SMT_HASH_BYTES * p.siblings.length);
  out.set(p.bitmap, 0);
  p.siblings.forEach((s, i) => out.set(s, SMT_BITMAP_BYTES + SMT_HASH_BYTES * i));
  return out;
}

/** Strict decoding: exactly 32 + 32 * popcount(bitmap) bytes, and canonical (see the module comment). */
export function decodeSparseProof(bytes: Uint8Array): SparseProof {
  if (!(bytes instanceof Uint8Array) || bytes.length < SMT_BITMAP_BYTES) throw new SparseProofError('proof: too short');
  const bitmap = bytes.slice(0, SMT_BITMAP_BYTES);
  const n = popcount(bitmap);
  if (bytes.length !== SMT_BITMAP_BYTES + SMT_HASH_BYTES * n) {
    throw new SparseProofError(`proof: expected ${SMT_BITMAP_BYTES + SMT_HASH_BYTES * n} bytes for ${n} siblings, got ${bytes.length}`);
  }
  const siblings: Uint8Array[] = [];
  for (let i = 0; i < n; i++) siblings.push(bytes.slice(SMT_BITMAP_BYTES + SMT_HASH_BYTES * i, SMT_BITMAP_BYTES + SMT_HASH_BYTES * (i + 1)));
  const p = { bitmap, siblings };
  checkProof(p);
  return p;
}

/**
 * The root that `proof` leads to for `key` holding `value` (null: the key is absent). Throws
 * SparseProofError for a malformed proof.
 */
export function sparseRootFromProof(key: Uint8Array, value: Uint8Array | null, proof: SparseProof | Uint8Array): Uint8Array {
  if (!(key instanceof Uint8Array) || key.length !== SMT_KEY_BYTES) throw new SparseProofError('key must be 32 bytes');
  if (value !== null && !(value instanceof Uint8Array)) throw new SparseProofError('value must be bytes or null');
  const p = proof instanceof Uint8Array ? decodeSparseProof(proof) : proof;
  checkProof(p);
  let h = value === null ? EMPTY[0]! : smtLeafHash(key, value);
  let i = p.siblings.length;
  for (let d = SMT_DEPTH - 1; d >= 0; d--) {
    const sib = keyBit(p.bitmap, d) === 1 ? p.siblings[--i]! : EMPTY[SMT_DEPTH - d - 1]!;
    h = keyBit(key, d) === 1 ? smtNodeHash(sib, h) : smtNodeHash(h, sib);
  }
  return h;
}

/**
 * Pure verifier: true iff `proof` shows that, in the tree with root `root`, `key` holds `value`
 * (membership) or, for `value === null`, that `key` is absent (non-membership). Never throws.
 */
export function verifySparseProof(root: Uint8Array, key: Uint8Array, value: Uint8Array | null, proof: SparseProof | Uint8Array): boolean {
  try {
    if (!(root instanceof Uint8Array) || root.length !== SMT_HASH_BYTES) return false;
    return bytesEqual(sparseRootFromProof(key, value, proof), root);
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------------------
// The tree

/** An immutable sparse Merkle tree; every update returns a new tree sharing structure with the old one. */
export class SparseMerkleTree {
  static readonly EMPTY = new SparseMerkleTree(null);

  private constructor(private readonly top: TreeNode | null) {}

  static empty(): SparseMerkleTree {
    return SparseMerkleTree.EMPTY;
  }

  /** Builds a tree from (key, value) pairs (later pairs override earlier ones with the same key). */
  static from(entries: Iterable<readonly [Uint8Array, Uint8Array]>): SparseMerkleTree {
    let t = SparseMerkleTree.EMPTY;
    for (const [k, v] of entries) t = t.set(k, v);
    return t;
  }

  get root(): Uint8Array {
    return hashOf(this.top, SMT_DEPTH).slice();
  }

  /** Number of keys. */
  get size(): number {
    return this.top?.count ?? 0;
  }

  get(key: Uint8Array): Uint8Array | null {
    checkKey(key);
    let n = this.top;
    let d = 0;
    while (n !== null) {
      if (n.kind === 'leaf') return bytesEqual(n.key, key) ? n.value.slice() : null;
      n = keyBit(key, d) === 1 ? n.right : n.left;
      d++;
    }
    return null;
  }

  has(key: Uint8Array): boolean {
    return this.get(key) !== null;
  }

  /** Insert or update. */
  set(key: Uint8Array, value: Uint8Array): SparseMerkleTree {
    checkKey(key);
    if (!(value instanceof Uint8Array)) throw new TypeError('value must be a Uint8Array');
    const k = key.slice();
    const v = value.slice();
    const top = insertAt(this.top, SMT_DEPTH, k, v, smtLeafHash(k, v));
    return top === this.top ? this : new SparseMerkleTree(top);
  }

  delete(key: Uint8Array): SparseMerkleTree {
    checkKey(key);
    const top = deleteAt(this.top, SMT_DEPTH, key);
    return top === this.top ? this : new SparseMerkleTree(top);
  }

  /** The proof for `key`: of membership if present (with its value), else of non-membership. */
  prove(key: Uint8Array): SparseProof {
    checkKey(key);
    const sib: (Uint8Array | null)[] = new Array<Uint8Array | null>(SMT_DEPTH).fill(null);
    let n = this.top;
    let d = 0;
    while (n !== null) {
      if (n.kind === 'leaf') {
        if (!bytesEqual(n.key, key)) {
          const j = firstDifferingBit(n.key, key, d);
          // The other key's single-key subtree, cut at the depth where the two paths part (j >= d).
          sib[j] = lift(n.key, n.leafHash, 0, SMT_DEPTH - j - 1);
        }
        break;
      }
      const right = keyBit(key, d) === 1;
      const other = right ? n.left : n.right;
      sib[d] = other ? other.hash : null;
      n = right ? n.right : n.left;
      d++;
    }
    return proofFromSiblings(sib);
  }

  /** All (key, value) pairs in key order. */
  *entries(): IterableIterator<[Uint8Array, Uint8Array]> {
    const stack: TreeNode[] = this.top ? [this.top] : [];
    while (stack.length > 0) {
      const n = stack.pop()!;
      if (n.kind === 'leaf') yield [n.key.slice(), n.value.slice()];
      else {
        if (n.right) stack.push(n.right);
        if (n.left) stack.push(n.left);
      }
    }
  }
}

/**
 * Reference root by direct recomputation of the definition (no node sharing, no proofs): for tests and
 * cross-checks. Duplicate keys: the last value wins.
 */
export function sparseRootOf(entries: Iterable<readonly [Uint8Array, Uint8Array]>): Uint8Array {
  const byKey = new Map<string, [Uint8Array, Uint8Array]>();
  for (const [k, v] of entries) {
    checkKey(k);
    byKey.set(Array.from(k, (b) => b.toString(16).padStart(2, '0')).join(''), [k, v]);
  }
  const rec = (items: [Uint8Array, Uint8Array][], d: number): Uint8Array => {
    if (items.length === 0) return EMPTY[SMT_DEPTH - d]!;
    if (d === SMT_DEPTH) return smtLeafHash(items[0]![0], items[0]![1]);
    const l = items.filter(([k]) => keyBit(k, d) === 0);
    const r = items.filter(([k]) => keyBit(k, d) === 1);
    return smtNodeHash(rec(l, d + 1), rec(r, d + 1));
  };
  return rec([...byKey.values()], 0).slice();
}

// ---------------------------------------------------------------------------------------------------------
// Retained versions

/**
 * The last `retain` versions of some state, by a non-decreasing version number (an epoch). `at(v)` is the
 * state of the latest version <= v (a version holds until the next one), or undefined when v is older than
 * the oldest retained version.
 * Dropping a version drops the only reference to its nodes, so memory stays bounded by the live state plus
 * the retained versions.
 */
export class RetainedVersions<T> {
  private readonly items: { version: number; state: T }[] = [];

  constructor(readonly retain: number) {
    if (!Number.isSafeInteger(retain) || retain < 1) throw new RangeError('retain must be a positive integer');
  }

  /** Records `state` as version `version` (replacing the state of that same version if it is the latest). */
  put(version: number, state: T): void {
    if (!Number.isSafeInteger(version)) throw new RangeError('version must be a safe integer');
    const last = this.items[this.items.length - 1];
    if (last && version < last.version) throw new RangeError(`version ${version} is older than the latest (${last.version})`);
    if (last && last.version === version) last.state = state;
    else this.items.push({ version, state });
    while (this.items.length > this.retain) this.items.shift();
  }

  at(version: number): T | undefined {
    for (let i = this.items.length - 1; i >= 0; i--) {
      const it = this.items[i]!;
      if (it.version <= version) return it.state;
    }
    return undefined;
  }

  latest(): T | undefined {
    return this.items[this.items.length - 1]?.state;
  }

  versions(): number[] {
    return this.items.map((i) => i.version);
  }
}
