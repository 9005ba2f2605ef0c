/**
 * SqlStore inside workerd against real Durable Object SQLite: values over the 2 MB limit (a snapshot, a
 * journal event, an outbox message) are spilled in parts and read back exactly; replacing the snapshot
 * or acknowledging the message drops the parts; the commit stays one transaction. Snapshot parts: written
 * with the snapshot, spilled when big, their spill rows dropped when deleted or replaced, untouched by an
 * aborted commit. Application state: in
 * the commit's transaction (a commit the database aborts leaves none of it), and a read of thousands of keys
 * within the Durable Object's limit of 100 bound parameters per statement.
 */
import { env, runInDurableObject } from 'cloudflare:test';
import { sha256 } from '@noble/hashes/sha2.js';
import { describe, expect, it } from 'vitest';
import { toHex } from '../../shared/crypto/bytes.ts';
import { emptyBatch } from '../../workers/core/store.ts';
import { SPILL_THRESHOLD, SqlStore } from '../../workers/core/sql-store.ts';

const e = env as unknown as { REPLICA: DurableObjectNamespace };

/** Compared by digest: toEqual on megabyte arrays takes seconds inside workerd. */
const d = (b: Uint8Array | null | undefined) => (b ? `${b.length}:${toHex(sha256(b))}` : String(b));
const ds = (bs: readonly Uint8Array[]) => bs.map(d);

function big(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i += 4096) b[i] = (i / 4096 + seed) & 0xff;
  b[0] = seed; // a real value's first byte (never the 0xFF reference mark)
  return b;
}

describe('SqlStore (workerd SQLite): values over the 2 MB limit', () => {
  it('spills big snapshots, journal events and outbox messages and reads them back exactly', async () => {
    await runInDurableObject(e.REPLICA.get(e.REPLICA.idFromName('sql-store-spill')), async (_obj, state) => {
      // A fresh table set in this object's storage (the replica's own tables are not touched by this test).
      const store = new SqlStore(state.storage);
      const snapshot = big(5 * 1024 * 1024 + 7, 0x7b);
      const event = big(3 * 1024 * 1024, 2);
      const message = big(2 * 1024 * 1024 + 1, 1);
      const small = big(100, 1);
      const b1 = emptyBatch();
      b1.journal.push(event, small);
      b1.outbox.push({ peer: 1, id: 1, bytes: message }, { peer: 1, id: 2, bytes: small });
      await store.commit(b1);
      let loaded = await store.load();
      expect(ds(loaded.journal)).toEqual(ds([event, small]));
      expect(ds(loaded.outbox.map((m) => m.bytes))).toEqual(ds([message, small]));
      const parts = () => Number(state.storage.sql.exec('SELECT count(*) AS c FROM spill').one()['c']);
      expect(parts()).toBe(3 + 3); // 3 MB and 2 MB + 1 byte, in 1 MB parts
      // A snapshot commit replaces the journal: its spilled parts go too.
      await store.commit({ ...emptyBatch(), snapshot });
      loaded = await store.load();
      expect(d(loaded.snapshot)).toBe(d(snapshot));
      expect(loaded.journal).toEqual([]);
      expect(parts()).toBe(3 + 6);
      // Acknowledged messages drop their parts; a new snapshot drops the old one's.
      await store.commit({ ...emptyBatch(), outboxDelete: [{ peer: 1, ids: [1, 2] }] });
      expect(parts()).toBe(6);
      const next = big(SPILL_THRESHOLD + 1, 0x7b);
      await store.commit({ ...emptyBatch(), snapshot: next });
      expect(d((await store.load()).snapshot)).toBe(d(next));
      expect(parts()).toBe(2);
    });
  });
});

describe('SqlStore (workerd SQLite): snapshot parts', () => {
  it('written with the snapshot; a part over 2 MB is spilled, its spill rows go when it is deleted or replaced; an aborted commit changes neither snapshot nor parts; they survive a new store object', async () => {
    await runInDurableObject(e.REPLICA.get(e.REPLICA.idFromName('sql-store-parts')), async (_obj, state) => {
      let store = new SqlStore(state.storage);
      const spillRows = () => Number(state.storage.sql.exec('SELECT count(*) AS c FROM spill').one()['c']);
      const digests = (m: ReadonlyMap<string, Uint8Array>) => new Map([...m].map(([k, v]) => [k, d(v)]));
      const kept1 = big(2 * 1024 * 1024 + 1, 0x5b);
      const kept2 = big(3 * 1024 * 1024, 0x22);
      const mark = new Uint8Array([0xff, 1, 2]); // starts with the reference mark: spilled whatever its size
      await store.commit({ ...emptyBatch(), snapshot: new Uint8Array([1]), snapshotParts: { put: new Map([['ab-finished/1', kept1], ['ab-finished/2', kept2], ['recent/1', mark], ['recent/2', new Uint8Array([7])]]), delete: [] } });
      let loaded = await store.load();
      expect(digests(loaded.snapshotParts)).toEqual(digests(new Map([['ab-finished/1', kept1], ['ab-finished/2', kept2], ['recent/1', mark], ['recent/2', new Uint8Array([7])]])));
      expect(spillRows()).toBe(3 + 3 + 1);

      // The database aborts the next snapshot commit at its last write: snapshot, parts and spill rows stay.
      state.storage.sql.exec("CREATE TRIGGER parts_boom BEFORE INSERT ON app_state WHEN NEW.k = 'boom' BEGIN SELECT RAISE(ABORT, 'boom'); END");
      const next = { put: new Map([['ab-finished/2', new Uint8Array([2])], ['ab-finished/3', big(SPILL_THRESHOLD + 1, 3)]]), delete: ['ab-finished/1', 'recent/1'] };
      const aborted = { ...emptyBatch(), snapshot: new Uint8Array([2]), snapshotParts: next };
      aborted.app.push({ app: 'ca', key: 'boom', value: new Uint8Array([5]) });
      await expect(store.commit(aborted)).rejects.toThrow(/boom/);
      state.storage.sql.exec('DROP TRIGGER parts_boom');
      loaded = await store.load();
      expect(d(loaded.snapshot)).toBe(d(new Uint8Array([1])));
      expect(digests(loaded.snapshotParts)).toEqual(digests(new Map([['ab-finished/1', kept1], ['ab-finished/2', kept2], ['recent/1', mark], ['recent/2', new Uint8Array([7])]])));
      expect(spillRows()).toBe(7);

      // Deleted and replaced parts drop their spill rows; the new big part spills.
      await store.commit({ ...emptyBatch(), snapshot: new Uint8Array([2]), snapshotParts: next });
      expect(spillRows()).toBe(2);
      await store.commit({ ...emptyBatch(), snapshot: new Uint8Array([3]), snapshotParts: { put: new Map(), delete: ['ab-finished/3'] } });
      expect(spillRows()).toBe(0);
      store = new SqlStore(state.storage);
      loaded = await store.load();
      expect(d(loaded.snapshot)).toBe(d(new Uint8Array([3])));
      expect(digests(loaded.snapshotParts)).toEqual(digests(new Map([['ab-finished/2', new Uint8Array([2])], ['recent/2', new Uint8Array([7])]])));
    });
  });
});

describe('SqlStore (workerd SQLite): history queries', () => {
  it('first index of an id, Merkle nodes, entries, checkpoints by size (equal sizes: the earliest epoch)', async () => {
    await runInDurableObject(e.REPLICA.get(e.REPLICA.idFromName('sql-store-history')), async (_obj, state) => {
      const store = new SqlStore(state.storage);
      const id = (k: number) => String(k).padStart(64, '0');
      const node = (level: number, index: number) => ({ level, index, hash: new Uint8Array(32).fill(16 * level + index) });
      const cp = (epoch: number, size: number) => ({ epoch, size, root: new Uint8Array(32).fill(epoch), stateDigest: new Uint8Array(32).fill(7), time: 1_765_000_000_000 + epoch, timeChain: new Uint8Array(32).fill(epoch + 2), signature: new Uint8Array(48).fill(epoch + 1) });
      const b = emptyBatch();
      b.log.push({ index: 0, id: id(0), epoch: 1, time: 11, entry: new Uint8Array([1]) }, { index: 1, id: id(1), epoch: 1, time: 11, entry: new Uint8Array([2]) });
      b.nodes.push(node(0, 0), node(0, 1), node(1, 0));
      b.checkpoints.push(cp(3, 1));
      await store.commit(b);
      const b2 = emptyBatch();
      b2.log.push({ index: 2, id: id(0), epoch: 5, time: 15, entry: new Uint8Array([1]) });
      b2.checkpoints.push(cp(4, 2), cp(5, 2), cp(12, 3));
      await store.commit(b2);
      expect(await store.indexOfIds([id(0), id(7)])).toEqual(new Map([[id(0), 0]]));
      const got = await store.readNodes([{ level: 0, index: 1 }, { level: 1, index: 0 }, { level: 1, index: 1 }]);
      expect([...got.keys()].sort()).toEqual(['0/1', '1/0']);
      expect(toHex(got.get('1/0')!)).toBe(toHex(node(1, 0).hash));
      const entries = await store.entries(0, 3);
      expect(entries.map((x) => [x.index, x.epoch, x.time, [...x.entry]])).toEqual([[0, 1, 11, [1]], [1, 1, 11, [2]], [2, 5, 15, [1]]]);
      expect(await store.checkpointCovering(0)).toMatchObject({ epoch: 3, time: 1_765_000_000_003, timeChain: new Uint8Array(32).fill(5) });
      expect((await store.checkpointCovering(0))?.epoch).toBe(3);
      expect((await store.checkpointCovering(1))?.epoch).toBe(4);
      expect((await store.checkpointCovering(2))?.epoch).toBe(12);
      expect(await store.checkpointCovering(3)).toBeNull();
      expect((await store.checkpointAt(2))?.epoch).toBe(4);
      expect(await store.checkpointAt(0)).toBeNull();
    });
  });
});

describe('SqlStore (workerd SQLite): big batches', () => {
  it('1,000 entries and 1,000 Merkle nodes in one commit (many rows per statement, within the 100-parameter limit) read back exactly', async () => {
    await runInDurableObject(e.REPLICA.get(e.REPLICA.idFromName('sql-store-big-batch')), async (_obj, state) => {
      const store = new SqlStore(state.storage);
      const id = (k: number) => String(k).padStart(64, '0');
      const b = emptyBatch();
      for (let i = 0; i < 1000; i++) b.log.push({ index: i, id: id(i), epoch: 1 + (i >> 7), time: 1 + (i >> 7), entry: new Uint8Array([i & 0xff, i >> 8, 7]) });
      for (let i = 0; i < 1000; i++) b.nodes.push({ level: i % 3, index: i, hash: new Uint8Array(32).fill(i & 0xff) });
      await store.commit(b);
      const entries = await store.entries(0, 1000);
      expect(entries.map((x) => `${x.index}/${x.id}/${x.epoch}/${toHex(x.entry)}`)).toEqual(b.log.map((x) => `${x.index}/${x.id}/${x.epoch}/${toHex(x.entry)}`));
      const nodes = await store.readNodes([{ level: 0, index: 0 }, { level: 2, index: 998 }, { level: 1, index: 999 }]);
      expect([...nodes.keys()].sort()).toEqual(['0/0', '2/998']);
      expect(toHex(nodes.get('2/998')!)).toBe(toHex(new Uint8Array(32).fill(998 & 0xff)));
    });
  });
});

describe('SqlStore (workerd SQLite): application state', () => {
  it('written in the commit\'s transaction (an aborted commit leaves none of it); 2,000 keys read within the 100-parameter limit', async () => {
    await runInDurableObject(e.REPLICA.get(e.REPLICA.idFromName('sql-store-app')), async (_obj, state) => {
      const store = new SqlStore(state.storage);
      const hex = (m: Map<string, Uint8Array>) => new Map([...m].map(([k, v]) => [k, toHex(v)]));
      const key = (i: number) => `n/${i.toString(16).padStart(80, '0')}`;
      const b1 = emptyBatch();
      b1.journal.push(new Uint8Array([1]));
      for (let i = 1; i < 2000; i += 2) b1.app.push({ app: 'notary', key: key(i), value: new Uint8Array([i & 0xff, i >> 8]) });
      b1.app.push({ app: 'notary', key: 'head', value: new Uint8Array([1]) }, { app: 'notary', key: 'head', value: new Uint8Array([0xff, 2]) }, { app: 'notary', key: 'empty', value: new Uint8Array(0) });
      b1.app.push({ app: 'ca', key: key(0), value: new Uint8Array([7]) }, { app: 'ca', key: 'gone', value: new Uint8Array([7]) }, { app: 'ca', key: 'gone', value: null });
      await store.commit(b1);
      // More keys than one statement may bind (Durable Object SQLite: 100 parameters) and than SQLite's default limit.
      const got = await store.readAppState('notary', [...Array.from({ length: 2000 }, (_, i) => key(i)), 'head', 'empty', 'gone']);
      expect(got.size).toBe(1002);
      expect(toHex(got.get(key(1999))!)).toBe('cf07');
      expect(got.has(key(0))).toBe(false);
      expect(toHex(got.get('head')!)).toBe('ff02');
      expect(got.get('empty')!.length).toBe(0);
      expect(hex(await store.readAppState('ca', [key(0), key(1), 'gone']))).toEqual(new Map([[key(0), '07']]));

      // The database aborts the commit at its last write: nothing of the batch stays, app writes included.
      state.storage.sql.exec("CREATE TRIGGER app_boom BEFORE INSERT ON app_state WHEN NEW.k = 'boom' BEGIN SELECT RAISE(ABORT, 'boom'); END");
      const b2 = emptyBatch();
      b2.journal.push(new Uint8Array([2]));
      b2.meta.set('k', 'v');
      b2.app.push({ app: 'notary', key: 'head', value: new Uint8Array([3]) }, { app: 'notary', key: key(1), value: null }, { app: 'ca', key: 'new', value: new Uint8Array([4]) }, { app: 'ca', key: 'boom', value: new Uint8Array([5]) });
      await expect(store.commit(b2)).rejects.toThrow(/boom/);
      state.storage.sql.exec('DROP TRIGGER app_boom');
      const loaded = await store.load();
      expect(loaded.journal.map(toHex)).toEqual(['01']);
      expect(loaded.meta.size).toBe(0);
      expect(hex(await store.readAppState('notary', ['head', key(1)]))).toEqual(new Map([['head', 'ff02'], [key(1), '0100']]));
      expect(hex(await store.readAppState('ca', ['new', 'boom']))).toEqual(new Map());
    });
  });
});
