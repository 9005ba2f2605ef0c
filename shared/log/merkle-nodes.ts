/**
 * An RFC 6962 tree kept in storage, not in memory: its append-only state is the frontier (the hashes of the
 * perfect subtrees along the right edge, one per set bit of the size: O(log n)), and every perfect,
 * aligned subtree hash is written once to storage as a node (level k, index i: the subtree of 2^k leaves
 * starting at leaf i * 2^k). Roots, inclusion proofs and consistency proofs for any size up to the
 * current one need only such nodes (RFC 6962 section 2.1 splits every range at a power of two, so the left
 * part is always perfect and aligned, and the right part decomposes into perfect aligned subtrees).
 *
 * The proof functions are written once over a synchronous node reader; a caller whose storage is
 * asynchronous first asks `nodesNeeded` which nodes a computation reads (its shape depends on the
 * sizes only, never on hash values), fetches them, and runs the same function over what it fetched.
 */
import { EMPTY_ROOT, nodeHash } from './merkle.ts';
import { fromHex, toHex } from '../crypto/bytes.ts';

export const HASH_BYTES = 32;

/** A perfect, aligned subtree: 2^level leaves starting at leaf index * 2^level. */
export interface NodeKey {
  readonly level: number;
  readonly index: number;
}

export interface StoredNode extends NodeKey {
  readonly hash: Uint8Array;
}

/** Reads a stored node; throws if storage lacks it (a computation only asks for nodes that exist). */
export type NodeReader = (level: number, index: number) => Uint8Array;

/** The key under which stores keep a node ("level/index"). */
export function nodeKey(level: number, index: number): string {
  return `${level}/${index}`;
}

function largestPowerOfTwoBelow(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** MTH of leaves [lo, hi) of a tree whose perfect aligned subtrees `get` reads. */
function range(get: NodeReader, lo: number, hi: number): Uint8Array {
  const n = hi - lo;
  if (n === 0) return EMPTY_ROOT;
  if ((n & (n - 1)) === 0 && lo % n === 0) return get(Math.log2(n), lo / n);
  const k = largestPowerOfTwoBelow(n);
  return nodeHash(range(get, lo, lo + k), range(get, lo + k, hi));
}

function checkSize(size: number): void {
  if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`tree size ${size} is not a non-negative integer`);
}

/** The root of the tree's first `size` leaves. */
export function rootFrom(get: NodeReader, size: number): Uint8Array {
  checkSize(size);
  return range(get, 0, size);
}

/** RFC 6962 PATH(index, D[0:size]). */
export function inclusionProofFrom(get: NodeReader, index: number, size: number): Uint8Array[] {
  checkSize(size);
  if (!Number.isSafeInteger(index) || index < 0 || index >= size) throw new RangeError(`leaf ${index} is outside a tree of ${size}`);
  const out: Uint8Array[] = [];
  const path = (m: number, lo: number, hi: number): void => {
    const n = hi - lo;
    if (n <= 1) return;
    const k = largestPowerOfTwoBelow(n);
    if (m - lo < k) {
      path(m, lo, lo + k);
      out.push(range(get, lo + k, hi));
    } else {
      path(m, lo + k, hi);
      out.push(range(get, lo, lo + k));
    }
  };
  path(index, 0, size);
  return out;
}

/** RFC 6962 PROOF(m, D[0:n]). */
export function consistencyProofFrom(get: NodeReader, m: number, n: number): Uint8Array[] {
  checkSize(n);
  if (!Number.isSafeInteger(m) || m < 0 || m > n) throw new RangeError(`sizes ${m} and ${n} are not a range of this log`);
  if (m === 0 || m === n) return [];
  const out: Uint8Array[] = [];
  const sub = (m2: number, lo: number, hi: number, complete: boolean): void => {
    const size = hi - lo;
    if (m2 === size) {
      if (!complete) out.push(range(get, lo, hi));
      return;
    }
    const k = largestPowerOfTwoBelow(size);
    if (m2 <= k) {
      sub(m2, lo, lo + k, complete);
      out.push(range(get, lo + k, hi));
    } else {
      sub(m2 - k, lo + k, hi, false);
      out.push(range(get, lo, lo + k));
    }
  };
  sub(m, 0, n, true);
  return out;
}

const ZERO = new Uint8Array(HASH_BYTES);

/** The nodes `compute` reads (run over a reader that records keys and returns placeholder hashes). */
export function nodesNeeded(compute: (get: NodeReader) => unknown): NodeKey[] {
  const seen = new Map<string, NodeKey>();
  compute((level, index) => {
    seen.set(nodeKey(level, index), { level, index });
    return ZERO;
  });
  return [...seen.values()];
}

/** A reader over fetched nodes (keyed by nodeKey); a missing node is a storage error, said as such. */
export function readerOf(nodes: ReadonlyMap<string, Uint8Array>): NodeReader {
  return (level, index) => {
    const h = nodes.get(nodeKey(level, index));
    if (!h) throw new Error(`storage lacks Merkle node ${nodeKey(level, index)}`);
    return h;
  };
}

/**
 * The right edge of the tree: what appending needs. `append` returns the nodes that the new leaf
 * completes (the leaf itself at level 0, then each subtree it closes), which the caller writes to storage
 * with the entry.
 */
export class MerkleFrontier {
  /** Perfect subtrees along the right edge, largest (leftmost) first: one per set bit of size. */
  private readonly edge: StoredNode[] = [];
  private size_ = 0;

  get size(): number {
    return this.size_;
  }

  append(leaf: Uint8Array): { index: number; nodes: StoredNode[] } {
    if (!(leaf instanceof Uint8Array) || leaf.length !== HASH_BYTES) throw new TypeError('a leaf hash is 32 bytes');
    const index = this.size_;
    let node: StoredNode = { level: 0, index, hash: leaf };
    const nodes = [node];
    for (let top = this.edge[this.edge.length - 1]; top && top.level === node.level; top = this.edge[this.edge.length - 1]) {
      this.edge.pop();
      node = { level: node.level + 1, index: top.index / 2, hash: nodeHash(top.hash, node.hash) };
      nodes.push(node);
    }
    this.edge.push(node);
    this.size_++;
    return { index, nodes };
  }

  root(): Uint8Array {
    if (this.edge.length === 0) return EMPTY_ROOT;
    let h = this.edge[this.edge.length - 1]!.hash;
    for (let i = this.edge.length - 2; i >= 0; i--) h = nodeHash(this.edge[i]!.hash, h);
    return h;
  }

  /** The edge as hex hashes (largest subtree first); with the size, that is the whole state. */
  toJSON(): { size: number; edge: string[] } {
    return { size: this.size_, edge: this.edge.map((n) => toHex(n.hash)) };
  }

  static fromJSON(j: { size: number; edge: string[] }): MerkleFrontier {
    const f = new MerkleFrontier();
    if (!Number.isSafeInteger(j.size) || j.size < 0) throw new RangeError(`frontier size ${String(j.size)}`);
    let start = 0;
    const levels: number[] = [];
    for (let bit = 52; bit >= 0; bit--) if (Math.floor(j.size / 2 ** bit) % 2 === 1) levels.push(bit);
    if (levels.length !== j.edge.length) throw new RangeError(`a tree of ${j.size} leaves has ${levels.length} edge subtrees, not ${j.edge.length}`);
    levels.forEach((level, k) => {
      const hash = fromHex(j.edge[k]!);
      if (hash.length !== HASH_BYTES) throw new RangeError('an edge hash is 32 bytes');
      f.edge.push({ level, index: start / 2 ** level, hash });
      start += 2 ** level;
    });
    f.size_ = j.size;
    return f;
  }
}
