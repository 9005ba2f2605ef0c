/**
 * An append-only RFC 6962 Merkle log with every complete subtree hash kept (levels[k][i] = hash of the
 * perfect subtree of 2^k leaves starting at leaf i * 2^k). Roots, inclusion proofs and consistency proofs
 * for any past size then cost O(log^2 n) hashes instead of the O(n) of recomputing from the leaves
 * (merkle.ts, the reference the tests compare with; the proof algorithms are merkle-nodes.ts's, over these levels); memory is about two hashes per entry, 64 bytes:
 * each level is a list of fixed-size chunks holding hashes back to back, not one Uint8Array per hash
 * (an object each costs about 100 bytes more in V8, which a 128 MB Durable Object runs out of after a few
 * hundred thousand entries).
 */
import { nodeHash } from './merkle.ts';
import { consistencyProofFrom, inclusionProofFrom, rootFrom } from './merkle-nodes.ts';
import type { NodeReader } from './merkle-nodes.ts';

/** Hashes per chunk: 128 KiB chunks, so growth never copies more than one chunk. */
const CHUNK_HASHES = 4096;
const HASH_BYTES = 32;

/** A growable array of 32-byte hashes stored back to back. */
class HashList {
  private readonly chunks: Uint8Array[] = [];
  length = 0;

  push(h: Uint8Array): void {
    const c = this.length % CHUNK_HASHES;
    if (c === 0) this.chunks.push(new Uint8Array(CHUNK_HASHES * HASH_BYTES));
    this.chunks[this.chunks.length - 1]!.set(h, c * HASH_BYTES);
    this.length++;
  }

  /** A view (valid as long as the list: chunks are never reallocated). */
  get(i: number): Uint8Array | undefined {
    if (i < 0 || i >= this.length) return undefined;
    const off = (i % CHUNK_HASHES) * HASH_BYTES;
    return this.chunks[Math.floor(i / CHUNK_HASHES)]!.subarray(off, off + HASH_BYTES);
  }
}

export class MerkleLog {
  private readonly levels: HashList[] = [new HashList()];

  get size(): number {
    return this.levels[0]!.length;
  }

  /** Appends one leaf hash (merkle.ts leafHash of the entry). */
  append(leaf: Uint8Array): number {
    if (!(leaf instanceof Uint8Array) || leaf.length !== HASH_BYTES) throw new TypeError('a leaf hash is 32 bytes');
    const index = this.size;
    this.levels[0]!.push(leaf);
    // Complete every subtree that this leaf closes.
    let i = index;
    for (let k = 0; i % 2 === 1; k++) {
      const level = this.levels[k]!;
      const h = nodeHash(level.get(i - 1)!, level.get(i)!);
      if (!this.levels[k + 1]) this.levels.push(new HashList());
      this.levels[k + 1]!.push(h);
      i = (i - 1) / 2;
    }
    return index;
  }

  leaf(index: number): Uint8Array {
    const l = this.levels[0]!.get(index);
    if (!l) throw new RangeError(`no leaf ${index} in a log of ${this.size}`);
    return l;
  }

  /** A stored node: the perfect subtree of 2^level leaves at `index`. */
  private readonly get: NodeReader = (level, index) => {
    const h = this.levels[level]?.get(index);
    if (!h) throw new RangeError(`no node ${level}/${index} in a log of ${this.size}`);
    return h;
  };

  root(size = this.size): Uint8Array {
    this.checkSize(size);
    return rootFrom(this.get, size);
  }

  inclusionProof(index: number, size = this.size): Uint8Array[] {
    this.checkSize(size);
    return inclusionProofFrom(this.get, index, size);
  }

  consistencyProof(m: number, n = this.size): Uint8Array[] {
    this.checkSize(n);
    return consistencyProofFrom(this.get, m, n);
  }

  private checkSize(size: number): void {
    if (!Number.isSafeInteger(size) || size < 0 || size > this.size) throw new RangeError(`size ${size} is outside a log of ${this.size}`);
  }
}
