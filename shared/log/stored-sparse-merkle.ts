/**
 * The sparse Merkle tree of sparse-merkle.ts (same hashes, same roots, same proofs) with its nodes in a
 * key-value store instead of in memory, so that the CA directory's state can live in a replica's storage
 * and a replica holds only the nodes it is reading or has just written.
 *
 * Shape: as in memory, a subtree holding one key is one leaf node (key, value) whatever its height, and a
 * subtree with two or more keys is a branch with two children; the hash of a leaf node at height h is the
 * leaf hash lifted through h levels of empty siblings (sparse-merkle.ts `lift`). Nodes are immutable and
 * named by the version (an epoch) that created them and their hash: the storage key is
 * `u64(version) ‖ hash` in hex. A parent refers to a child by (version, hash), so a version of the tree is
 * its root reference, any retained version stays readable, and a node written again later (a key set back
 * to an old value) is a new record that pruning an old one cannot break (the Jellyfish Merkle tree's rule,
 * Gao et al., "Jellyfish Merkle Tree", Diem 2021, section 3: version in the node key, stale-node index).
 *
 * Reads are synchronous against a `SmtNodeSource`; a node that is not loaded raises `SmtNodeMissing`
 * naming it. A host whose storage is asynchronous asks `smtMissing` for the nodes a set of keys needs,
 * loads them (one batch per tree level), and runs the operation once nothing is missing.
 *
 * Updates (`smtUpdate`) take a batch of sets and deletions at one version and return the new root, the
 * records to put, and the storage keys of the records the new version no longer references (`stale`):
 * keep them while an older version that uses them is retained, then delete them.
 *
 * Stored node encoding (exact bytes):
 *   leaf:   0x00 ‖ key (32) ‖ value
 *   branch: 0x01 ‖ present (1 byte: 0x01 left, 0x02 right, or both) ‖ for each present child, left first:
 *           u64(version) ‖ hash (32)
 * A branch has two non-empty children or one non-empty child that is itself a branch (a single key is
 * always one leaf node, lifted).
 */
import { bytesEqual, toHex } from '../crypto/bytes.ts';
import { emptyHash, firstDifferingBit, keyBit, lift, proofFromSiblings, smtLeafHash, smtNodeHash, SMT_DEPTH, SMT_HASH_BYTES, SMT_KEY_BYTES } from './sparse-merkle.ts';
import type { SparseProof } from './sparse-merkle.ts';

const EMPTY: readonly Uint8Array[] = Array.from({ length: SMT_DEPTH + 1 }, (_, h) => emptyHash(h));
const LEAF = 0x00;
const BRANCH = 0x01;

/** A stored node: the version that wrote it and its hash at its height. */
export interface SmtNodeRef {
  readonly version: number;
  readonly hash: Uint8Array;
}

/** What the tree reads: a record by storage key, or undefined when it is not loaded (or does not exist). */
export interface SmtNodeSource {
  get(storageKey: string): Uint8Array | undefined;
}

/** A read needed a node that the source does not have: load it and run the operation again. */
export class SmtNodeMissing extends Error {
  override readonly name = 'SmtNodeMissing';
  constructor(readonly storageKey: string) {
    super(`sparse Merkle node ${storageKey} is not loaded`);
  }
}

/** The stored records were not a tree this module wrote (corrupt storage): never a protocol input. */
export class SmtStorageError extends Error {
  override readonly name = 'SmtStorageError';
}

export interface SmtUpdate {
  /** The new version's root (null: the empty tree). */
  readonly root: SmtNodeRef | null;
  /** Records to write: storage key -> encoded node. */
  readonly put: ReadonlyMap<string, Uint8Array>;
  /** Storage keys of records the old root referenced and the new one does not. */
  readonly stale: readonly string[];
}

export function smtStorageKey(ref: SmtNodeRef): string {
  if (!Number.isSafeInteger(ref.version) || ref.version < 0) throw new RangeError('node version must be a non-negative safe integer');
  return ref.version.toString(16).padStart(16, '0') + toHex(ref.hash);
}

/** The root hash of a version (the empty tree's for null). */
export function smtRootHash(root: SmtNodeRef | null): Uint8Array {
  return (root ? root.hash : EMPTY[SMT_DEPTH]!).slice();
}

type Node = { readonly kind: 'leaf'; readonly key: Uint8Array; readonly value: Uint8Array } | { readonly kind: 'branch'; readonly left: SmtNodeRef | null; readonly right: SmtNodeRef | null };

function u64(n: number): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(n));
  return b;
}

export function encodeSmtNode(n: Node): Uint8Array {
  if (n.kind === 'leaf') {
    const out = new Uint8Array(1 + SMT_KEY_BYTES + n.value.length);
    out[0] = LEAF;
    out.set(n.key, 1);
    out.set(n.value, 1 + SMT_KEY_BYTES);
    return out;
  }
  const kids = [n.left, n.right].filter((c): c is SmtNodeRef => c !== null);
  const out = new Uint8Array(2 + kids.length * (8 + SMT_HASH_BYTES));
  out[0] = BRANCH;
  out[1] = (n.left ? 1 : 0) | (n.right ? 2 : 0);
  kids.forEach((c, i) => {
    out.set(u64(c.version), 2 + i * 40);
    out.set(c.hash, 10 + i * 40);
  });
  return out;
}

export function decodeSmtNode(b: Uint8Array): Node {
  if (!(b instanceof Uint8Array) || b.length < 2) throw new SmtStorageError('sparse Merkle node: too short');
  if (b[0] === LEAF) {
    if (b.length < 1 + SMT_KEY_BYTES) throw new SmtStorageError('sparse Merkle leaf: too short');
    return { kind: 'leaf', key: b.slice(1, 1 + SMT_KEY_BYTES), value: b.slice(1 + SMT_KEY_BYTES) };
  }
  if (b[0] !== BRANCH || b[1] === 0 || b[1]! > 3) throw new SmtStorageError('sparse Merkle node: unknown kind');
  const count = b[1] === 3 ? 2 : 1;
  if (b.length !== 2 + count * 40) throw new SmtStorageError('sparse Merkle branch: wrong length');
  const ref = (i: number): SmtNodeRef => {
    const version = Number(new DataView(b.buffer, b.byteOffset + 2 + i * 40, 8).getBigUint64(0));
    if (!Number.isSafeInteger(version)) throw new SmtStorageError('sparse Merkle branch: version out of range');
    return { version, hash: b.slice(10 + i * 40, 42 + i * 40) };
  };
  const first = ref(0);
  if (b[1] === 1) return { kind: 'branch', left: first, right: null };
  if (b[1] === 2) return { kind: 'branch', left: null, right: first };
  return { kind: 'branch', left: first, right: ref(1) };
}

function checkKey(key: Uint8Array): void {
  if (!(key instanceof Uint8Array) || key.length !== SMT_KEY_BYTES) throw new RangeError('sparse Merkle key must be 32 bytes');
}

/** Reads nodes through the source, and through the records an update in progress wrote. */
class Reader {
  constructor(
    private readonly source: SmtNodeSource,
    private readonly written?: Map<string, Uint8Array>,
  ) {}

  node(ref: SmtNodeRef): Node {
    const k = smtStorageKey(ref);
    const b = this.written?.get(k) ?? this.source.get(k);
    if (b === undefined) throw new SmtNodeMissing(k);
    return decodeSmtNode(b);
  }
}

/** The value under `key` in the version with root `root`, or null. */
export function smtGet(source: SmtNodeSource, root: SmtNodeRef | null, key: Uint8Array): Uint8Array | null {
  checkKey(key);
  const r = new Reader(source);
  let ref = root;
  for (let d = 0; ref !== null; d++) {
    const n = r.node(ref);
    if (n.kind === 'leaf') return bytesEqual(n.key, key) ? n.value : null;
    ref = keyBit(key, d) === 1 ? n.right : n.left;
  }
  return null;
}

/** The proof for `key` in that version (sparse-merkle.ts format): membership if present, else absence. */
export function smtProve(source: SmtNodeSource, root: SmtNodeRef | null, key: Uint8Array): SparseProof {
  checkKey(key);
  const r = new Reader(source);
  const sib: (Uint8Array | null)[] = new Array<Uint8Array | null>(SMT_DEPTH).fill(null);
  let ref = root;
  for (let d = 0; ref !== null; d++) {
    const n = r.node(ref);
    if (n.kind === 'leaf') {
      if (!bytesEqual(n.key, key)) {
        // The other key's single-key subtree, cut at the depth where the two paths part.
        const j = firstDifferingBit(n.key, key, d);
        sib[j] = lift(n.key, smtLeafHash(n.key, n.value), 0, SMT_DEPTH - j - 1);
      }
      break;
    }
    const right = keyBit(key, d) === 1;
    const other = right ? n.left : n.right;
    sib[d] = other ? other.hash : null;
    ref = right ? n.right : n.left;
  }
  return proofFromSiblings(sib);
}

/**
 * The storage keys of the nodes that reading or updating `keys` in that version needs and `source` does
 * not have: on each key's path, the first node not loaded (its children are known only once it is). Load
 * them and ask again until the answer is empty; a path among n keys is about log2(n) + 1 nodes deep. A
 * deletion (`deleting`) also reads the siblings along the path (a subtree left with one key is lifted).
 */
export function smtMissing(source: SmtNodeSource, root: SmtNodeRef | null, keys: readonly Uint8Array[], deleting = false): string[] {
  const missing = new Set<string>();
  const loaded = (ref: SmtNodeRef): Node | null => {
    const k = smtStorageKey(ref);
    const b = source.get(k);
    if (b === undefined) {
      missing.add(k);
      return null;
    }
    return decodeSmtNode(b);
  };
  for (const key of keys) {
    checkKey(key);
    let ref = root;
    for (let d = 0; ref !== null; d++) {
      const n = loaded(ref);
      if (n === null || n.kind === 'leaf') break;
      const right = keyBit(key, d) === 1;
      const other = right ? n.left : n.right;
      if (deleting && other !== null) loaded(other);
      ref = right ? n.right : n.left;
    }
  }
  return [...missing];
}

/**
 * Applies `changes` in order (value null: delete the key) to the version with root `root`, writing every
 * new node at `version` (at least the version of any node it replaces). Throws SmtNodeMissing if a node on
 * a changed path is not loaded (smtMissing says which).
 */
export function smtUpdate(source: SmtNodeSource, root: SmtNodeRef | null, version: number, changes: readonly (readonly [Uint8Array, Uint8Array | null])[]): SmtUpdate {
  if (!Number.isSafeInteger(version) || version < 0) throw new RangeError('version must be a non-negative safe integer');
  const written = new Map<string, Uint8Array>();
  const stale = new Set<string>();
  const r = new Reader(source, written);

  /** A node of the version being built: written now, or replaced (stale unless written by this update). */
  const drop = (ref: SmtNodeRef): void => {
    const k = smtStorageKey(ref);
    if (written.has(k)) written.delete(k);
    else stale.add(k);
  };
  const write = (n: Node, hash: Uint8Array): SmtNodeRef => {
    const ref = { version, hash };
    written.set(smtStorageKey(ref), encodeSmtNode(n));
    return ref;
  };
  const leaf = (key: Uint8Array, value: Uint8Array, height: number): SmtNodeRef => write({ kind: 'leaf', key, value }, lift(key, smtLeafHash(key, value), 0, height));
  const hashOf = (ref: SmtNodeRef | null, height: number): Uint8Array => (ref ? ref.hash : EMPTY[height]!);
  const branch = (height: number, left: SmtNodeRef | null, right: SmtNodeRef | null): SmtNodeRef =>
    write({ kind: 'branch', left, right }, smtNodeHash(hashOf(left, height - 1), hashOf(right, height - 1)));

  const insert = (ref: SmtNodeRef | null, height: number, key: Uint8Array, value: Uint8Array): SmtNodeRef => {
    if (ref === null) return leaf(key, value, height);
    const n = r.node(ref);
    if (n.kind === 'leaf') {
      if (bytesEqual(n.key, key)) {
        if (bytesEqual(n.value, value)) return ref;
        drop(ref);
        return leaf(key, value, height);
      }
      drop(ref);
      // Two single-key subtrees under the depth where the keys part, then single-child branches up.
      const d0 = SMT_DEPTH - height;
      const j = firstDifferingBit(n.key, key, d0);
      const h = SMT_DEPTH - j - 1;
      const a = leaf(n.key, n.value, h);
      const b = leaf(key, value, h);
      let top = keyBit(key, j) === 1 ? branch(h + 1, a, b) : branch(h + 1, b, a);
      for (let d = j - 1; d >= d0; d--) top = keyBit(key, d) === 1 ? branch(SMT_DEPTH - d, null, top) : branch(SMT_DEPTH - d, top, null);
      return top;
    }
    const d = SMT_DEPTH - height;
    if (keyBit(key, d) === 1) {
      const nr = insert(n.right, height - 1, key, value);
      if (nr === n.right) return ref;
      drop(ref);
      return branch(height, n.left, nr);
    }
    const nl = insert(n.left, height - 1, key, value);
    if (nl === n.left) return ref;
    drop(ref);
    return branch(height, nl, n.right);
  };

  /** The single-key node `ref` (a leaf) lifted to `height`. */
  const relift = (ref: SmtNodeRef, height: number): SmtNodeRef => {
    const n = r.node(ref);
    if (n.kind !== 'leaf') throw new SmtStorageError('sparse Merkle tree: expected a leaf node');
    drop(ref);
    return leaf(n.key, n.value, height);
  };

  const remove = (ref: SmtNodeRef | null, height: number, key: Uint8Array): SmtNodeRef | null => {
    if (ref === null) return null;
    const n = r.node(ref);
    if (n.kind === 'leaf') {
      if (!bytesEqual(n.key, key)) return ref;
      drop(ref);
      return null;
    }
    const d = SMT_DEPTH - height;
    const right = keyBit(key, d) === 1;
    const child = right ? n.right : n.left;
    const nc = remove(child, height - 1, key);
    if (nc === child) return ref;
    drop(ref);
    const [l, rr] = right ? [n.left, nc] : [nc, n.right];
    // A subtree left with one key becomes one leaf node again (the canonical shape).
    const only = l === null ? rr : rr === null ? l : undefined;
    if (only === null) return null;
    if (only !== undefined && r.node(only).kind === 'leaf') return relift(only, height);
    return branch(height, l, rr);
  };

  let top = root;
  for (const [key, value] of changes) {
    checkKey(key);
    if (value === null) top = remove(top, SMT_DEPTH, key);
    else {
      if (!(value instanceof Uint8Array)) throw new TypeError('value must be a Uint8Array or null');
      top = insert(top, SMT_DEPTH, key.slice(), value.slice());
    }
  }
  // A node dropped and written again within this update (same version, same hash) is live.
  for (const k of written.keys()) stale.delete(k);
  return { root: top, put: written, stale: [...stale] };
}
