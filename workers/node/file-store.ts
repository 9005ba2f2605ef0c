/**
 * ReplicaStore in a local data folder, with node: builtins only: the embedded default of a Node replica
 * that needs no external service (`sintra start --mixed`, a single VM).
 *
 * One append-only file, `state.wal`: a header line, then one record per commit,
 *
 *   u32 length (big-endian) | first 8 bytes of SHA-256(payload) | payload (JSON of the WriteBatch)
 *
 * written with one write and made durable with fdatasync before commit() resolves: persist before send
 * (docs/design.md section 8), atomic per commit because recovery applies a record whole or not at all. A crash
 * can only tear the last record (every earlier one was synced before the next was written), so recovery
 * drops a bad record at the end of the file and truncates it away; a bad record followed by more data is
 * corruption, and opening fails rather than silently forgetting committed state.
 *
 * The whole state is also kept in memory (a MemoryStore: same semantics as the tests' reference store);
 * reads never touch the disk. When the file has grown to twice its last compacted size (and at least
 * `compactBytes`), it is rewritten as one full-state record into a temporary file, synced, and renamed
 * over the old one (then the folder is synced), so a crash leaves either the old or the new file.
 *
 * A LOCK file holding the owner's pid keeps a second process off the same folder: two writers would
 * interleave events no single engine produced (see redis-store.ts on why that is dangerous).
 */
import { createHash } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { mkdir, open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { SignedCheckpoint } from '../../shared/log/checkpoint.ts';
import type { NodeKey } from '../../shared/log/merkle-nodes.ts';
import { MemoryStore } from '../core/store.ts';
import type { InboxState, LoadedState, ReplicaStore, StoredEntry, WriteBatch } from '../core/store.ts';
import { FolderLock } from './folder-lock.ts';

const HEADER = Buffer.from('sintra-edge/file-store@1\n');
const RECORD_HEAD = 12;
const WAL = 'state.wal';
const LOCK = 'LOCK';

const b64 = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64');
const unb64 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'base64'));
const digest = (payload: Uint8Array): Buffer => createHash('sha256').update(payload).digest().subarray(0, 8);

/** A WriteBatch as JSON; `full` marks a compacted record that replaces all state before it. */
interface RecordJson {
  full?: 1;
  s?: string;
  j: string[];
  o: [number, number, string][];
  d: [number, number[]][];
  /** index, id, epoch, entry, and the kept app responses as [name, base64] pairs when there are any. */
  l: ([number, string, number, string] | [number, string, number, string, [string, string][]])[];
  /** Merkle nodes: level, index, hash. */
  n?: [number, number, string][];
  c: [number, number, string, string, string][];
  i: [number, number, number[]][];
  m: [string, string][];
}

function encodeRecord(b: WriteBatch, full = false): Buffer {
  const r: RecordJson = {
    ...(full ? { full: 1 as const } : {}),
    ...(b.snapshot ? { s: b64(b.snapshot) } : {}),
    j: b.journal.map(b64),
    o: b.outbox.map((m) => [m.peer, m.id, b64(m.bytes)]),
    d: b.outboxDelete.map((d) => [d.peer, [...d.ids]]),
    l: b.log.map((e) =>
      e.responses ? [e.index, e.id, e.epoch, b64(e.entry), Object.entries(e.responses).map(([k, v]) => [k, b64(v)] as [string, string])] : [e.index, e.id, e.epoch, b64(e.entry)],
    ),
    n: b.nodes.map((x) => [x.level, x.index, b64(x.hash)]),
    c: b.checkpoints.map((c) => [c.epoch, c.size, b64(c.root), b64(c.stateDigest), b64(c.signature)]),
    i: [...b.inbox].map(([p, s]) => [p, s.floor, [...s.above]]),
    m: [...b.meta],
  };
  const payload = Buffer.from(JSON.stringify(r));
  const head = Buffer.alloc(RECORD_HEAD);
  head.writeUInt32BE(payload.length, 0);
  digest(payload).copy(head, 4);
  return Buffer.concat([head, payload]);
}

function decodeRecord(payload: Buffer): { batch: WriteBatch; full: boolean } {
  const r = JSON.parse(payload.toString('utf8')) as RecordJson;
  return {
    full: r.full === 1,
    batch: {
      ...(r.s !== undefined ? { snapshot: unb64(r.s) } : {}),
      journal: r.j.map(unb64),
      outbox: r.o.map(([peer, id, m]) => ({ peer, id, bytes: unb64(m) })),
      outboxDelete: r.d.map(([peer, ids]) => ({ peer, ids })),
      log: r.l.map(([index, id, epoch, e, resp]) => ({
        index,
        id,
        epoch,
        entry: unb64(e),
        ...(resp ? { responses: Object.fromEntries(resp.map(([k, v]) => [k, unb64(v)])) } : {}),
      })),
      nodes: (r.n ?? []).map(([level, index, h]) => ({ level, index, hash: unb64(h) })),
      checkpoints: r.c.map(([epoch, size, root, state, sig]) => ({ epoch, size, root: unb64(root), stateDigest: unb64(state), signature: unb64(sig) })),
      inbox: new Map<number, InboxState>(r.i.map(([p, floor, above]) => [p, { floor, above }])),
      meta: new Map(r.m),
    },
  };
}

/** The state of a MemoryStore as one batch that rebuilds it from nothing. */
function fullState(store: MemoryStore): WriteBatch {
  const m = store.storage;
  return {
    ...(m.snapshot ? { snapshot: m.snapshot } : {}),
    journal: m.journal,
    outbox: [...m.outbox.values()],
    outboxDelete: [],
    log: m.log,
    nodes: [...m.nodes].map(([k, hash]) => {
      const [level, index] = k.split('/').map(Number) as [number, number];
      return { level, index, hash };
    }),
    checkpoints: m.checkpoints,
    inbox: m.inbox,
    meta: m.meta,
  };
}

/** fsync of a folder: makes the names in it (a created or renamed file) durable. */
function syncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}



export interface FileStoreOptions {
  /** Rewrite the file once it is this large and twice its last compacted size (default 8 MiB). */
  readonly compactBytes?: number;
  readonly log?: (line: string) => void;
}

export class FileStore implements ReplicaStore {
  private mem = new MemoryStore();
  private fh: FileHandle | null = null;
  private folderLock: FolderLock | null = null;
  private size = 0;
  private compactedSize = 0;
  /** Set when a failed write could not be undone: the file may hold a partial record. */
  private broken: Error | null = null;
  private chain: Promise<unknown> = Promise.resolve();
  /** Records recovered at open, and bytes of a torn last record dropped. */
  recovered = { records: 0, droppedBytes: 0 };

  private constructor(
    readonly dir: string,
    private readonly opts: FileStoreOptions,
  ) {}

  /** Opens (creating) the folder, takes its lock, and recovers the state. */
  static async open(dir: string, opts: FileStoreOptions = {}): Promise<FileStore> {
    await mkdir(dir, { recursive: true });
    const s = new FileStore(dir, opts);
    s.lock();
    try {
      await s.recover();
    } catch (e) {
      s.unlock();
      throw e;
    }
    return s;
  }

  private lock(): void {
    this.folderLock = FolderLock.take(this.dir, LOCK, 'one process per replica');
  }

  private unlock(): void {
    this.folderLock?.release();
    this.folderLock = null;
  }

  private async recover(): Promise<void> {
    const path = join(this.dir, WAL);
    rmSync(`${path}.tmp`, { force: true });
    let data: Buffer;
    try {
      data = readFileSync(path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      data = Buffer.alloc(0);
    }
    if (data.length > 0 && !data.subarray(0, HEADER.length).equals(HEADER)) {
      if (data.length >= HEADER.length || !HEADER.subarray(0, data.length).equals(data)) throw new Error(`${path} is not a sintra file store`);
      data = Buffer.alloc(0);
    }
    let off = data.length === 0 ? 0 : HEADER.length;
    while (off < data.length) {
      const rest = data.length - off;
      const len = rest >= RECORD_HEAD ? data.readUInt32BE(off) : -1;
      const end = off + RECORD_HEAD + len;
      const ok = len >= 0 && end <= data.length && data.subarray(off + 4, off + RECORD_HEAD).equals(digest(data.subarray(off + RECORD_HEAD, end)));
      if (!ok) {
        // Only the last record can be torn by a crash: it reaches the end of the file.
        if (len >= 0 && end < data.length) throw new Error(`${path}: record at byte ${off} is corrupt and is not the last one; refusing to drop committed state`);
        this.recovered.droppedBytes = rest;
        this.opts.log?.(`file store ${this.dir}: dropped a torn last record (${rest} bytes)`);
        break;
      }
      const { batch, full } = decodeRecord(data.subarray(off + RECORD_HEAD, end));
      if (full) this.mem = new MemoryStore();
      await this.mem.commit(batch);
      this.recovered.records++;
      off = end;
    }
    this.fh = await open(path, data.length === 0 ? 'w+' : 'r+');
    if (data.length === 0) {
      await this.fh.write(HEADER, 0, HEADER.length, 0);
      off = HEADER.length;
    }
    if (off < data.length || data.length === 0) {
      await this.fh.truncate(off);
      await this.fh.datasync();
    }
    // A new file's name must be durable too, or a crash could lose the whole file with its fsynced records.
    if (data.length === 0) syncDir(this.dir);
    this.size = off;
    this.compactedSize = off;
  }

  private serialized<T>(f: () => Promise<T>): Promise<T> {
    const run = this.chain.then(f);
    this.chain = run.catch(() => undefined);
    return run;
  }

  async load(): Promise<LoadedState> {
    return this.mem.load();
  }

  commit(b: WriteBatch): Promise<void> {
    return this.serialized(async () => {
      if (this.broken) throw this.broken;
      if (!this.fh) throw new Error('file store is closed');
      const record = encodeRecord(b);
      try {
        await this.fh.write(record, 0, record.length, this.size);
        await this.fh.datasync();
      } catch (e) {
        // Undo a partial append so that the next record does not follow garbage.
        try {
          await this.fh.truncate(this.size);
          await this.fh.datasync();
        } catch (e2) {
          this.broken = new Error(`file store ${this.dir} is unusable until restarted: ${(e2 as Error).message}`);
        }
        throw e;
      }
      this.size += record.length;
      await this.mem.commit(b);
      if (this.size >= Math.max(this.opts.compactBytes ?? 8 << 20, 2 * this.compactedSize)) {
        // The commit is durable already; a failed rewrite only leaves the longer file in place.
        await this.compact().catch((e: unknown) => this.opts.log?.(`file store ${this.dir}: compaction failed: ${(e as Error).message}`));
      }
    });
  }

  /** Rewrites the file as one full-state record (temporary file, fsync, rename, fsync the folder). */
  private async compact(): Promise<void> {
    const path = join(this.dir, WAL);
    const record = encodeRecord(fullState(this.mem), true);
    const tmp = await open(`${path}.tmp`, 'w');
    try {
      await tmp.write(HEADER, 0, HEADER.length, 0);
      await tmp.write(record, 0, record.length, HEADER.length);
      await tmp.datasync();
    } finally {
      await tmp.close();
    }
    renameSync(`${path}.tmp`, path);
    // From here on the old file is gone: whatever happens, appends must go to the new one.
    try {
      syncDir(this.dir);
    } finally {
      await this.fh?.close().catch(() => undefined);
      this.fh = null;
      try {
        this.fh = await open(path, 'r+');
        this.size = statSync(path).size;
        this.compactedSize = this.size;
      } catch (e) {
        this.broken = new Error(`file store ${this.dir} is unusable until restarted: ${(e as Error).message}`);
      }
    }
    this.opts.log?.(`file store ${this.dir}: compacted to ${this.size} bytes`);
  }

  async entries(start: number, end: number): Promise<StoredEntry[]> {
    return this.mem.entries(start, end);
  }

  async loadLog(): Promise<{ entries: StoredEntry[]; checkpoints: SignedCheckpoint[] }> {
    return this.mem.loadLog();
  }

  indexOfId(id: string): Promise<number | undefined> {
    return this.mem.indexOfId(id);
  }

  readNodes(keys: readonly NodeKey[]): Promise<Map<string, Uint8Array>> {
    return this.mem.readNodes(keys);
  }

  checkpointCovering(index: number): Promise<SignedCheckpoint | null> {
    return this.mem.checkpointCovering(index);
  }

  checkpointAt(size: number): Promise<SignedCheckpoint | null> {
    return this.mem.checkpointAt(size);
  }

  async sizeBytes(): Promise<number | null> {
    return this.size;
  }

  async ping(): Promise<void> {
    if (this.broken) throw this.broken;
  }

  /** Closes the file and releases the lock (after any commit in progress). */
  close(): Promise<void> {
    return this.serialized(async () => {
      await this.fh?.close();
      this.fh = null;
      this.unlock();
    });
  }
}
