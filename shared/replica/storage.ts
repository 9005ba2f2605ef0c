/**
 * What a replica persists, as plain data (the host's I/O-free core, host-core.ts, produces it; the
 * runtime adapters' stores in workers/ write it). Every event's effects go in ONE atomic WriteBatch: the
 * journal entries, the outbox messages they produced, the log entries and checkpoints, the inbox and link
 * bookkeeping; only after it is written may messages leave ("persist before send").
 */
import type { SignedCheckpoint } from '../log/checkpoint.ts';
import type { LogAppend } from './engine.ts';

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
  /** Small named values (format, next outbox id per peer, link states). */
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

export type MutableWriteBatch = {
  journal: Uint8Array[];
  outbox: StoredOutboxMessage[];
  outboxDelete: { peer: number; ids: number[] }[];
  log: LogAppend[];
  checkpoints: SignedCheckpoint[];
  inbox: Map<number, InboxState>;
  meta: Map<string, string>;
  snapshot?: Uint8Array;
};

export function emptyBatch(): MutableWriteBatch {
  return { journal: [], outbox: [], outboxDelete: [], log: [], checkpoints: [], inbox: new Map(), meta: new Map() };
}

export function isEmptyBatch(b: WriteBatch): boolean {
  return b.journal.length + b.outbox.length + b.outboxDelete.length + b.log.length + b.checkpoints.length + b.inbox.size + b.meta.size === 0 && !b.snapshot;
}

/**
 * Storage held in memory, synchronously: the reference semantics of a WriteBatch (what every backend must
 * do with one, atomically), used by the in-memory store of tests and by the whole-replica simulator.
 * `clone()` copies what a backend would have on disk (a simulator's snapshot of storage, e.g. to roll it
 * back as Redis without fsync does).
 */
export class MemoryStorage {
  journal: Uint8Array[] = [];
  readonly outbox = new Map<string, StoredOutboxMessage>();
  readonly inbox = new Map<number, InboxState>();
  readonly meta = new Map<string, string>();
  readonly log: StoredEntry[] = [];
  readonly checkpoints: SignedCheckpoint[] = [];
  snapshot: Uint8Array | null = null;

  load(): LoadedState {
    return {
      snapshot: this.snapshot,
      journal: [...this.journal],
      outbox: [...this.outbox.values()].sort((a, b) => a.peer - b.peer || a.id - b.id),
      inbox: new Map(this.inbox),
      meta: new Map(this.meta),
    };
  }

  commit(b: WriteBatch): void {
    if (b.snapshot) {
      this.snapshot = b.snapshot;
      this.journal = [];
    }
    this.journal.push(...b.journal);
    for (const m of b.outbox) this.outbox.set(`${m.peer}/${m.id}`, m);
    for (const d of b.outboxDelete) for (const id of d.ids) this.outbox.delete(`${d.peer}/${id}`);
    for (const e of b.log) this.log[e.index] = { index: e.index, id: e.id, epoch: e.epoch, entry: e.entry };
    this.checkpoints.push(...b.checkpoints);
    for (const [p, s] of b.inbox) this.inbox.set(p, s);
    for (const [k, v] of b.meta) this.meta.set(k, v);
  }

  entries(start: number, end: number): StoredEntry[] {
    return this.log.slice(start, end);
  }

  loadLog(): { entries: StoredEntry[]; checkpoints: SignedCheckpoint[] } {
    return { entries: [...this.log], checkpoints: [...this.checkpoints] };
  }

  /** Bytes of everything stored (journal, snapshot, outbox, log), roughly: for the simulator's bounds. */
  sizeBytes(): number {
    let n = this.snapshot?.length ?? 0;
    for (const j of this.journal) n += j.length;
    for (const m of this.outbox.values()) n += m.bytes.length;
    for (const e of this.log) n += e ? e.entry.length : 0;
    return n;
  }

  clone(): MemoryStorage {
    const c = new MemoryStorage();
    c.journal = [...this.journal];
    for (const [k, v] of this.outbox) c.outbox.set(k, v);
    for (const [k, v] of this.inbox) c.inbox.set(k, v);
    for (const [k, v] of this.meta) c.meta.set(k, v);
    c.log.push(...this.log);
    c.checkpoints.push(...this.checkpoints);
    c.snapshot = this.snapshot;
    return c;
  }
}
