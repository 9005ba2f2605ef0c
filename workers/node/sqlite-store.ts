/**
 * ReplicaStore in a local data folder: the embedded default of a Node replica that needs no external
 * service (`sintra start --mixed`, a single VM). It is the Durable Object's store (workers/core/sql-store.ts)
 * on a SQLite file opened with better-sqlite3, so both runtimes keep the same tables, and the log's history
 * (entries, Merkle nodes, the request index, checkpoints) lives on disk, not in the process.
 *
 * `state.db` in the folder, in WAL mode with synchronous=FULL: a commit is one transaction, durable (the
 * WAL fsynced) when commit() returns, so persist before send holds (docs/design.md section 8); a crash
 * leaves every committed transaction and none of a torn one (SQLite's own recovery).
 *
 * A LOCK file holding the owner's pid keeps a second process off the same folder: two writers would
 * interleave events no single engine produced (see redis-store.ts on why that is dangerous).
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { SqlStore } from '../core/sql-store.ts';
import type { SqlBackend, SqlValue } from '../core/sql-store.ts';
import { FolderLock } from './folder-lock.ts';
import { SqlBeaconStore } from '../core/beacon-store.ts';

export const DATABASE_FILE = 'state.db';

/** better-sqlite3 as the Durable Object's `storage` (exec with bindings, transactionSync, databaseSize). */
function backend(db: Database.Database): SqlBackend {
  const statements = new Map<string, Database.Statement>();
  const prepared = (q: string): Database.Statement => {
    let s = statements.get(q);
    if (!s) statements.set(q, (s = db.prepare(q)));
    return s;
  };
  return {
    sql: {
      exec(query, ...bindings) {
        const s = prepared(query);
        const args = bindings.map((b) => (b instanceof ArrayBuffer ? Buffer.from(b) : b));
        if (s.reader) {
          const rows = s.all(...args) as Record<string, SqlValue>[];
          // BLOBs come back as Buffers: plain Uint8Arrays, as every other store gives.
          for (const r of rows) for (const k in r) if (Buffer.isBuffer(r[k])) r[k] = new Uint8Array(r[k].buffer, r[k].byteOffset, r[k].byteLength);
          return { toArray: () => rows };
        }
        s.run(...args);
        return { toArray: () => [] };
      },
      get databaseSize(): number {
        return Number(db.pragma('page_count', { simple: true })) * Number(db.pragma('page_size', { simple: true }));
      },
    },
    transactionSync: <T>(closure: () => T): T => db.transaction(closure).immediate(),
  };
}

export class SqliteStore extends SqlStore {
  private closed = false;

  private constructor(
    readonly dir: string,
    private readonly db: Database.Database,
    private readonly folderLock: FolderLock,
  ) {
    super(backend(db));
  }

  /** Opens (creating) the store in `dir`; throws StoreLockedError while another live process holds it. */
  static async open(dir: string): Promise<SqliteStore> {
    mkdirSync(dir, { recursive: true });
    const lock = FolderLock.take(dir, 'LOCK', 'one process per replica');
    let db: Database.Database;
    try {
      db = new Database(join(resolve(dir), DATABASE_FILE));
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
    } catch (e) {
      lock.release();
      throw e;
    }
    return new SqliteStore(dir, db, lock);
  }

  /** The beacon rounds, in a table of the same database (workers/core/beacon-store.ts). */
  beacons(): SqlBeaconStore {
    return (this.beaconStore ??= new SqlBeaconStore(backend(this.db)));
  }
  private beaconStore: SqlBeaconStore | undefined;

  async ping(): Promise<void> {
    if (this.closed) throw new Error(`the store in ${this.dir} is closed`);
    this.db.prepare('SELECT 1').get();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
    this.folderLock.release();
  }
}
