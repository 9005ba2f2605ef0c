/**
 * What a replica host needs from durable storage (docs/design.md section 8, "persist before send"). Every
 * event's effects go in ONE atomic `commit`: the journal entry, the outbox messages it produced, the log
 * entries and checkpoints, and the inbox bookkeeping; only after it resolves may messages leave. The
 * Durable Object adapter implements it on SQLite (one transactionSync), the Node adapter on Redis
 * (one MULTI/EXEC), tests in memory.
 */
import type { SignedCheckpoint } from '../../shared/log/checkpoint.ts';
import type { LoadedState, StoredEntry, WriteBatch } from '../../shared/replica/storage.ts';
import type { HistoryReader } from '../../shared/replica/history.ts';
import type { NodeKey } from '../../shared/log/merkle-nodes.ts';

export type { InboxState, LoadedState, StoredEntry, StoredOutboxMessage, WriteBatch } from '../../shared/replica/storage.ts';
export { emptyBatch, isEmptyBatch } from '../../shared/replica/storage.ts';
import { MemoryStorage } from '../../shared/replica/storage.ts';

/**
 * The history queries (history.ts: request ids to positions, entries, Merkle nodes, checkpoints by size)
 * read storage directly: the engine keeps no history.
 */
export interface ReplicaStore extends HistoryReader {
  load(): Promise<LoadedState>;
  commit(batch: WriteBatch): Promise<void>;
  /** The whole log and every signed checkpoint, in memory (tests and tools: a replica never loads it). */
  loadLog(): Promise<{ entries: StoredEntry[]; checkpoints: SignedCheckpoint[] }>;
  /** Bytes used, if the backend can tell (metrics). */
  sizeBytes?(): Promise<number | null>;
}

/** In-memory store for tests and the in-process harness (MemoryStorage behind the async interface). */
export class MemoryStore implements ReplicaStore {
  readonly storage = new MemoryStorage();
  /** Set to make the next commit fail (tests of storage errors). */
  failNext = false;

  get journal(): readonly Uint8Array[] {
    return this.storage.journal;
  }

  get snapshot(): Uint8Array | null {
    return this.storage.snapshot;
  }

  get meta(): Map<string, string> {
    return this.storage.meta;
  }

  get log(): readonly StoredEntry[] {
    return this.storage.log;
  }

  async load(): Promise<LoadedState> {
    return this.storage.load();
  }

  async commit(b: WriteBatch): Promise<void> {
    if (this.failNext) {
      this.failNext = false;
      throw new Error('storage unavailable (test)');
    }
    this.storage.commit(b);
  }

  async entries(start: number, end: number): Promise<StoredEntry[]> {
    return this.storage.entries(start, end);
  }

  async loadLog(): Promise<{ entries: StoredEntry[]; checkpoints: SignedCheckpoint[] }> {
    return this.storage.loadLog();
  }

  async indexOfIds(ids: readonly string[]): Promise<Map<string, number>> {
    return this.storage.indexOfIds(ids);
  }

  async readNodes(keys: readonly NodeKey[]): Promise<Map<string, Uint8Array>> {
    return this.storage.readNodes(keys);
  }

  async checkpointCovering(index: number): Promise<SignedCheckpoint | null> {
    return this.storage.checkpointCovering(index);
  }

  async checkpointAt(size: number): Promise<SignedCheckpoint | null> {
    return this.storage.checkpointAt(size);
  }

  async readAppState(app: string, keys: readonly string[]): Promise<Map<string, Uint8Array>> {
    return this.storage.readAppState(app, keys);
  }
}
