/**
 * What a replica host needs from durable storage (DESIGN.md section 3, "persist before send"). Every
 * event's effects go in ONE atomic `commit`: the journal entry, the outbox messages it produced, the log
 * entries and checkpoints, and the inbox bookkeeping; only after it resolves may messages leave. The
 * Durable Object adapter implements it on SQLite (one transactionSync), the Node adapter on Redis
 * (one MULTI/EXEC), tests in memory.
 */
import type { SignedCheckpoint } from '../../shared/log/checkpoint.ts';
import type { LogAppend } from '../../shared/replica/engine.ts';

export interface StoredOutboxMessage {
  readonly peer: number;
  readonly id: number;
  readonly bytes: Uint8Array;
}

/** Per peer: every message id <= floor was applied, plus the listed ids above it. */
export interface InboxState {
  readonly floor: number;
  readonly above: readonly number[];
}

export interface WriteBatch {
  readonly journal: readonly Uint8Array[];
  readonly outbox: readonly StoredOutboxMessage[];
  readonly outboxDelete: readonly { readonly peer: number; readonly ids: readonly number[] }[];
  readonly log: readonly LogAppend[];
  readonly checkpoints: readonly SignedCheckpoint[];
  /** New inbox state per peer (replaces the stored one). */
  readonly inbox: ReadonlyMap<number, InboxState>;
  /** Small named values (next outbox id per peer, boot counter). */
  readonly meta: ReadonlyMap<string, string>;
  /**
   * Compaction: the engine's state after this batch's event. The store replaces its snapshot with it and
   * deletes the whole journal (the batch's own `journal` is then empty: the snapshot includes it).
   */
  readonly snapshot?: Uint8Array;
}

export interface LoadedState {
  /** The latest snapshot, if any; the journal holds the events after it. */
  readonly snapshot: Uint8Array | null;
  /** Journal entries in order. */
  readonly journal: readonly Uint8Array[];
  readonly outbox: readonly StoredOutboxMessage[];
  readonly inbox: ReadonlyMap<number, InboxState>;
  readonly meta: ReadonlyMap<string, string>;
}

export interface StoredEntry {
  readonly index: number;
  readonly id: string;
  readonly epoch: number;
  readonly entry: Uint8Array;
}

export interface ReplicaStore {
  load(): Promise<LoadedState>;
  commit(batch: WriteBatch): Promise<void>;
  /** The whole log and every signed checkpoint (restoring an engine from a snapshot). */
  loadLog(): Promise<{ entries: StoredEntry[]; checkpoints: SignedCheckpoint[] }>;
  /** Log entries [start, end). */
  entries(start: number, end: number): Promise<StoredEntry[]>;
  /** Bytes used, if the backend can tell (metrics). */
  sizeBytes?(): Promise<number | null>;
}

export function emptyBatch(): {
  journal: Uint8Array[];
  outbox: StoredOutboxMessage[];
  outboxDelete: { peer: number; ids: number[] }[];
  log: LogAppend[];
  checkpoints: SignedCheckpoint[];
  inbox: Map<number, InboxState>;
  meta: Map<string, string>;
} {
  return { journal: [], outbox: [], outboxDelete: [], log: [], checkpoints: [], inbox: new Map(), meta: new Map() };
}

export function isEmptyBatch(b: WriteBatch): boolean {
  return b.journal.length + b.outbox.length + b.outboxDelete.length + b.log.length + b.checkpoints.length + b.inbox.size + b.meta.size === 0;
}

/** In-memory store for tests and the in-process harness; "atomic" trivially. */
export class MemoryStore implements ReplicaStore {
  readonly journal: Uint8Array[] = [];
  readonly outbox = new Map<string, StoredOutboxMessage>();
  readonly inbox = new Map<number, InboxState>();
  readonly meta = new Map<string, string>();
  readonly log: StoredEntry[] = [];
  readonly checkpoints: SignedCheckpoint[] = [];
  snapshot: Uint8Array | null = null;
  /** Set to make the next commit fail (tests of storage errors). */
  failNext = false;

  async load(): Promise<LoadedState> {
    return {
      snapshot: this.snapshot,
      journal: [...this.journal],
      outbox: [...this.outbox.values()].sort((a, b) => a.peer - b.peer || a.id - b.id),
      inbox: new Map(this.inbox),
      meta: new Map(this.meta),
    };
  }

  async commit(b: WriteBatch): Promise<void> {
    if (this.failNext) {
      this.failNext = false;
      throw new Error('storage unavailable (test)');
    }
    if (b.snapshot) {
      this.snapshot = b.snapshot;
      this.journal.length = 0;
    }
    this.journal.push(...b.journal);
    for (const m of b.outbox) this.outbox.set(`${m.peer}/${m.id}`, m);
    for (const d of b.outboxDelete) for (const id of d.ids) this.outbox.delete(`${d.peer}/${id}`);
    for (const e of b.log) this.log[e.index] = { index: e.index, id: e.id, epoch: e.epoch, entry: e.entry };
    this.checkpoints.push(...b.checkpoints);
    for (const [p, s] of b.inbox) this.inbox.set(p, s);
    for (const [k, v] of b.meta) this.meta.set(k, v);
  }

  async entries(start: number, end: number): Promise<StoredEntry[]> {
    return this.log.slice(start, end);
  }

  async loadLog(): Promise<{ entries: StoredEntry[]; checkpoints: SignedCheckpoint[] }> {
    return { entries: [...this.log], checkpoints: [...this.checkpoints] };
  }
}
