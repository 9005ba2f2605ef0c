/**
 * The Node replica's stores against the ReplicaStore contract that MemoryStore defines (workers/core/store.ts):
 * RedisStore through the real @upstash/redis client, the Upstash-REST bridge and a real redis-server, and
 * SqliteStore on a temp folder. Then what only one backend has: a transaction broken before EXEC leaves
 * nothing (application state included, and a snapshot with its parts); a second writer or a partly applied EXEC stops the replica for good;
 * Redis unreachable fails commits quickly and loses nothing; a SQLite commit the database aborts leaves
 * nothing (nor changes the snapshot parts or their spilled rows, which go when a part is deleted); a SQLite writer killed after its commits loses none of them; the folder lock. And Redis durability: a server without appendonly yes +
 * appendfsync always is refused at start and at every load, one that does not answer CONFIG is warned
 * about (refused with SINTRA_REDIS_DURABILITY=require), and storage that went back in time (a server
 * restarted without persistence) stops the replica for good.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SignedCheckpoint } from '../../shared/log/checkpoint.ts';
import type { LogAppend } from '../../shared/replica/engine.ts';
import { MemoryStore, emptyBatch } from '../../workers/core/store.ts';
import type { ReplicaStore, WriteBatch } from '../../workers/core/store.ts';
import { DATABASE_FILE, SqliteStore } from '../../workers/node/sqlite-store.ts';
import Database from 'better-sqlite3';
import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { deal } from '../../shared/config/deal.ts';
import { parseGroup, parseReplicaSecrets } from '../../shared/config/group.ts';
import { seededRandom } from '../../shared/crypto/random.ts';
import { thresholdStructure } from '../../shared/quorum/structure-file.ts';
import { main } from '../../infra/cli/main.ts';
import { openStore } from '../../workers/node/config.ts';
import { RedisStore, redisClient } from '../../workers/node/redis-store.ts';
import { StoreConflictError, StoreLockedError, StoreNotDurableError } from '../../workers/node/store-errors.ts';
import { HAVE_REDIS, REDIS_SKIP_MESSAGE, startRedis } from '../helpers/redis.ts';
import { useRedisBehindBridge } from '../helpers/redis-bridge.ts';
import type { TestRedis } from '../helpers/redis.ts';
import { startUpstashBridge } from '../helpers/upstash-bridge.ts';
import type { UpstashBridge } from '../helpers/upstash-bridge.ts';

const bytes = (...xs: number[]) => new Uint8Array(xs);
const ALL_BYTES = Uint8Array.from({ length: 256 }, (_, i) => i);
/** A snapshot part over 2 MB (an epoch's kept batch): over Durable Object SQLite's limit per value. */
const BIG_PART = Uint8Array.from({ length: 2 * 1024 * 1024 + 3 }, (_, i) => (i * 7 + 0x5b) & 0xff);
/**
 * Values by length and digest: toEqual on megabyte arrays blocks the event loop for seconds (and with it the
 * in-process Upstash bridge, whose idle connections then time out under the client).
 */
const digests = (m: ReadonlyMap<string, Uint8Array>) => new Map([...m].map(([k, v]) => [k, `${v.length}:${createHash('sha256').update(v).digest('hex')}`]));

function batch(parts: Partial<WriteBatch>): WriteBatch {
  return { ...emptyBatch(), ...parts };
}

const entry = (index: number, epoch = 1): LogAppend => ({ index, id: `${index}`.padStart(64, '0'), epoch, time: 1_765_000_000_000 + epoch, entry: bytes(index, 0, 255, index) });
const checkpoint = (epoch: number, size: number): SignedCheckpoint => ({
  epoch,
  size,
  root: new Uint8Array(32).fill(epoch),
  stateDigest: new Uint8Array(32).fill(7),
  time: 1_765_000_000_000 + epoch,
  timeChain: new Uint8Array(32).fill(epoch + 2),
  signature: new Uint8Array(48).fill(epoch + 1),
});

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
      expect(l).toEqual({ snapshot: null, snapshotParts: new Map(), journal: [], outbox: [], inbox: new Map(), meta: new Map() });
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
      for (const reopen of [false, true]) {
        if (reopen) s = await b.reopen(s);
        const store = s;
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

    it('snapshot parts: written with their snapshot; a later snapshot deletes and puts (replacing a key); binary and 2 MB values intact; after a reopen', async () => {
      const b = backend();
      let s = await b.make();
      await s.load();
      const mark = Uint8Array.from(ALL_BYTES).reverse(); // starts with 0xFF, the SQL store's reference mark
      await s.commit(
        batch({
          snapshot: bytes(1),
          journal: [],
          snapshotParts: {
            put: new Map([
              ['ab-finished/1', ALL_BYTES],
              ['ab-finished/2', BIG_PART],
              ['recent/1', mark],
              ['recent/2', new Uint8Array(0)],
            ]),
            delete: [],
          },
        }),
      );
      await s.commit(batch({ journal: [bytes(9)] }));
      s = await b.reopen(s);
      let l = await s.load();
      expect(l.snapshot).toEqual(bytes(1));
      expect(l.journal).toEqual([bytes(9)]);
      expect(digests(l.snapshotParts)).toEqual(
        digests(new Map([
          ['ab-finished/1', ALL_BYTES],
          ['ab-finished/2', BIG_PART],
          ['recent/1', mark],
          ['recent/2', new Uint8Array(0)],
        ])),
      );
      // Deleted (and one never stored), replaced, added; the others stay as they were.
      await s.commit(
        batch({
          snapshot: bytes(2),
          journal: [],
          snapshotParts: { put: new Map([['recent/1', bytes(7)], ['ab-delivered/3', bytes(3)]]), delete: ['ab-finished/2', 'recent/2', 'recent/99'] },
        }),
      );
      const want = new Map([
        ['ab-finished/1', ALL_BYTES],
        ['recent/1', bytes(7)],
        ['ab-delivered/3', bytes(3)],
      ]);
      for (const reopen of [false, true]) {
        if (reopen) s = await b.reopen(s);
        l = await s.load();
        expect(l.snapshot).toEqual(bytes(2));
        expect(l.journal).toEqual([]);
        expect(digests(l.snapshotParts)).toEqual(digests(want));
      }
      // A key both deleted and put in one batch ends up put; a snapshot without parts leaves them.
      await s.commit(batch({ snapshot: bytes(3), journal: [], snapshotParts: { put: new Map([['recent/1', bytes(8)]]), delete: ['recent/1', 'ab-delivered/3'] } }));
      await s.commit(batch({ snapshot: bytes(4), journal: [] }));
      l = await s.load();
      expect(l.snapshot).toEqual(bytes(4));
      expect(l.snapshotParts).toEqual(new Map([['ab-finished/1', ALL_BYTES], ['recent/1', bytes(8)]]));
    });

    it('history queries: first index of an id, Merkle nodes, entries, checkpoints by size, after a reopen', async () => {
      const s = await backend().make();
      await s.load();
      const node = (level: number, index: number) => ({ level, index, hash: new Uint8Array(32).fill(16 * level + index) });
      await s.commit(batch({ journal: [bytes(1)], log: [entry(0), entry(1)], nodes: [node(0, 0), node(0, 1), node(1, 0)], checkpoints: [checkpoint(3, 1)] }));
      // The same request again (replayed after the de-duplication window) keeps naming its first position.
      await s.commit(batch({ log: [{ ...entry(2, 5), id: entry(0).id }], nodes: [node(0, 2)], checkpoints: [checkpoint(4, 2), checkpoint(5, 2), checkpoint(12, 3)] }));
      const b = backend();
      let r = s;
      for (const reopen of [false, true]) {
        if (reopen) r = await b.reopen(r);
        await r.load();
        expect(await r.indexOfIds([entry(0).id, entry(1).id, 'f'.repeat(64)])).toEqual(new Map([[entry(0).id, 0], [entry(1).id, 1]]));
        expect(await r.indexOfIds([])).toEqual(new Map());
        const got = await r.readNodes([{ level: 0, index: 1 }, { level: 1, index: 0 }, { level: 1, index: 1 }]);
        expect([...got.keys()].sort()).toEqual(['0/1', '1/0']);
        expect(got.get('1/0')).toEqual(node(1, 0).hash);
        const [e0, e1, e2] = await r.entries(0, 3);
        expect(e0).toEqual(entry(0));
        expect(e1).toEqual(entry(1));
        expect(e2!.epoch).toBe(5);
        expect((await r.checkpointCovering(0))?.epoch).toBe(3);
        // Sizes 2 twice: the earlier epoch; epochs order numerically, not as text (12 after 5).
        expect((await r.checkpointCovering(1))?.epoch).toBe(4);
        expect((await r.checkpointCovering(2))?.epoch).toBe(12);
        expect(await r.checkpointCovering(3)).toBeNull();
        expect(await r.checkpointAt(2)).toEqual(checkpoint(4, 2));
        expect(await r.checkpointAt(0)).toBeNull();
      }
    });

    it('application state: written with its batch, the last write to a key wins, null deletes, apps apart, after a reopen', async () => {
      const b = backend();
      let s = await b.make();
      await s.load();
      const digest = `d/${'ab'.repeat(32)}`;
      const long = `~r/${'9'.repeat(197)}`; // the longest key, 200 characters
      await s.commit(
        batch({
          journal: [bytes(1)],
          app: [
            { app: 'notary', key: 'head', value: bytes(1) },
            { app: 'notary', key: digest, value: ALL_BYTES },
            { app: 'ca', key: 'head', value: bytes(9, 9) },
            { app: 'notary', key: 'head', value: bytes(3) },
            { app: 'notary', key: 'gone', value: bytes(2) },
            { app: 'notary', key: 'gone', value: null },
            { app: 'notary', key: 'back', value: null },
            { app: 'notary', key: 'back', value: bytes(4) },
            { app: 'notary', key: 'empty', value: new Uint8Array(0) },
            { app: 'ca', key: long, value: bytes(0xff, 0) },
          ],
        }),
      );
      await s.commit(batch({ app: [{ app: 'ca', key: 'head', value: null }, { app: 'notary', key: digest, value: bytes(5) }, { app: 'notary', key: 'never', value: null }] }));
      for (const reopen of [false, true]) {
        if (reopen) s = await b.reopen(s);
        await s.load();
        const keys = ['head', digest, 'gone', 'back', 'empty', 'never', long];
        expect(await s.readAppState('notary', keys)).toEqual(
          new Map([
            ['head', bytes(3)],
            [digest, bytes(5)],
            ['back', bytes(4)],
            ['empty', new Uint8Array(0)],
          ]),
        );
        expect(await s.readAppState('ca', keys)).toEqual(new Map([[long, bytes(0xff, 0)]]));
        expect(await s.readAppState('other', keys)).toEqual(new Map());
        expect(await s.readAppState('notary', [])).toEqual(new Map());
        expect((await s.load()).journal).toEqual([bytes(1)]);
      }
    });

    it('readAppState of 2,000 keys, half of them stored, returns exactly the stored ones', async () => {
      const s = await backend().make();
      await s.load();
      const key = (i: number) => `n/${i.toString(16).padStart(80, '0')}`;
      const value = (i: number) => bytes(i & 0xff, i >> 8, 7);
      const stored = Array.from({ length: 1000 }, (_, j) => 2 * j + 1);
      await s.commit(batch({ app: stored.map((i) => ({ app: 'notary', key: key(i), value: value(i) })) }));
      // The same keys in another application must not show.
      await s.commit(batch({ app: [0, 2, 4].map((i) => ({ app: 'ca', key: key(i), value: bytes(1) })) }));
      const asked = Array.from({ length: 2000 }, (_, i) => key(i)).reverse();
      const got = await s.readAppState('notary', asked);
      expect(got.size).toBe(1000);
      expect(got).toEqual(new Map(stored.map((i) => [key(i), value(i)])));
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
  const servers = useRedisBehindBridge();
  let counter = 0;
  const client = () => redisClient({ url: servers.bridge.url, token: servers.bridge.token, timeoutMs: 3000 });
  const fresh = (prefix = `test:{store-${process.pid}-${counter++}}`) => new RedisStore(client(), prefix);

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

  it('application state: a transaction broken before EXEC leaves none of its writes; reads are one request', async () => {
    const s = fresh();
    await s.load();
    await s.commit(batch({ journal: [bytes(1)], app: [{ app: 'notary', key: 'head', value: bytes(1) }, { app: 'notary', key: 'old', value: bytes(2) }] }));
    // incr, rpush, notary's HSET and HDEL queued; then the connection drops (ca's HSET and EXEC never sent).
    servers.bridge.breakNextTransaction(4);
    const app = [
      { app: 'notary', key: 'head', value: bytes(2) },
      { app: 'notary', key: 'new', value: bytes(3) },
      { app: 'notary', key: 'old', value: null },
      { app: 'ca', key: 'head', value: bytes(4) },
    ];
    await expect(s.commit(batch({ journal: [bytes(2)], app }))).rejects.toThrow();
    const t = fresh(s.prefix);
    expect((await t.load()).journal).toEqual([bytes(1)]);
    expect(await t.readAppState('notary', ['head', 'new', 'old'])).toEqual(new Map([['head', bytes(1)], ['old', bytes(2)]]));
    expect(await t.readAppState('ca', ['head'])).toEqual(new Map());
    await t.commit(batch({ journal: [bytes(3)], app }));
    const before = servers.bridge.requests;
    expect(await t.readAppState('notary', [...Array.from({ length: 3000 }, (_, i) => `k${i}`), 'head', 'new', 'old'])).toEqual(new Map([['head', bytes(2)], ['new', bytes(3)]]));
    expect(servers.bridge.requests - before).toBe(1);
    expect(t.keys(['notary', 'ca'])).toEqual(expect.arrayContaining([`${s.prefix}:app:notary`, `${s.prefix}:app:ca`]));
    expect(((await client().keys(`${s.prefix}:app:*`)) as string[]).sort()).toEqual([`${s.prefix}:app:ca`, `${s.prefix}:app:notary`]);
  });

  it('a transaction broken before EXEC (connection lost mid-way) leaves nothing, and the next commit works', async () => {
    const s = fresh();
    await s.load();
    await s.commit(batch({ journal: [bytes(1)], outbox: [{ peer: 1, id: 1, bytes: bytes(1) }] }));
    servers.bridge.breakNextTransaction(3);
    await expect(s.commit(batch({ journal: [bytes(2)], outbox: [{ peer: 1, id: 2, bytes: bytes(2) }], log: [entry(0)], meta: new Map([['k', 'v']]) }))).rejects.toThrow();
    const l = await fresh(s.prefix).load();
    expect(l.journal).toEqual([bytes(1)]);
    expect(l.outbox.map((m) => m.id)).toEqual([1]);
    expect(l.meta.size).toBe(0);
    expect(await s.entries(0, 1)).toEqual([]);
    await s.commit(batch({ journal: [bytes(3)] }));
    expect((await fresh(s.prefix).load()).journal).toEqual([bytes(1), bytes(3)]);
  });

  it('snapshot parts: a snapshot commit broken before EXEC changes neither the snapshot nor its parts; they are in the hash <prefix>:snapparts', async () => {
    const s = fresh();
    await s.load();
    await s.commit(batch({ snapshot: bytes(1), journal: [], snapshotParts: { put: new Map([['ab-finished/1', bytes(1)], ['recent/1', bytes(2)]]), delete: [] } }));
    await s.commit(batch({ journal: [bytes(5)] }));
    // incr, set snapshot, del journal, HDEL and HSET of the parts queued; then the connection drops (no EXEC).
    servers.bridge.breakNextTransaction(5);
    const parts = { put: new Map([['recent/1', bytes(9)], ['ab-finished/2', bytes(3)]]), delete: ['ab-finished/1'] };
    await expect(s.commit(batch({ snapshot: bytes(2), journal: [], snapshotParts: parts, meta: new Map([['k', 'v']]) }))).rejects.toThrow();
    const t = fresh(s.prefix);
    let l = await t.load();
    expect(l.snapshot).toEqual(bytes(1));
    expect(l.journal).toEqual([bytes(5)]);
    expect(l.snapshotParts).toEqual(new Map([['ab-finished/1', bytes(1)], ['recent/1', bytes(2)]]));
    await t.commit(batch({ snapshot: bytes(2), journal: [], snapshotParts: parts }));
    l = await fresh(s.prefix).load();
    expect(l.snapshot).toEqual(bytes(2));
    expect(l.snapshotParts).toEqual(new Map([['recent/1', bytes(9)], ['ab-finished/2', bytes(3)]]));
    expect(t.keys()).toContain(`${s.prefix}:snapparts`);
    expect(await client().hkeys(`${s.prefix}:snapparts`)).toEqual(expect.arrayContaining(['recent/1', 'ab-finished/2']));
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
    await servers.bridge.stop();
    const t0 = Date.now();
    await expect(s.commit(batch({ journal: [bytes(2)] }))).rejects.toThrow();
    await expect(s.load()).rejects.toThrow();
    expect(Date.now() - t0).toBeLessThan(2000);
    await servers.bridge.start();
    const l = await s.load();
    expect(l.journal).toEqual([bytes(1)]);
    await s.commit(batch({ journal: [bytes(3)] }));
    expect((await fresh(s.prefix).load()).journal).toEqual([bytes(1), bytes(3)]);
    expect(await s.entries(0, 5)).toEqual([entry(0)]);
  });
});

describe.skipIf(!HAVE_REDIS)('Redis durability: the replica runs only on Redis that keeps every acknowledged write', () => {
  const dealt = deal(thresholdStructure(4, 1), seededRandom('redis-durability'), { testOnly: true });
  const group = parseGroup(JSON.parse(JSON.stringify(dealt.group)));
  const secrets = parseReplicaSecrets(dealt.secrets[2], group);
  const servers: { close(): Promise<void> }[] = [];
  const started = async <T extends { close(): Promise<void> }>(x: T): Promise<T> => (servers.push(x), x);
  const server = async (durable: boolean, refuse?: readonly string[]) => {
    const redis = await startRedis({ durable });
    servers.push({ close: () => redis.stop() });
    const bridge = await started(await startUpstashBridge(redis.port, refuse ? { refuse } : {}));
    return { redis, bridge };
  };
  let counter = 0;
  const spec = (b: UpstashBridge, durability?: 'verify' | 'require') =>
    ({ kind: 'redis', url: b.url, token: b.token, prefix: `test:{durability-${counter++}}`, timeoutMs: 3000, ...(durability ? { durability } : {}) }) as const;

  afterAll(async () => {
    for (const s of servers.reverse()) await s.close();
  });

  it('appendonly yes + appendfsync always (the tests\' default server) is durable, and the store opens', async () => {
    const { bridge } = await server(true);
    const lines: string[] = [];
    const store = (await openStore(spec(bridge), group, secrets, (l) => lines.push(l))) as RedisStore;
    expect(await store.durability()).toEqual({ verdict: 'durable', detail: 'appendonly yes, appendfsync always' });
    await store.load();
    await store.commit(batch({ journal: [bytes(1)] }));
    expect(lines).toEqual([]);
  });

  it('a server without persistence is refused at start with one line, and a store on it refuses every load', async () => {
    const { bridge } = await server(false);
    const lines: string[] = [];
    const open = openStore(spec(bridge), group, secrets, (l) => lines.push(l));
    await expect(open).rejects.toThrow(StoreNotDurableError);
    const message = await open.then(() => '', (e: Error) => e.message);
    expect(message).toMatch(/^Redis at 127\.0\.0\.1:\d+ does not keep every acknowledged write \(appendonly no, appendfsync everysec\): .* Set appendonly yes and appendfsync always/);
    expect(message).not.toContain('\n');
    const store = new RedisStore(redisClient({ url: bridge.url, token: bridge.token }), 'test:{durability-load}', { durability: 'verify' });
    await expect(store.load()).rejects.toThrow(StoreNotDurableError);
  });

  it('persistence switched off (or eviction on) while the replica runs is refused at the next load; switched back, the replica loads again', async () => {
    const { bridge } = await server(true);
    const store = (await openStore(spec(bridge), group, secrets)) as RedisStore;
    await store.load();
    await store.commit(batch({ journal: [bytes(1)] }));
    const admin = redisClient({ url: bridge.url, token: bridge.token });
    await admin.exec(['CONFIG', 'SET', 'appendfsync', 'everysec']);
    await expect(store.load()).rejects.toThrow(/appendonly yes, appendfsync everysec/);
    await admin.exec(['CONFIG', 'SET', 'appendfsync', 'always']);
    expect((await store.load()).journal).toEqual([bytes(1)]);
    // Eviction under a memory limit loses acknowledged writes too.
    await admin.exec(['CONFIG', 'SET', 'maxmemory', '100mb']);
    await admin.exec(['CONFIG', 'SET', 'maxmemory-policy', 'allkeys-lru']);
    await expect(store.load()).rejects.toThrow(/\(appendonly yes, appendfsync always, maxmemory 104857600 with maxmemory-policy allkeys-lru\)/);
    await admin.exec(['CONFIG', 'SET', 'maxmemory-policy', 'noeviction']);
    expect((await store.load()).journal).toEqual([bytes(1)]);
  });

  it('a server that does not answer CONFIG (as Upstash): one loud warning and it runs; refused with SINTRA_REDIS_DURABILITY=require', async () => {
    const { bridge } = await server(true, ['CONFIG']);
    const lines: string[] = [];
    const store = (await openStore(spec(bridge), group, secrets, (l) => lines.push(l))) as RedisStore;
    expect((await store.durability()).verdict).toBe('unknown');
    await store.load();
    await store.load();
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 'warn', event: 'redis-durability' });
    expect((JSON.parse(lines[0]!) as { msg: string }).msg).toMatch(/^WARNING: cannot verify that Redis at 127\.0\.0\.1:\d+ keeps every acknowledged write \(CONFIG GET was refused: ERR command CONFIG is not available \(test bridge\)\)\. It must: appendonly yes \+ appendfsync always/);
    await expect(openStore(spec(bridge, 'require'), group, secrets)).rejects.toThrow(/^cannot verify that Redis at .* and SINTRA_REDIS_DURABILITY=require/);
  });

  it('Redis unreachable at start: the store opens and checks before its first load', async () => {
    const { bridge } = await server(false);
    await bridge.stop();
    const lines: string[] = [];
    const store = (await openStore(spec(bridge), group, secrets, (l) => lines.push(l))) as RedisStore;
    expect(lines.join('\n')).toMatch(/could not check the durability of Redis at 127\.0\.0\.1:\d+ yet/);
    await bridge.start();
    await expect(store.load()).rejects.toThrow(StoreNotDurableError);
  });

  it('storage that went back in time (a server restarted without persistence) stops the replica for good', async () => {
    const { redis, bridge } = await server(false);
    // No durability check here: this is what a replica on such a server would live through.
    const s = new RedisStore(redisClient({ url: bridge.url, token: bridge.token, timeoutMs: 3000 }), 'test:{rollback}');
    await s.load();
    for (let i = 1; i <= 3; i++) await s.commit(batch({ journal: [bytes(i)] }));
    await redis.restart(); // SIGKILL, then start again: everything acknowledged is gone
    await expect(s.load()).rejects.toThrow(/storage went back in time: Redis holds 0 commits of this replica where this process has seen 3/);
    await expect(s.commit(batch({ journal: [bytes(4)] }))).rejects.toThrow(StoreConflictError);
    // A restarted process refuses too: the stop is recorded in storage.
    await expect(new RedisStore(redisClient({ url: bridge.url, token: bridge.token }), 'test:{rollback}').load()).rejects.toThrow(/marked inconsistent: .*went back in time/);

    // The same at a commit: storage goes back between two commits of a running replica.
    const t = new RedisStore(redisClient({ url: bridge.url, token: bridge.token, timeoutMs: 3000 }), 'test:{rollback-commit}');
    await t.load();
    for (let i = 1; i <= 3; i++) await t.commit(batch({ journal: [bytes(i)] }));
    await redis.restart();
    await expect(t.commit(batch({ journal: [bytes(4)] }))).rejects.toThrow(/storage went back in time: Redis holds 0 commits of this replica where this process has seen 3/);
  });

  it('`sintra node-replica --redis-url` on a server without persistence: one error line, exit 1', async () => {
    const { bridge } = await server(false);
    const dir = mkdtempSync(join(tmpdir(), 'sintra-durability-cli-'));
    try {
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, 'group.json'), JSON.stringify(dealt.group));
      await writeFile(join(dir, 'r3.secrets.json'), JSON.stringify(dealt.secrets[2]), { mode: 0o600 });
      const io = { stdout: '', stderr: '', out: (x: string) => void (io.stdout += x), err: (x: string) => void (io.stderr += x) };
      const before = process.env['UPSTASH_REDIS_REST_TOKEN'];
      process.env['UPSTASH_REDIS_REST_TOKEN'] = bridge.token;
      let code: number;
      try {
        const peers = JSON.stringify(['http://127.0.0.1:9', 'http://127.0.0.1:9', null, 'http://127.0.0.1:9']);
        code = await main(['node', 'sintra', 'node-replica', '--group', join(dir, 'group.json'), '--secrets', join(dir, 'r3.secrets.json'), '--peers', peers, '--port', '0', '--redis-url', bridge.url], io);
      } finally {
        if (before === undefined) delete process.env['UPSTASH_REDIS_REST_TOKEN'];
        else process.env['UPSTASH_REDIS_REST_TOKEN'] = before;
      }
      expect(code).toBe(1);
      expect(io.stdout).toBe('');
      expect(io.stderr.trim().split('\n')).toHaveLength(1);
      expect(io.stderr).toMatch(/^error: Redis at 127\.0\.0\.1:\d+ does not keep every acknowledged write \(appendonly no, appendfsync everysec\)/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

if (!HAVE_REDIS) describe('RedisStore', () => it.skip(REDIS_SKIP_MESSAGE, () => undefined));

describe('SqliteStore (the Durable Object\'s SQL store on a SQLite file, WAL + synchronous=FULL)', () => {
  let root: string;
  let counter = 0;
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'sintra-sqlitestore-'));
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const dirOf = (s: ReplicaStore) => (s as SqliteStore).dir;

  contract('SqliteStore', () => ({
    make: () => SqliteStore.open(join(root, `c${counter++}`)),
    reopen: async (s) => {
      await (s as SqliteStore).close();
      return SqliteStore.open(dirOf(s));
    },
  }));

  it('a process killed (SIGKILL) right after its commits returned loses none of them', async () => {
    const dir = join(root, 'killed');
    const script = join(root, 'writer.mts');
    writeFileSync(
      script,
      `import { SqliteStore } from ${JSON.stringify(join(process.cwd(), 'workers/node/sqlite-store.ts'))};
const s = await SqliteStore.open(${JSON.stringify(dir)});
await s.load();
for (let i = 0; i < 40; i++) {
  await s.commit({ journal: [new Uint8Array([i])], outbox: [], outboxDelete: [], log: [{ index: i, id: String(i).padStart(64, '0'), epoch: 1, time: 1, entry: new Uint8Array([i, 7]) }], nodes: [{ level: 0, index: i, hash: new Uint8Array(32).fill(i) }], checkpoints: [], inbox: new Map(), meta: new Map([['k', String(i)]]), app: [{ app: 'notary', key: 'head', value: new Uint8Array([i]) }] });
}
process.stdout.write('committed\\n');
setInterval(() => undefined, 1000);
`,
    );
    const child = spawn(process.execPath, ['--import', 'tsx', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((done, fail) => {
      child.stdout.on('data', (d: Buffer) => {
        if (d.toString().includes('committed')) done();
      });
      child.on('exit', (code) => fail(new Error(`writer exited with ${code}`)));
    });
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    // The dead writer's lock is taken over; everything it committed is there.
    const s = await SqliteStore.open(dir);
    const l = await s.load();
    expect(l.journal.length).toBe(40);
    expect(l.meta.get('k')).toBe('39');
    expect((await s.entries(0, 100)).length).toBe(40);
    expect((await s.indexOfIds([String(39).padStart(64, '0')])).get(String(39).padStart(64, '0'))).toBe(39);
    expect(await s.readAppState('notary', ['head'])).toEqual(new Map([['head', bytes(39)]]));
    await s.close();
  }, 60_000);

  it('one process per folder: a live owner locks it, a dead owner does not', async () => {
    const dir = join(root, 'locked');
    const s = await SqliteStore.open(dir);
    await expect(SqliteStore.open(dir)).rejects.toThrow(StoreLockedError);
    await s.close();
    const t = await SqliteStore.open(dir);
    await t.close();
    writeFileSync(join(dir, 'LOCK'), '2147483646\n'); // no such process
    const u = await SqliteStore.open(dir);
    await u.close();
  });

  it('a commit that fails after its application writes (the database aborts it) leaves none of them, nor the rest of its batch', async () => {
    const dir = join(root, 'app-abort');
    const s = await SqliteStore.open(dir);
    await s.load();
    await s.commit(batch({ journal: [bytes(1)], app: [{ app: 'notary', key: 'head', value: bytes(1) }, { app: 'notary', key: 'old', value: bytes(2) }] }));
    // A second connection adds a trigger that aborts the transaction at the batch's last write.
    const other = new Database(join(dir, DATABASE_FILE));
    other.exec("CREATE TRIGGER boom BEFORE INSERT ON app_state WHEN NEW.k = 'boom' BEGIN SELECT RAISE(ABORT, 'boom'); END");
    const app = [
      { app: 'notary', key: 'head', value: bytes(2) },
      { app: 'notary', key: 'new', value: bytes(3) },
      { app: 'notary', key: 'old', value: null },
      { app: 'ca', key: 'head', value: bytes(4) },
    ];
    await expect(s.commit(batch({ journal: [bytes(2)], log: [entry(0)], meta: new Map([['k', 'v']]), app: [...app, { app: 'ca', key: 'boom', value: bytes(5) }] }))).rejects.toThrow(/boom/);
    other.exec('DROP TRIGGER boom');
    other.close();
    const l = await s.load();
    expect(l.journal).toEqual([bytes(1)]);
    expect(l.meta.size).toBe(0);
    expect(await s.entries(0, 1)).toEqual([]);
    expect(await s.readAppState('notary', ['head', 'new', 'old'])).toEqual(new Map([['head', bytes(1)], ['old', bytes(2)]]));
    expect(await s.readAppState('ca', ['head', 'boom'])).toEqual(new Map());
    await s.commit(batch({ journal: [bytes(3)], app }));
    expect(await s.readAppState('notary', ['head', 'new', 'old'])).toEqual(new Map([['head', bytes(2)], ['new', bytes(3)]]));
    await s.close();
  });

  it('snapshot parts: one over 2 MB is spilled and its spill rows go when it is deleted or replaced; an aborted commit changes neither the snapshot nor the parts', async () => {
    const dir = join(root, 'snapshot-parts');
    const s = await SqliteStore.open(dir);
    await s.load();
    const other = new Database(join(dir, DATABASE_FILE));
    const spillRows = () => Number((other.prepare('SELECT count(*) AS c FROM spill').get() as { c: number }).c);
    const big = (seed: number) => Uint8Array.from({ length: 2 * 1024 * 1024 + 1 }, (_, i) => (i + seed) & 0x7f);
    await s.commit(batch({ snapshot: bytes(1), journal: [], snapshotParts: { put: new Map([['ab-finished/1', big(1)], ['ab-finished/2', big(2)], ['recent/1', bytes(1)]]), delete: [] } }));
    expect(spillRows()).toBe(6); // two parts of 2 MB + 1 byte, in 1 MB parts
    // The database aborts the next snapshot commit at its last write: the snapshot, the parts and their spill rows stay.
    other.exec("CREATE TRIGGER boom BEFORE INSERT ON app_state WHEN NEW.k = 'boom' BEGIN SELECT RAISE(ABORT, 'boom'); END");
    const next = { put: new Map([['ab-finished/2', bytes(2)], ['recent/2', big(3)]]), delete: ['ab-finished/1', 'recent/1'] };
    await expect(s.commit(batch({ snapshot: bytes(2), journal: [], snapshotParts: next, app: [{ app: 'ca', key: 'boom', value: bytes(5) }] }))).rejects.toThrow(/boom/);
    other.exec('DROP TRIGGER boom');
    let l = await s.load();
    expect(l.snapshot).toEqual(bytes(1));
    expect(digests(l.snapshotParts)).toEqual(digests(new Map([['ab-finished/1', big(1)], ['ab-finished/2', big(2)], ['recent/1', bytes(1)]])));
    expect(spillRows()).toBe(6);
    // Deleting one spilled part and replacing the other by a small value drops their spill rows; a new big part spills.
    await s.commit(batch({ snapshot: bytes(2), journal: [], snapshotParts: next }));
    expect(spillRows()).toBe(3); // only recent/2's
    await s.commit(batch({ snapshot: bytes(3), journal: [], snapshotParts: { put: new Map(), delete: ['recent/2'] } }));
    expect(spillRows()).toBe(0);
    other.close();
    await s.close();
    const t = await SqliteStore.open(dir);
    l = await t.load();
    expect(l.snapshot).toEqual(bytes(3));
    expect(l.snapshotParts).toEqual(new Map([['ab-finished/2', bytes(2)]]));
    await t.close();
  });

  it('values over 1 MB are stored in parts and read back exactly', async () => {
    const s = await SqliteStore.open(join(root, 'big'));
    const big = Uint8Array.from({ length: 3 * 1024 * 1024 + 5 }, (_, i) => (i * 31) & 0xff);
    await s.commit(batch({ snapshot: big, journal: [] }));
    expect((await s.load()).snapshot).toEqual(big);
    await s.close();
  });
});
