/**
 * ReplicaStore on SQLite, written once for both runtimes that have a synchronous SQLite: a SQLite-backed
 * Durable Object (ctx.storage.sql, workers/cloudflare) and a Node replica's data folder (better-sqlite3,
 * workers/node/sqlite-store.ts); each passes its database as a SqlBackend. Every commit is one
 * transactionSync, so an event's journal entry, outbox messages, log entries, checkpoints, link state and
 * the applications' state changes become durable together or not at all (persist before send,
 * docs/design.md section 8); the Durable Object's output gate additionally holds responses and outgoing
 * fetches until the write is confirmed.
 *
 * A snapshot is the engine's main state (table `snapshot`, one row) and its parts (WriteBatch.snapshotParts:
 * table `snapshot_parts`, one row per key, each written once and deleted when it leaves the state); a
 * snapshot commit replaces the first, puts and deletes the second and empties the journal, all in its one
 * transaction.
 *
 * Durable Object SQLite refuses any value over 2 MB (SQLITE_TOOBIG), and a snapshot (atomic broadcast's
 * queue), a snapshot part (an epoch's kept batch) or a message carrying a whole batch can be bigger. Such
 * values are spilled: their bytes go to the `spill` table in parts of SPILL_PART bytes under a key, in the
 * same transaction, and the row holds a reference (0xFF + the key); replacing or deleting the row deletes
 * its spilled parts. No journal event (first byte 1-4), wire message (codec version 1), snapshot or snapshot
 * part (UTF-8 JSON) starts with 0xFF, and a value that did would be spilled whatever its size, so a
 * reference is never mistaken for a value. Application state (`app_state`) is never spilled, so its values
 * may start with any byte: they are one key's record, far below the limit (one over 2 MB would fail its
 * whole commit, never half of it).
 */
import type { SignedCheckpoint } from '../../shared/log/checkpoint.ts';
import { nodeKey } from '../../shared/log/merkle-nodes.ts';
import type { NodeKey } from '../../shared/log/merkle-nodes.ts';
import type { InboxState, LoadedState, ReplicaStore, StoredEntry, StoredOutboxMessage, WriteBatch } from './store.ts';

/** A column value as both runtimes return it (BLOBs: ArrayBuffer in workerd, Buffer in Node). */
export type SqlValue = ArrayBuffer | Uint8Array | string | number | null;

/** The part of Durable Object storage that SqlStore uses; DurableObjectStorage has this shape. */
export interface SqlBackend {
  readonly sql: {
    exec(query: string, ...bindings: (ArrayBuffer | string | number | null)[]): { toArray(): Record<string, SqlValue>[] };
    readonly databaseSize: number;
  };
  transactionSync<T>(closure: () => T): T;
}

const SCHEMA = [
  'CREATE TABLE IF NOT EXISTS journal (seq INTEGER PRIMARY KEY AUTOINCREMENT, event BLOB NOT NULL)',
  'CREATE TABLE IF NOT EXISTS outbox (peer INTEGER NOT NULL, id INTEGER NOT NULL, msg BLOB NOT NULL, PRIMARY KEY (peer, id))',
  // Older format-7 databases have a last column `responses`, always NULL (kept answers live in the
  // application's state: shared/replica/execution.ts responseKey); nothing reads or writes it.
  'CREATE TABLE IF NOT EXISTS log (idx INTEGER PRIMARY KEY, rid TEXT NOT NULL, epoch INTEGER NOT NULL, time INTEGER NOT NULL, entry BLOB NOT NULL)',
  'CREATE INDEX IF NOT EXISTS log_rid ON log (rid, idx)',
  // Merkle nodes (shared/log/merkle-nodes.ts): the perfect subtree of 2^level leaves at idx.
  'CREATE TABLE IF NOT EXISTS nodes (level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL, PRIMARY KEY (level, idx))',
  'CREATE TABLE IF NOT EXISTS checkpoints (epoch INTEGER PRIMARY KEY, size INTEGER NOT NULL, root BLOB NOT NULL, state BLOB NOT NULL, time INTEGER, chain BLOB, signature BLOB NOT NULL)',
  'CREATE INDEX IF NOT EXISTS checkpoints_size ON checkpoints (size, epoch)',
  'CREATE TABLE IF NOT EXISTS inbox (peer INTEGER PRIMARY KEY, floor INTEGER NOT NULL, above TEXT NOT NULL)',
  'CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL)',
  'CREATE TABLE IF NOT EXISTS snapshot (id INTEGER PRIMARY KEY CHECK (id = 1), state BLOB NOT NULL)',
  // The snapshot's parts (WriteBatch.snapshotParts), by key; values spilled like the snapshot's.
  'CREATE TABLE IF NOT EXISTS snapshot_parts (k TEXT PRIMARY KEY, v BLOB NOT NULL)',
  'CREATE TABLE IF NOT EXISTS spill (key TEXT NOT NULL, seq INTEGER NOT NULL, part BLOB NOT NULL, PRIMARY KEY (key, seq))',
  // The applications' key-value state (shared/app/types.ts AppState); small rows, so clustered by key.
  'CREATE TABLE IF NOT EXISTS app_state (app TEXT NOT NULL, k TEXT NOT NULL, v BLOB NOT NULL, PRIMARY KEY (app, k)) WITHOUT ROWID',
];

/** Bound parameters per statement, at most (a Durable Object's SQL API allows 100). */
const MAX_BINDINGS = 100;
/** Keys per readAppState statement: one parameter is the app. */
const APP_READ_CHUNK = MAX_BINDINGS - 1;

type Binding = ArrayBuffer | string | number | null;

/** Values above this are spilled (the limit is 2 MB per value and row). */
export const SPILL_THRESHOLD = 1024 * 1024;
const SPILL_PART = 1024 * 1024;
const SPILL_MARK = 0xff;

/** A BLOB binding (the SQL API takes ArrayBuffers; SQLite copies the bytes when it binds them). */
function blob(b: Uint8Array): ArrayBuffer {
  // A view of its whole buffer (most values here: fresh hashes, encodings, decoded entries) is passed as it
  // is; a copy of every value cost 4% of a state transfer's CPU.
  if (b.byteOffset === 0 && b.byteLength === b.buffer.byteLength && b.buffer instanceof ArrayBuffer) return b.buffer;
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
}

function bytes(v: unknown): Uint8Array {
  if (v instanceof ArrayBuffer) return new Uint8Array(v);
  if (v instanceof Uint8Array) return v;
  throw new TypeError('expected a BLOB column');
}

function checkpointRow(r: Record<string, SqlValue>): SignedCheckpoint {
  const timed = r['time'] !== null && r['time'] !== undefined;
  return {
    epoch: Number(r['epoch']),
    size: Number(r['size']),
    root: bytes(r['root']),
    stateDigest: bytes(r['state']),
    ...(timed ? { time: Number(r['time']), timeChain: bytes(r['chain']) } : {}),
    signature: bytes(r['signature']),
  };
}

export class SqlStore implements ReplicaStore {
  private readonly sql: SqlBackend['sql'];
  /** Distinguishes spill keys of one process lifetime; with the time, unique across restarts. */
  private spills = 0;
  private readonly boot = Date.now().toString(36);

  constructor(private readonly storage: SqlBackend) {
    this.sql = storage.sql;
    for (const s of SCHEMA) this.sql.exec(s);
  }

  async load(): Promise<LoadedState> {
    const journal = this.sql.exec('SELECT event FROM journal ORDER BY seq').toArray().map((r) => this.unspill(bytes(r['event'])));
    const outbox: StoredOutboxMessage[] = this.sql
      .exec('SELECT peer, id, msg FROM outbox ORDER BY peer, id')
      .toArray()
      .map((r) => ({ peer: Number(r['peer']), id: Number(r['id']), bytes: this.unspill(bytes(r['msg'])) }));
    const inbox = new Map<number, InboxState>();
    for (const r of this.sql.exec('SELECT peer, floor, above FROM inbox').toArray()) {
      inbox.set(Number(r['peer']), { floor: Number(r['floor']), above: JSON.parse(String(r['above'])) as number[] });
    }
    const meta = new Map<string, string>();
    for (const r of this.sql.exec('SELECT k, v FROM meta').toArray()) meta.set(String(r['k']), String(r['v']));
    const snap = this.sql.exec('SELECT state FROM snapshot WHERE id = 1').toArray()[0];
    const snapshotParts = new Map<string, Uint8Array>();
    for (const r of this.sql.exec('SELECT k, v FROM snapshot_parts').toArray()) snapshotParts.set(String(r['k']), this.unspill(bytes(r['v'])));
    return { snapshot: snap ? this.unspill(bytes(snap['state'])) : null, snapshotParts, journal, outbox, inbox, meta };
  }

  /**
   * The value itself, or a reference to its spilled parts (inside the caller's transaction): for a value
   * over the threshold, and for one that starts with the reference mark (so it cannot be taken for one).
   */
  private spill(prefix: string, v: Uint8Array): ArrayBuffer {
    if (v.length <= SPILL_THRESHOLD && v[0] !== SPILL_MARK) return blob(v);
    const key = `${prefix}/${this.boot}/${++this.spills}`;
    for (let off = 0, seq = 0; off < v.length; off += SPILL_PART, seq++) {
      this.sql.exec('INSERT INTO spill (key, seq, part) VALUES (?, ?, ?)', key, seq, blob(v.subarray(off, off + SPILL_PART)));
    }
    return blob(new Uint8Array([SPILL_MARK, ...new TextEncoder().encode(key)]));
  }

  private unspill(v: Uint8Array): Uint8Array {
    if (v[0] !== SPILL_MARK) return v;
    const key = new TextDecoder().decode(v.subarray(1));
    const parts = this.sql.exec('SELECT part FROM spill WHERE key = ? ORDER BY seq', key).toArray().map((r) => bytes(r['part']));
    if (parts.length === 0) throw new Error(`storage: spilled value ${key} is missing`);
    const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
    let off = 0;
    for (const p of parts) {
      out.set(p, off);
      off += p.length;
    }
    return out;
  }

  /** Drops the spilled parts a row refers to (a no-op for a value stored inline). */
  private dropSpill(v: unknown): void {
    if (v === undefined || v === null) return;
    const b = bytes(v);
    if (b[0] === SPILL_MARK) this.sql.exec('DELETE FROM spill WHERE key = ?', new TextDecoder().decode(b.subarray(1)));
  }

  async commit(b: WriteBatch): Promise<void> {
    this.storage.transactionSync(() => {
      if (b.snapshot) {
        this.dropSpill(this.sql.exec('SELECT state FROM snapshot WHERE id = 1').toArray()[0]?.['state']);
        this.sql.exec("DELETE FROM spill WHERE key LIKE 'j/%'");
        this.sql.exec('INSERT OR REPLACE INTO snapshot (id, state) VALUES (1, ?)', this.spill('s', b.snapshot));
        this.sql.exec('DELETE FROM journal');
        // Deletions first, then puts (a key in both ends up put); a replaced or deleted part's spill goes too.
        const parts = b.snapshotParts;
        for (const k of parts?.delete ?? []) {
          this.dropSpill(this.sql.exec('SELECT v FROM snapshot_parts WHERE k = ?', k).toArray()[0]?.['v']);
          this.sql.exec('DELETE FROM snapshot_parts WHERE k = ?', k);
        }
        for (const [k, v] of parts?.put ?? []) {
          this.dropSpill(this.sql.exec('SELECT v FROM snapshot_parts WHERE k = ?', k).toArray()[0]?.['v']);
          this.sql.exec('INSERT OR REPLACE INTO snapshot_parts (k, v) VALUES (?, ?)', k, this.spill('p', v));
        }
      }
      for (const e of b.journal) this.sql.exec('INSERT INTO journal (event) VALUES (?)', this.spill('j', e));
      for (const m of b.outbox) this.sql.exec('INSERT INTO outbox (peer, id, msg) VALUES (?, ?, ?)', m.peer, m.id, this.spill('o', m.bytes));
      for (const d of b.outboxDelete) {
        for (const id of d.ids) {
          this.dropSpill(this.sql.exec('SELECT msg FROM outbox WHERE peer = ? AND id = ?', d.peer, id).toArray()[0]?.['msg']);
          this.sql.exec('DELETE FROM outbox WHERE peer = ? AND id = ?', d.peer, id);
        }
      }
      this.insertRows('INSERT INTO log (idx, rid, epoch, time, entry)', b.log.map((e) => [e.index, e.id, e.epoch, e.time, blob(e.entry)]));
      this.insertRows('INSERT OR REPLACE INTO nodes (level, idx, hash)', b.nodes.map((n) => [n.level, n.index, blob(n.hash)]));
      for (const c of b.checkpoints) this.putCheckpoint(c);
      for (const [peer, s] of b.inbox) {
        this.sql.exec('INSERT OR REPLACE INTO inbox (peer, floor, above) VALUES (?, ?, ?)', peer, s.floor, JSON.stringify(s.above));
      }
      for (const [k, v] of b.meta) this.sql.exec('INSERT OR REPLACE INTO meta (k, v) VALUES (?, ?)', k, v);
      // In order: the puts before a delete are written before it (a key put, then deleted, ends up deleted).
      let puts: Binding[][] = [];
      for (const w of b.app) {
        if (w.value !== null) {
          puts.push([w.app, w.key, blob(w.value)]);
          continue;
        }
        this.insertRows('INSERT OR REPLACE INTO app_state (app, k, v)', puts);
        puts = [];
        this.sql.exec('DELETE FROM app_state WHERE app = ? AND k = ?', w.app, w.key);
      }
      this.insertRows('INSERT OR REPLACE INTO app_state (app, k, v)', puts);
    });
  }

  /**
   * `insert` (up to the column list) for every row, as many rows per statement as MAX_BINDINGS allows: one
   * statement per row cost a crossing into SQLite each, a few microseconds per row on Node and more in a
   * Durable Object. Rows are inserted in order, so with OR REPLACE the last row of a key wins.
   */
  private insertRows(insert: string, rows: readonly (readonly Binding[])[]): void {
    if (rows.length === 0) return;
    const width = rows[0]!.length;
    const per = Math.floor(MAX_BINDINGS / width);
    const one = `(${Array.from({ length: width }, () => '?').join(', ')})`;
    for (let i = 0; i < rows.length; i += per) {
      const chunk = rows.slice(i, i + per);
      this.sql.exec(`${insert} VALUES ${Array.from({ length: chunk.length }, () => one).join(', ')}`, ...chunk.flat());
    }
  }

  private putCheckpoint(c: SignedCheckpoint): void {
    this.sql.exec(
      'INSERT OR REPLACE INTO checkpoints (epoch, size, root, state, time, chain, signature) VALUES (?, ?, ?, ?, ?, ?, ?)',
      c.epoch,
      c.size,
      blob(c.root),
      blob(c.stateDigest),
      c.time ?? null,
      c.timeChain ? blob(c.timeChain) : null,
      blob(c.signature),
    );
  }

  async entries(start: number, end: number): Promise<StoredEntry[]> {
    return this.sql
      .exec('SELECT idx, rid, epoch, time, entry FROM log WHERE idx >= ? AND idx < ? ORDER BY idx', start, end)
      .toArray()
      .map((r) => ({ index: Number(r['idx']), id: String(r['rid']), epoch: Number(r['epoch']), time: Number(r['time']), entry: bytes(r['entry']) }));
  }

  async indexOfIds(ids: readonly string[]): Promise<Map<string, number>> {
    // Synchronous SQLite: one indexed lookup each is cheaper than building an IN list.
    const out = new Map<string, number>();
    for (const id of ids) {
      const r = this.sql.exec('SELECT idx FROM log WHERE rid = ? ORDER BY idx LIMIT 1', id).toArray()[0];
      if (r) out.set(id, Number(r['idx']));
    }
    return out;
  }

  async readNodes(keys: readonly NodeKey[]): Promise<Map<string, Uint8Array>> {
    const out = new Map<string, Uint8Array>();
    for (const k of keys) {
      const r = this.sql.exec('SELECT hash FROM nodes WHERE level = ? AND idx = ?', k.level, k.index).toArray()[0];
      if (r) out.set(nodeKey(k.level, k.index), bytes(r['hash']));
    }
    return out;
  }

  async readAppState(app: string, keys: readonly string[]): Promise<Map<string, Uint8Array>> {
    const out = new Map<string, Uint8Array>();
    for (let i = 0; i < keys.length; i += APP_READ_CHUNK) {
      const chunk = keys.slice(i, i + APP_READ_CHUNK);
      const rows = this.sql.exec(`SELECT k, v FROM app_state WHERE app = ? AND k IN (${chunk.map(() => '?').join(', ')})`, app, ...chunk).toArray();
      for (const r of rows) out.set(String(r['k']), bytes(r['v']));
    }
    return out;
  }

  private checkpointWhere(where: string, arg: number): SignedCheckpoint | null {
    const r = this.sql.exec(`SELECT epoch, size, root, state, time, chain, signature FROM checkpoints WHERE ${where} ORDER BY size, epoch LIMIT 1`, arg).toArray()[0];
    return r ? checkpointRow(r) : null;
  }

  async checkpointCovering(index: number): Promise<SignedCheckpoint | null> {
    return this.checkpointWhere('size > ?', index);
  }

  async checkpointAt(size: number): Promise<SignedCheckpoint | null> {
    return this.checkpointWhere('size = ?', size);
  }

  async loadLog(): Promise<{ entries: StoredEntry[]; checkpoints: SignedCheckpoint[] }> {
    const entries = await this.entries(0, Number.MAX_SAFE_INTEGER);
    const checkpoints = this.sql
      .exec('SELECT epoch, size, root, state, time, chain, signature FROM checkpoints ORDER BY epoch')
      .toArray()
      .map(checkpointRow);
    return { entries, checkpoints };
  }

  async sizeBytes(): Promise<number | null> {
    return this.sql.databaseSize;
  }
}
