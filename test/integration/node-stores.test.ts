/**
 * The Node replica's stores against the ReplicaStore contract that MemoryStore defines (workers/core/store.ts):
 * RedisStore through the real @upstash/redis client, the Upstash-REST bridge and a real redis-server, and
 * FileStore on a temp folder. Then what only one backend has: a transaction broken before EXEC leaves
 * nothing; a second writer or a partly applied EXEC stops the replica for good; Redis unreachable fails
 * commits quickly and loses nothing; a torn last file record is dropped, a corrupt middle one refuses to
 * open; the folder lock; file compaction.
 */
import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SignedCheckpoint } from '../../shared/log/checkpoint.ts';
import type { LogAppend } from '../../shared/replica/engine.ts';
import { MemoryStore, emptyBatch } from '../../workers/core/store.ts';
import type { ReplicaStore, WriteBatch } from '../../workers/core/store.ts';
import { FileStore } from '../../workers/node/file-store.ts';
import { RedisStore, redisClient } from '../../workers/node/redis-store.ts';
import { StoreConflictError, StoreLockedError } from '../../workers/node/store-errors.ts';
import { HAVE_REDIS, REDIS_SKIP_MESSAGE, startRedis } from '../helpers/redis.ts';
import type { TestRedis } from '../helpers/redis.ts';
import { startUpstashBridge } from '../helpers/upstash-bridge.ts';
import type { UpstashBridge } from '../helpers/upstash-bridge.ts';

const bytes = (...xs: number[]) => new Uint8Array(xs);
const ALL_BYTES = Uint8Array.from({ length: 256 }, (_, i) => i);

function batch(parts: Partial<WriteBatch>): WriteBatch {
  return { ...emptyBatch(), ...parts };
}

const entry = (index: number, epoch = 1): LogAppend => ({ index, id: `${index}`.padStart(64, '0'), epoch, entry: bytes(index, 0, 255, index) });
const checkpoint = (epoch: number, size: number): SignedCheckpoint => ({ epoch, size, root: new Uint8Array(32).fill(epoch), stateDigest: new Uint8Array(32).fill(7), signature: new Uint8Array(48).fill(epoch + 1) });

interface Backend {
  make(): Promise<ReplicaStore>;
  /** The same state through a fresh store object (a restarted process). */
  reopen(s: ReplicaStore): Promise<ReplicaStore>;
}

/** The behaviours every store shares with MemoryStore. */
function contract(name: string, backend: () => Backend): void {
  describe(`${name}: ReplicaStore contract`, () => {
    it('starts empty', async () => {
      const s = await backend().make();
      const l = await s.load();
      expect(l).toEqual({ snapshot: null, journal: [], outbox: [], inbox: new Map(), meta: new Map() });
      expect(await s.entries(0, 10)).toEqual([]);
      expect(await s.loadLog()).toEqual({ entries: [], checkpoints: [] });
    });

    it('commits atomically what load returns: journal order, outbox set/delete, inbox and meta replace, binary values intact', async () => {
      const b = backend();
      let s = await b.make();
      await s.load();
      await s.commit(
        batch({
          journal: [ALL_BYTES, bytes(1)],
          outbox: [
            { peer: 2, id: 1, bytes: bytes(0, 0, 0) },
            { peer: 1, id: 2, bytes: ALL_BYTES },
            { peer: 1, id: 1, bytes: bytes(9) },
          ],
          inbox: new Map([[3, { floor: 2, above: [5] }]]),
          meta: new Map([['next-id/1', '3'], ['link-tx/2', '{"next":4}']]),
          log: [entry(0), entry(1)],
          checkpoints: [checkpoint(1, 2)],
        }),
      );
      await s.commit(
        batch({
          journal: [bytes(2)],
          outboxDelete: [{ peer: 1, ids: [1, 99] }],
          inbox: new Map([[3, { floor: 5, above: [] }]]),
          meta: new Map([['next-id/1', '4']]),
          log: [entry(2, 2)],
          checkpoints: [checkpoint(2, 3)],
        }),
      );
      for (const store of [s, (s = await b.reopen(s))]) {
        const l = await store.load();
        expect(l.snapshot).toBeNull();
        expect(l.journal).toEqual([ALL_BYTES, bytes(1), bytes(2)]);
        expect(l.outbox).toEqual([
          { peer: 1, id: 2, bytes: ALL_BYTES },
          { peer: 2, id: 1, bytes: bytes(0, 0, 0) },
        ]);
        expect(l.inbox).toEqual(new Map([[3, { floor: 5, above: [] }]]));
        expect(l.meta).toEqual(new Map([['next-id/1', '4'], ['link-tx/2', '{"next":4}']]));
        const want = [entry(0), entry(1), entry(2, 2)];
        expect(await store.entries(0, 3)).toEqual(want);
        expect(await store.entries(1, 2)).toEqual([want[1]]);
        expect(await store.entries(2, 10)).toEqual([want[2]]);
        expect(await store.entries(3, 5)).toEqual([]);
        expect(await store.entries(2, 2)).toEqual([]);
        expect(await store.loadLog()).toEqual({ entries: want, checkpoints: [checkpoint(1, 2), checkpoint(2, 3)] });
      }
    });

    it('a snapshot commit replaces the snapshot and drops the journal in the same write; later events follow it', async () => {
      const b = backend();
      let s = await b.make();
      await s.load();
      await s.commit(batch({ journal: [bytes(1), bytes(2)], log: [entry(0)] }));
      await s.commit(batch({ snapshot: bytes(42, 0, 42), journal: [], log: [entry(1)] }));
      await s.commit(batch({ journal: [bytes(3)] }));
      s = await b.reopen(s);
      let l = await s.load();
      expect(l.snapshot).toEqual(bytes(42, 0, 42));
      expect(l.journal).toEqual([bytes(3)]);
      await s.commit(batch({ snapshot: ALL_BYTES, journal: [] }));
      l = await s.load();
      expect(l.snapshot).toEqual(ALL_BYTES);
      expect(l.journal).toEqual([]);
      expect((await s.loadLog()).entries.map((e) => e.index)).toEqual([0, 1]);
    });

    it('an empty batch is a valid commit and changes nothing', async () => {
      const s = await backend().make();
      await s.load();
      await s.commit(batch({ journal: [bytes(1)] }));
      await s.commit(emptyBatch());
      expect((await s.load()).journal).toEqual([bytes(1)]);
    });
  });
}

contract('MemoryStore (reference)', () => ({
  make: async () => new MemoryStore(),
  reopen: async (s) => s,
}));

describe.skipIf(!HAVE_REDIS)('RedisStore (real redis-server behind the Upstash REST bridge)', () => {
  let redis: TestRedis;
  let bridge: UpstashBridge;
  let counter = 0;
  const client = () => redisClient({ url: bridge.url, token: bridge.token, timeoutMs: 3000 });
  const fresh = (prefix = `test:{store-${process.pid}-${counter++}}`) => new RedisStore(client(), prefix);

  beforeAll(async () => {
    redis = await startRedis();
    bridge = await startUpstashBridge(redis.port);
  });
  afterAll(async () => {
    await bridge?.close();
    await redis?.stop();
  });

  contract('RedisStore', () => ({
    make: async () => fresh(),
    reopen: async (s) => fresh((s as RedisStore).prefix),
  }));

  it('keeps every key under its prefix; two replicas never see each other', async () => {
    const a = fresh('sintra:{g:r1}');
    const b = fresh('sintra:{g:r2}');
    await a.load();
    await b.load();
    await a.commit(batch({ journal: [bytes(1)], log: [entry(0)], meta: new Map([['x', 'y']]) }));
    expect((await b.load()).journal).toEqual([]);
    const keys = (await client().keys('sintra:*')) as string[];
    expect(keys.length).toBeGreaterThan(0);
    expect(keys.every((k) => k.startsWith('sintra:{g:r1}:'))).toBe(true);
  });

  it('a transaction broken before EXEC (connection lost mid-way) leaves nothing, and the next commit works', async () => {
    const s = fresh();
    await s.load();
    await s.commit(batch({ journal: [bytes(1)], outbox: [{ peer: 1, id: 1, bytes: bytes(1) }] }));
    bridge.breakNextTransaction(3);
    await expect(s.commit(batch({ journal: [bytes(2)], outbox: [{ peer: 1, id: 2, bytes: bytes(2) }], log: [entry(0)], meta: new Map([['k', 'v']]) }))).rejects.toThrow();
    const l = await fresh(s.prefix).load();
    expect(l.journal).toEqual([bytes(1)]);
    expect(l.outbox.map((m) => m.id)).toEqual([1]);
    expect(l.meta.size).toBe(0);
    expect(await s.entries(0, 1)).toEqual([]);
    await s.commit(batch({ journal: [bytes(3)] }));
    expect((await fresh(s.prefix).load()).journal).toEqual([bytes(1), bytes(3)]);
  });

  it('a second writer on the same state stops both for good (no message of the conflicting commit is released)', async () => {
    const a = fresh();
    const b = fresh(a.prefix);
    await a.load();
    await b.load();
    await a.commit(batch({ journal: [bytes(1)] }));
    await expect(b.commit(batch({ journal: [bytes(2)] }))).rejects.toThrow(StoreConflictError);
    await expect(b.load()).rejects.toThrow(StoreConflictError);
    await expect(a.commit(batch({ journal: [bytes(3)] }))).rejects.toThrow(StoreConflictError);
    // A restarted process refuses too: the conflict is recorded in storage.
    await expect(fresh(a.prefix).load()).rejects.toThrow(/marked inconsistent/);
  });

  it('a command that fails inside EXEC (partly applied transaction) stops the replica', async () => {
    const s = fresh();
    await s.load();
    await client().set(`${s.prefix}:journal`, 'not a list');
    await expect(s.commit(batch({ journal: [bytes(1)] }))).rejects.toThrow(StoreConflictError);
    await expect(fresh(s.prefix).load()).rejects.toThrow(StoreConflictError);
  });

  it('Redis unreachable: commits and loads fail quickly (no retries), nothing committed is lost, and it works again after', async () => {
    const s = fresh();
    await s.load();
    await s.commit(batch({ journal: [bytes(1)], log: [entry(0)] }));
    await bridge.stop();
    const t0 = Date.now();
    await expect(s.commit(batch({ journal: [bytes(2)] }))).rejects.toThrow();
    await expect(s.load()).rejects.toThrow();
    expect(Date.now() - t0).toBeLessThan(2000);
    await bridge.start();
    const l = await s.load();
    expect(l.journal).toEqual([bytes(1)]);
    await s.commit(batch({ journal: [bytes(3)] }));
    expect((await fresh(s.prefix).load()).journal).toEqual([bytes(1), bytes(3)]);
    expect(await s.entries(0, 5)).toEqual([entry(0)]);
  });
});

if (!HAVE_REDIS) describe('RedisStore', () => it.skip(REDIS_SKIP_MESSAGE, () => undefined));

describe('FileStore (append-only file, fsync per commit)', () => {
  let root: string;
  let counter = 0;
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'sintra-filestore-'));
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const dirOf = (s: ReplicaStore) => (s as FileStore).dir;

  contract('FileStore', () => ({
    make: () => FileStore.open(join(root, `c${counter++}`)),
    reopen: async (s) => {
      await (s as FileStore).close();
      return FileStore.open(dirOf(s));
    },
  }));

  it('drops a torn last record on recovery and keeps appending after it', async () => {
    const dir = join(root, 'torn');
    let s = await FileStore.open(dir);
    await s.commit(batch({ journal: [bytes(1)] }));
    await s.commit(batch({ journal: [bytes(2)], log: [entry(0)] }));
    await s.close();
    const wal = join(dir, 'state.wal');
    const full = readFileSync(wal);
    // A crash in the middle of the next append: its header and part of its payload made it to disk.
    appendFileSync(wal, Buffer.concat([Buffer.from([0, 0, 0, 200]), Buffer.alloc(8, 1), Buffer.from('{"j":["AQ')]));
    s = await FileStore.open(dir);
    expect(s.recovered).toEqual({ records: 2, droppedBytes: 12 + 9 });
    expect(statSync(wal).size).toBe(full.length);
    expect((await s.load()).journal).toEqual([bytes(1), bytes(2)]);
    await s.commit(batch({ journal: [bytes(3)] }));
    await s.close();
    // Only a few bytes of a header made it.
    appendFileSync(wal, Buffer.from([0, 0]));
    s = await FileStore.open(dir);
    expect((await s.load()).journal).toEqual([bytes(1), bytes(2), bytes(3)]);
    expect(await s.entries(0, 1)).toEqual([entry(0)]);
    await s.close();
  });

  it('refuses to open a file whose damaged record is not the last one', async () => {
    const dir = join(root, 'corrupt');
    const s = await FileStore.open(dir);
    await s.commit(batch({ journal: [bytes(1)] }));
    await s.commit(batch({ journal: [bytes(2)] }));
    await s.close();
    const wal = join(dir, 'state.wal');
    const data = readFileSync(wal);
    data[data.indexOf('{"j"') + 8]! ^= 1; // a payload byte of the first record
    writeFileSync(wal, data);
    await expect(FileStore.open(dir)).rejects.toThrow(/corrupt and is not the last one/);
  });

  it('one process per folder: a live owner locks it, a dead owner does not', async () => {
    const dir = join(root, 'locked');
    const s = await FileStore.open(dir);
    await expect(FileStore.open(dir)).rejects.toThrow(StoreLockedError);
    await s.close();
    const t = await FileStore.open(dir);
    await t.close();
    writeFileSync(join(dir, 'LOCK'), '2147483646\n'); // no such process
    const u = await FileStore.open(dir);
    await u.close();
  });

  it('compacts the file into one full-state record when it has doubled, and recovers the same state', async () => {
    const dir = join(root, 'compact');
    let s = await FileStore.open(dir, { compactBytes: 4096 });
    for (let i = 0; i < 60; i++) {
      await s.commit(batch({ journal: [new Uint8Array(100).fill(i)], outbox: [{ peer: 1, id: i + 1, bytes: bytes(i) }], ...(i > 0 ? { outboxDelete: [{ peer: 1, ids: [i] }] } : {}), log: [entry(i)] }));
      if (i === 30) await s.commit(batch({ snapshot: bytes(30), journal: [] }));
    }
    const before = await s.load();
    const size = (await s.sizeBytes())!;
    await s.close();
    expect(size).toBeLessThan(60 * 250);
    s = await FileStore.open(dir);
    expect(s.recovered.records).toBeLessThan(60);
    expect(await s.load()).toEqual(before);
    expect((await s.loadLog()).entries.length).toBe(60);
    expect((await s.load()).outbox.map((m) => m.id)).toEqual([60]);
    await s.close();
  });
});
