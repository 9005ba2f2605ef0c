/**
 * Queries about the log's past, answered from storage (the engine keeps no history: engine.ts): a
 * request's status and position, receipts (inclusion proofs under the earliest signed checkpoint that
 * covers the entry), and consistency proofs between two sizes. Each reads only what it needs: an index
 * lookup, one entry, one checkpoint, and the O(log^2 n) Merkle nodes of a proof (merkle-nodes.ts).
 */
import type { Receipt, SignedCheckpoint } from '../log/checkpoint.ts';
import { consistencyProofFrom, inclusionProofFrom, nodesNeeded, readerOf } from '../log/merkle-nodes.ts';
import type { NodeKey, NodeReader } from '../log/merkle-nodes.ts';
import type { ReplicaEngine } from './engine.ts';
import type { StoredEntry } from './storage.ts';

/** What the history queries read (every backend's store; MemoryStore in workers/core/store.ts for tests). */
export interface HistoryReader {
  /** The first log index of each of these request ids that storage has (one read for all: a submit of a
   * thousand requests must not be a thousand round trips to Redis). */
  indexOfIds(ids: readonly string[]): Promise<Map<string, number>>;
  /** Log entries [start, end). */
  entries(start: number, end: number): Promise<StoredEntry[]>;
  /** The stored Merkle nodes among `keys`, by nodeKey (missing ones are absent). */
  readNodes(keys: readonly NodeKey[]): Promise<Map<string, Uint8Array>>;
  /** The earliest signed checkpoint whose tree includes position `index`. */
  checkpointCovering(index: number): Promise<SignedCheckpoint | null>;
  /** The earliest signed checkpoint of exactly `size` entries. */
  checkpointAt(size: number): Promise<SignedCheckpoint | null>;
  /**
   * The values stored under `keys` in application `app`'s state (shared/app/types.ts AppState; keys
   * without a value are absent from the map). One read for all keys.
   */
  readAppState(app: string, keys: readonly string[]): Promise<Map<string, Uint8Array>>;
}

/**
 * A request's status by id (RequestStatus in host-core.ts). For an encrypted request the id is its
 * ciphertext's: 'pending', 'decrypting', then its plaintext's status with `plaintextId`, or 'skipped'.
 */
export type RequestStatus =
  | { readonly id: string; readonly status: 'pending' | 'decrypting' | 'skipped' }
  | {
      readonly id: string;
      readonly status: 'ordered' | 'certified';
      readonly index: number;
      readonly epoch: number;
      readonly checkpoint: SignedCheckpoint | null;
      /** Set when `id` names a ciphertext: the id of its plaintext, the log entry. */
      readonly plaintextId?: string;
    };

/** Reads `keys` and checks that storage had every one (a missing node is lost storage, not a bad query). */
async function reader(h: HistoryReader, keys: readonly NodeKey[]): Promise<NodeReader> {
  return readerOf(await h.readNodes(keys));
}

/** The log position of a request by its own id (recent epochs from the engine, older ones from storage). */
export async function entryIndexOf(engine: ReplicaEngine, h: HistoryReader, id: string): Promise<number | undefined> {
  const index = engine.recentIndexOf(id) ?? (await h.indexOfIds([id])).get(id);
  // Storage may be a write ahead of this engine (a commit not applied yet): not in this log yet.
  return index !== undefined && index < engine.log.size ? index : undefined;
}

/** The log position of a request (its id, or an encrypted request's ciphertext id), if it has one. */
export async function logIndexOf(engine: ReplicaEngine, h: HistoryReader, id: string): Promise<{ index: number; plaintextId?: string } | undefined> {
  const index = await entryIndexOf(engine, h, id);
  if (index !== undefined) return { index };
  const o = engine.ciphertextOutcome(id);
  return o?.state === 'delivered' ? { index: o.index, plaintextId: o.plaintextId } : undefined;
}

/** `submitted`: this replica took the request (its queue may have passed it on already). */
export async function requestStatus(engine: ReplicaEngine, h: HistoryReader, id: string, submitted: boolean): Promise<RequestStatus | null> {
  const at = await logIndexOf(engine, h, id);
  if (!at) {
    const o = engine.ciphertextOutcome(id);
    if (o?.state === 'skipped' || o?.state === 'decrypting') return { id, status: o.state };
    return submitted || engine.isPending(id) ? { id, status: 'pending' } : null;
  }
  const [entry] = await h.entries(at.index, at.index + 1);
  if (!entry) throw new Error(`log entry ${at.index} is missing from storage`);
  const checkpoint = await h.checkpointCovering(at.index);
  return {
    id,
    status: checkpoint ? 'certified' : 'ordered',
    index: at.index,
    epoch: entry.epoch,
    checkpoint,
    ...(at.plaintextId ? { plaintextId: at.plaintextId } : {}),
  };
}

/** The receipt of the entry at `index`, once a signed checkpoint covers it (null before, or past the log). */
export async function receiptAt(engine: ReplicaEngine, h: HistoryReader, index: number): Promise<Receipt | null> {
  if (!Number.isSafeInteger(index) || index < 0 || index >= engine.log.size) return null;
  const checkpoint = await h.checkpointCovering(index);
  if (!checkpoint) return null;
  const [e] = await h.entries(index, index + 1);
  if (!e) throw new Error(`log entry ${index} is missing from storage`);
  const compute = (get: NodeReader) => inclusionProofFrom(get, index, checkpoint.size);
  return { entry: e.entry, index, proof: compute(await reader(h, nodesNeeded(compute))), checkpoint };
}

/** RFC 6962 consistency proof from size m to size n (both at most the log's size). */
export async function consistencyProof(engine: ReplicaEngine, h: HistoryReader, m: number, n: number): Promise<Uint8Array[]> {
  if (!Number.isSafeInteger(n) || n > engine.log.size) throw new RangeError(`size ${n} is outside a log of ${engine.log.size}`);
  const compute = (get: NodeReader) => consistencyProofFrom(get, m, n);
  return compute(await reader(h, nodesNeeded(compute)));
}
