/**
 * What a replica persists, as plain data (the host's I/O-free core, host-core.ts, produces it; the
 * runtime adapters' stores in workers/ write it). Every event's effects go in ONE atomic WriteBatch: the
 * journal entries, the outbox messages they produced, the log entries and checkpoints, the inbox and link
 * bookkeeping; only after it is written may messages leave ("persist before send").
 */
import type { SignedCheckpoint } from '../log/checkpoint.ts';
import { nodeKey } from '../log/merkle-nodes.ts';
import type { NodeKey, StoredNode } from '../log/merkle-nodes.ts';
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

/**
 * A write to an application's key-value state (shared/app/types.ts AppState): `value` null deletes the key.
 * A batch's writes apply in order (the last one to a key wins).
 */
export interface AppStateWrite {
  readonly app: string;
  readonly key: string;
  readonly value: Uint8Array | null;
}

export interface WriteBatch {
  readonly journal: readonly Uint8Array[];
  readonly outbox: readonly StoredOutboxMessage[];
  readonly outboxDelete: readonly { readonly peer: number; readonly ids: readonly number[] }[];
  /**
   * Log entries: each with its request id (the store maps an id to its FIRST index: a request replayed
   * after the engine's de-duplication window takes a new position, and its id keeps naming the first),
   * its epoch, and the answers of the applications whose answers are kept (EngineOptions.keepResponsesOf).
   */
  readonly log: readonly LogAppend[];
  /** Merkle nodes the entries completed (merkle-nodes.ts): written once, never changed. */
  readonly nodes: readonly StoredNode[];
  readonly checkpoints: readonly SignedCheckpoint[];
  /** New inbox state per peer (replaces the stored one). */
  readonly inbox: ReadonlyMap<number, InboxState>;
  /** Small named values (format, next outbox id per peer, link states). */
  readonly meta: ReadonlyMap<string, string>;
  /** Applications' state changes made by executing an epoch (shared/replica/execution.ts). */
  readonly app: readonly AppStateWrite[];
  /**
   * Compaction: the engine's state after this batch's event. The store replaces its snapshot with it and
   * deletes the whole journal (the batch's own `journal` is then empty: the snapshot includes it).
   */
  readonly snapshot?: Uint8Array;
  /**
   * With a snapshot: the parts of the engine's state that do not change once made (one per epoch: the
   * agreed batches kept for laggards, the de-duplication windows), each stored once under its key and
   * deleted when it leaves the state, so a compaction writes what changed since the last one. `put` adds
   * parts, `delete` removes stored ones; both apply with the snapshot, atomically.
   */
  readonly snapshotParts?: SnapshotParts;
}

export interface SnapshotParts {
  readonly put: ReadonlyMap<string, Uint8Array>;
  readonly delete: readonly string[];
}

export interface LoadedState {
  /** The latest snapshot, if any; the journal holds the events after it. */
  readonly snapshot: Uint8Array | null;
  /** The stored snapshot parts (WriteBatch.snapshotParts), by key. */
  readonly snapshotParts: ReadonlyMap<string, Uint8Array>;
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
  /** Its epoch's agreed time (ms since 1970): served with the entry in state transfers. */
  readonly time: number;
  readonly entry: Uint8Array;
}

export type MutableWriteBatch = {
  journal: Uint8Array[];
  outbox: StoredOutboxMessage[];
  outboxDelete: { peer: number; ids: number[] }[];
  log: LogAppend[];
  nodes: StoredNode[];
  checkpoints: SignedCheckpoint[];
  inbox: Map<number, InboxState>;
  meta: Map<string, string>;
  app: AppStateWrite[];
  snapshot?: Uint8Array;
  snapshotParts?: SnapshotParts;
};

export function emptyBatch(): MutableWriteBatch {
  return { journal: [], outbox: [], outboxDelete: [], log: [], nodes: [], checkpoints: [], inbox: new Map(), meta: new Map(), app: [] };
}

export function isEmptyBatch(b: WriteBatch): boolean {
  return b.journal.length + b.outbox.length + b.outboxDelete.length + b.log.length + b.nodes.length + b.checkpoints.length + b.inbox.size + b.meta.size + b.app.length === 0 && !b.snapshot;
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
  /** Request id -> its first log index. */
  readonly ids = new Map<string, number>();
  readonly nodes = new Map<string, Uint8Array>();
  /** Signed checkpoints in epoch order (sizes never decrease along it). */
  readonly checkpoints: SignedCheckpoint[] = [];
  /** Application state: app name -> key -> value. */
  readonly appState = new Map<string, Map<string, Uint8Array>>();
  snapshot: Uint8Array | null = null;
  readonly snapshotParts = new Map<string, Uint8Array>();

  load(): LoadedState {
    return {
      snapshot: this.snapshot,
      snapshotParts: new Map(this.snapshotParts),
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
      for (const k of b.snapshotParts?.delete ?? []) this.snapshotParts.delete(k);
      for (const [k, v] of b.snapshotParts?.put ?? []) this.snapshotParts.set(k, v);
    }
    this.journal.push(...b.journal);
    for (const m of b.outbox) this.outbox.set(`${m.peer}/${m.id}`, m);
    for (const d of b.outboxDelete) for (const id of d.ids) this.outbox.delete(`${d.peer}/${id}`);
    for (const e of b.log) {
      this.log[e.index] = { index: e.index, id: e.id, epoch: e.epoch, time: e.time, entry: e.entry };
      if (!this.ids.has(e.id)) this.ids.set(e.id, e.index);
    }
    for (const n of b.nodes) this.nodes.set(nodeKey(n.level, n.index), n.hash);
    for (const c of b.checkpoints) {
      const last = this.checkpoints[this.checkpoints.length - 1];
      if (last && last.epoch >= c.epoch) continue; // idempotent, like the backends' keyed writes
      this.checkpoints.push(c);
    }
    for (const [p, s] of b.inbox) this.inbox.set(p, s);
    for (const [k, v] of b.meta) this.meta.set(k, v);
    for (const w of b.app) {
      let m = this.appState.get(w.app);
      if (!m) this.appState.set(w.app, (m = new Map()));
      if (w.value === null) m.delete(w.key);
      else m.set(w.key, w.value);
    }
  }

  /** Each key's stored value, null when it has none (what HostCore.execute asks to be read). */
  readAppKeys(keys: readonly { readonly app: string; readonly key: string }[]): { app: string; key: string; value: Uint8Array | null }[] {
    return keys.map((k) => ({ app: k.app, key: k.key, value: this.appState.get(k.app)?.get(k.key) ?? null }));
  }

  /** The values stored under `keys` of application `app` (keys without a value are absent). */
  readAppState(app: string, keys: readonly string[]): Map<string, Uint8Array> {
    const out = new Map<string, Uint8Array>();
    const m = this.appState.get(app);
    if (m) {
      for (const k of keys) {
        const v = m.get(k);
        if (v) out.set(k, v);
      }
    }
    return out;
  }

  entries(start: number, end: number): StoredEntry[] {
    return this.log.slice(start, end);
  }

  indexOfId(id: string): number | undefined {
    return this.ids.get(id);
  }

  indexOfIds(ids: readonly string[]): Map<string, number> {
    const out = new Map<string, number>();
    for (const id of ids) {
      const i = this.ids.get(id);
      if (i !== undefined) out.set(id, i);
    }
    return out;
  }

  readNodes(keys: readonly NodeKey[]): Map<string, Uint8Array> {
    const out = new Map<string, Uint8Array>();
    for (const k of keys) {
      const key = nodeKey(k.level, k.index);
      const h = this.nodes.get(key);
      if (h) out.set(key, h);
    }
    return out;
  }

  /** The earliest signed checkpoint whose tree includes log position `index`. */
  checkpointCovering(index: number): SignedCheckpoint | null {
    return firstCheckpoint(this.checkpoints, (c) => c.size > index);
  }

  /** The earliest signed checkpoint of exactly `size` entries. */
  checkpointAt(size: number): SignedCheckpoint | null {
    const c = firstCheckpoint(this.checkpoints, (x) => x.size >= size);
    return c && c.size === size ? c : null;
  }

  loadLog(): { entries: StoredEntry[]; checkpoints: SignedCheckpoint[] } {
    return { entries: [...this.log], checkpoints: [...this.checkpoints] };
  }

  /** Bytes of everything stored (journal, snapshot, outbox, log), roughly: for the simulator's bounds. */
  sizeBytes(): number {
    let n = this.snapshot?.length ?? 0;
    for (const v of this.snapshotParts.values()) n += v.length;
    for (const j of this.journal) n += j.length;
    for (const m of this.outbox.values()) n += m.bytes.length;
    for (const e of this.log) n += e ? e.entry.length : 0;
    n += this.nodes.size * 32;
    for (const m of this.appState.values()) for (const [k, v] of m) n += k.length + v.length;
    return n;
  }

  clone(): MemoryStorage {
    const c = new MemoryStorage();
    c.journal = [...this.journal];
    for (const [k, v] of this.outbox) c.outbox.set(k, v);
    for (const [k, v] of this.inbox) c.inbox.set(k, v);
    for (const [k, v] of this.meta) c.meta.set(k, v);
    c.log.push(...this.log);
    for (const [k, v] of this.ids) c.ids.set(k, v);
    for (const [k, v] of this.nodes) c.nodes.set(k, v);
    c.checkpoints.push(...this.checkpoints);
    for (const [app, m] of this.appState) c.appState.set(app, new Map(m));
    c.snapshot = this.snapshot;
    for (const [k, v] of this.snapshotParts) c.snapshotParts.set(k, v);
    return c;
  }
}

/** The first checkpoint (in epoch order, sizes non-decreasing) for which `ok` holds, by binary search. */
function firstCheckpoint(list: readonly SignedCheckpoint[], ok: (c: SignedCheckpoint) => boolean): SignedCheckpoint | null {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (ok(list[mid]!)) hi = mid;
    else lo = mid + 1;
  }
  return list[lo] ?? null;
}
