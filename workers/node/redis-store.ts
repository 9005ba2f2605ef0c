/**
 * ReplicaStore on Redis through @upstash/redis (REST), for Node replicas and AWS Lambda (issue 5).
 *
 * Persist before send (docs/design.md section 8): every commit is ONE MULTI/EXEC (`redis.multi()`, Upstash's
 * /multi-exec), never a pipeline, so an event's journal entry, outbox messages, log entries, checkpoints,
 * link state and the applications' state changes are applied together or not at all: a transaction whose
 * request never reaches EXEC is discarded by Redis. Loads are one MULTI/EXEC of reads, so they see one
 * consistent state.
 *
 * Keys (one replica = one prefix `sintra:{<group id hex>:<replica id>}`; the braces keep all of a replica's
 * keys in one cluster slot, which MULTI needs on a clustered Redis):
 *   journal      list    base64 events, in order (RPUSH)
 *   snapshot     string  base64 engine snapshot; a snapshot commit sets it and DELs journal in the same EXEC
 *   snapparts    hash    the snapshot's parts (WriteBatch.snapshotParts): key -> base64 value; a snapshot
 *                        commit HDELs the deleted ones and HSETs the new ones in the same EXEC
 *   outbox       hash    "<peer>/<id>" -> base64 message
 *   log          hash    "<index>" -> JSON {id, epoch, time, entry(base64), responses?: {app: base64}}  (idempotent by index)
 *   ids          hash    request id -> "<index>" of its first entry (HSETNX)
 *   nodes        hash    "<level>/<index>" -> base64 Merkle node (shared/log/merkle-nodes.ts)
 *   checkpoints  hash    "<epoch>" -> JSON {size, root, state, time?, chain?, signature} (base64 fields; time a number)
 *   sizes        zset    checkpoint epoch (16 digits, so equal sizes order by epoch) scored by its size
 *   inbox        hash    "<peer>" -> JSON {floor, above}
 *   meta         hash    name -> value
 *   app:<name>   hash    application <name>'s state (shared/app/types.ts AppState): key -> base64 value
 *   commits      string  number of commits ever (INCR in every transaction)
 *   conflict     string  set once a conflict was detected: every later load refuses to start
 *   beacon       hash    "<round>" -> base64 beacon signature (RedisBeaconStore: outside the commits, see beacon-store.ts)
 *
 * Why `commits`: MULTI/EXEC is atomic but not conditional (WATCH needs a connection, REST has none). Two
 * processes on one replica's state (two concurrent Lambda instances; a timed-out commit of ours that lands
 * after we reloaded) would interleave events that no single engine produced, and the outbox could then
 * hold two different messages for one protocol instance (equivocation). Each process knows how many
 * commits it saw; the INCR result of its next transaction tells whether anyone else wrote in between. If
 * so, this commit's messages are never sent (commit throws), and the replica stops for good: a crash, which
 * the adversary structure tolerates, instead of a Byzantine replica. Redis does not roll back a command
 * that fails inside EXEC either, so such a failure stops the replica the same way (our own commands only
 * fail like that if someone else wrote our keys with other types).
 *
 * The same counter catches storage that went back in time while this process ran (Redis restarted from
 * an older snapshot or without persistence, a failover to a replica that lagged): a load or a commit that
 * finds fewer commits than this process has seen stops the replica for good too. The replica may have
 * sent messages that storage no longer remembers, and signing again from the older state would be
 * equivocation. (A restart of this process while storage is rolled back cannot be told apart from a
 * normal start: storage must simply never go back, see below.)
 *
 * Durability: every commit must survive a crash of Redis (docs/operations.md, "Storage durability and
 * failure domains"). With `durability` set (openStore always sets it) the store asks Redis for its
 * persistence settings (CONFIG GET append*, maxmemory*) before every load and refuses to run unless they
 * are appendonly yes + appendfsync always, without an eviction policy under a memory limit. Servers that
 * do not answer CONFIG (Upstash, which documents no CONFIG command, and other managed services) cannot be
 * checked: a loud warning ('verify'), or a refusal ('require').
 *
 * Values are base64 or JSON text because the REST protocol is JSON; the client is used with
 * automaticDeserialization off, so strings come back exactly as written.
 */
import { Redis, errors } from '@upstash/redis';
import { nodeKey } from '../../shared/log/merkle-nodes.ts';
import type { NodeKey } from '../../shared/log/merkle-nodes.ts';
import type { LogAppend } from '../../shared/replica/engine.ts';
import type { SignedCheckpoint } from '../../shared/log/checkpoint.ts';
import type { InboxState, LoadedState, ReplicaStore, StoredEntry, StoredOutboxMessage, WriteBatch } from '../core/store.ts';
import { StoreConflictError, StoreNotDurableError } from './store-errors.ts';
import { logLine } from '../core/log.ts';
import type { BeaconStore } from '../core/beacon-store.ts';

const b64 = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64');
const unb64 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'base64'));

export interface RedisConnection {
  readonly url: string;
  readonly token: string;
  /** Per-request timeout (ms); a commit that times out has an unknown outcome and the host reloads. */
  readonly timeoutMs?: number;
}

/**
 * The client as this store needs it: strings back verbatim, no automatic pipelining (it batches single
 * commands into non-atomic pipelines), and no retries (a retried MULTI/EXEC whose first attempt was
 * applied but whose answer was lost would apply the event twice; the host retries by reloading instead).
 */
export function redisClient(c: RedisConnection): Redis {
  const timeoutMs = c.timeoutMs ?? 10_000;
  return new Redis({
    url: c.url,
    token: c.token,
    automaticDeserialization: false,
    enableAutoPipelining: false,
    enableTelemetry: false,
    retry: { retries: 0 },
    signal: () => AbortSignal.timeout(timeoutMs),
  });
}

export function redisPrefix(groupIdHex: string, replicaId: string): string {
  return `sintra:{${groupIdHex}:${replicaId}}`;
}

/**
 * What a Redis store demands of the server's persistence: 'verify' refuses a server that reports it is not
 * durable and warns when it cannot tell; 'require' refuses in both cases (SINTRA_REDIS_DURABILITY).
 */
export const REDIS_DURABILITY_MODES = ['verify', 'require'] as const;
export type RedisDurabilityMode = (typeof REDIS_DURABILITY_MODES)[number];

export interface RedisDurability {
  /** durable: appendonly yes + appendfsync always, no eviction; not-durable: the server says otherwise; unknown: it does not say. */
  readonly verdict: 'durable' | 'not-durable' | 'unknown';
  readonly detail: string;
}

export interface RedisStoreOptions {
  /** Check the server's persistence before every load (unset: no check; openStore always sets it). */
  readonly durability?: RedisDurabilityMode;
  /** How the server is named in messages, e.g. its host. */
  readonly where?: string;
  readonly log?: (line: string) => void;
}

const DURABILITY_DOC = 'docs/operations.md, "Storage durability and failure domains"';

type Pair = [string, string];

function pairs(flat: unknown, what: string): Pair[] {
  if (flat === null || flat === undefined) return [];
  if (!Array.isArray(flat) || flat.length % 2 !== 0 || !flat.every((x) => typeof x === 'string')) throw new Error(`redis: malformed ${what}`);
  const out: Pair[] = [];
  for (let i = 0; i < flat.length; i += 2) out.push([flat[i] as string, flat[i + 1] as string]);
  return out;
}

function strings(list: unknown, what: string): string[] {
  if (list === null || list === undefined) return [];
  if (!Array.isArray(list) || !list.every((x) => typeof x === 'string')) throw new Error(`redis: malformed ${what}`);
  return list as string[];
}

function entryFromJson(index: number, s: string): StoredEntry {
  const o = JSON.parse(s) as { id: string; epoch: number; time: number; entry: string };
  return { index, id: o.id, epoch: o.epoch, time: o.time, entry: unb64(o.entry) };
}

function entryToJson(e: LogAppend): string {
  return JSON.stringify({ id: e.id, epoch: e.epoch, time: e.time, entry: b64(e.entry) });
}

/** A checkpoint's member in the `sizes` zset: its epoch, fixed width so that equal scores order by epoch. */
const sizeMember = (epoch: number): string => String(epoch).padStart(16, '0');

function checkpointFromJson(epoch: number, s: string): SignedCheckpoint {
  const o = JSON.parse(s) as { size: number; root: string; state: string; time?: number; chain?: string; signature: string };
  const timed = o.time !== undefined && o.chain !== undefined;
  return { epoch, size: o.size, root: unb64(o.root), stateDigest: unb64(o.state), ...(timed ? { time: o.time!, timeChain: unb64(o.chain!) } : {}), signature: unb64(o.signature) };
}

interface TxResult {
  readonly error?: string;
  readonly result: unknown;
}

export class RedisStore implements ReplicaStore {
  private readonly k: Record<'journal' | 'snapshot' | 'snapparts' | 'outbox' | 'log' | 'ids' | 'nodes' | 'checkpoints' | 'sizes' | 'inbox' | 'meta' | 'commits' | 'conflict', string>;
  /** Commits seen (the `commits` counter as of our last load or commit); null before the first load. */
  private seen: number | null = null;
  /** Set when a conflict was detected; `recorded` once it is in storage too. */
  private conflict: { reason: string; recorded: boolean } | null = null;

  /** Set once an 'unknown' durability was reported, so that the warning is logged once per store. */
  private warnedUnknown = false;

  constructor(
    private readonly redis: Redis,
    readonly prefix: string,
    private readonly opts: RedisStoreOptions = {},
  ) {
    const key = (name: string) => `${prefix}:${name}`;
    this.k = {
      journal: key('journal'),
      snapshot: key('snapshot'),
      snapparts: key('snapparts'),
      outbox: key('outbox'),
      log: key('log'),
      ids: key('ids'),
      nodes: key('nodes'),
      checkpoints: key('checkpoints'),
      sizes: key('sizes'),
      inbox: key('inbox'),
      meta: key('meta'),
      commits: key('commits'),
      conflict: key('conflict'),
    };
  }

  /** The beacon rounds, in the hash `<prefix>:beacon` (workers/core/beacon-store.ts). */
  beacons(): BeaconStore {
    return new RedisBeaconStore(this.redis, `${this.prefix}:beacon`);
  }

  /**
   * Every key of this replica (tests, and an operator wiping a replica that is being re-dealt), with the
   * state hash of each of `apps` (the store does not know which applications have written).
   */
  keys(apps: readonly string[] = []): string[] {
    return [...Object.values(this.k), ...apps.map((a) => this.appKey(a))];
  }

  /** The hash of application `app`'s state. */
  appKey(app: string): string {
    return `${this.prefix}:app:${app}`;
  }

  private async exec(build: (tx: ReturnType<Redis['multi']>) => void): Promise<TxResult[]> {
    const tx = this.redis.multi();
    build(tx);
    return (await tx.exec({ keepErrors: true })) as TxResult[];
  }

  /** Stops for good; tries to record why in storage so that a restarted process stops too. */
  private async stop(reason: string): Promise<never> {
    this.conflict ??= { reason, recorded: false };
    await this.recordConflict();
    throw new StoreConflictError(this.conflict.reason);
  }

  private async recordConflict(): Promise<void> {
    if (!this.conflict || this.conflict.recorded) return;
    try {
      await this.redis.set(this.k.conflict, `${new Date().toISOString()} ${this.conflict.reason}`);
      this.conflict.recorded = true;
    } catch {
      // Storage unreachable: retried on every later call, which all fail until then.
    }
  }

  async ping(): Promise<void> {
    await this.redis.ping();
  }

  /**
   * The server's persistence as CONFIG GET reports it. An error reply (the command is not offered, as on
   * Upstash, or not allowed) is 'unknown'; an unreachable server throws, as every other operation does.
   */
  async durability(): Promise<RedisDurability> {
    const settings = new Map<string, string>();
    for (const pattern of ['append*', 'maxmemory*']) {
      let reply: unknown;
      try {
        reply = await this.redis.exec(['CONFIG', 'GET', pattern]);
      } catch (e) {
        if (e instanceof errors.UpstashError) return { verdict: 'unknown', detail: `CONFIG GET was refused: ${e.message.replace(/, command was: .*$/s, '').slice(0, 200)}` };
        throw e;
      }
      // RESP2: a flat [name, value, ...] list; RESP3 through some proxies: a map.
      if (Array.isArray(reply)) {
        for (let i = 0; i + 1 < reply.length; i += 2) settings.set(String(reply[i]).toLowerCase(), String(reply[i + 1]).toLowerCase());
      } else if (reply !== null && typeof reply === 'object') {
        for (const [k, v] of Object.entries(reply)) settings.set(k.toLowerCase(), String(v).toLowerCase());
      }
    }
    const appendonly = settings.get('appendonly');
    const appendfsync = settings.get('appendfsync');
    if (appendonly === undefined || appendfsync === undefined) return { verdict: 'unknown', detail: 'CONFIG GET did not report appendonly and appendfsync' };
    // An eviction policy under a memory limit drops keys: acknowledged writes lost as surely as by a crash.
    const maxmemory = settings.get('maxmemory');
    const policy = settings.get('maxmemory-policy');
    const evicts = maxmemory !== undefined && maxmemory !== '0' && policy !== undefined && policy !== 'noeviction';
    const detail = `appendonly ${appendonly}, appendfsync ${appendfsync}${evicts ? `, maxmemory ${maxmemory} with maxmemory-policy ${policy}` : ''}`;
    return { verdict: appendonly === 'yes' && appendfsync === 'always' && !evicts ? 'durable' : 'not-durable', detail };
  }

  /**
   * Applies the durability policy (no-op without `durability`): throws StoreNotDurableError for a server
   * that is not durable (and, with 'require', for one that cannot be checked); warns once otherwise.
   */
  async checkDurability(): Promise<RedisDurability | null> {
    const mode = this.opts.durability;
    if (mode === undefined) return null;
    const d = await this.durability();
    const where = `Redis${this.opts.where ? ` at ${this.opts.where}` : ''}`;
    if (d.verdict === 'not-durable') {
      throw new StoreNotDurableError(
        `${where} does not keep every acknowledged write (${d.detail}): after a crash it would come back with less than this replica acknowledged, and the replica ` +
          `would sign a different history. Set appendonly yes and appendfsync always, and no maxmemory or maxmemory-policy noeviction (${DURABILITY_DOC})`,
      );
    }
    if (d.verdict === 'unknown') {
      const what = `cannot verify that ${where} keeps every acknowledged write (${d.detail})`;
      if (mode === 'require') throw new StoreNotDurableError(`${what}, and SINTRA_REDIS_DURABILITY=require (${DURABILITY_DOC})`);
      if (!this.warnedUnknown) {
        this.warnedUnknown = true;
        this.opts.log?.(
          logLine(
            'warn',
            null,
            'redis-durability',
            `WARNING: ${what}. It must: appendonly yes + appendfsync always, or a provider guarantee that an acknowledged write is on disk and never rolled back; ` +
              `check it yourself (${DURABILITY_DOC}). SINTRA_REDIS_DURABILITY=require refuses to start instead`,
          ),
        );
      }
    }
    return d;
  }

  /**
   * Whether storage still holds exactly the commits this store saw (true before the first load). A function
   * platform may run a later invocation in another instance and come back to this one: the state in this
   * instance's memory is then outdated and must be reloaded, not written on.
   */
  async current(): Promise<boolean> {
    if (this.seen === null || this.conflict) return true;
    const c = await this.redis.get<string>(this.k.commits);
    const stored = c === null ? 0 : Number(c);
    if (stored < this.seen) return this.stop(this.wentBack(stored));
    return stored === this.seen;
  }

  private wentBack(stored: number): string {
    return (
      `storage went back in time: Redis holds ${stored} commits of this replica where this process has seen ${this.seen} (restored from an older snapshot, ` +
      `restarted without persistence, failed over to a lagging replica, or keys deleted); this replica may have sent what its storage no longer holds`
    );
  }

  async load(): Promise<LoadedState> {
    if (this.conflict) return this.stop(this.conflict.reason);
    await this.checkDurability();
    const r = await this.exec((tx) => {
      tx.get(this.k.conflict);
      tx.get(this.k.commits);
      tx.get(this.k.snapshot);
      tx.lrange(this.k.journal, 0, -1);
      tx.hgetall(this.k.outbox);
      tx.hgetall(this.k.inbox);
      tx.hgetall(this.k.meta);
      tx.hgetall(this.k.snapparts);
    });
    const [conflict, commits, snapshot, journal, outbox, inbox, meta, snapparts] = r.map((x) => x.result);
    // The marker first: a state marked inconsistent may also fail to parse.
    if (typeof conflict === 'string') {
      this.conflict = { reason: `this replica's state was marked inconsistent: ${conflict} (see docs/operations.md, Node replicas)`, recorded: true };
      throw new StoreConflictError(this.conflict.reason);
    }
    const failed = r.find((x) => x.error);
    if (failed) throw new Error(`redis load failed: ${failed.error}`);
    const stored = commits === null || commits === undefined ? 0 : Number(commits);
    if (this.seen !== null && stored < this.seen) return this.stop(this.wentBack(stored));
    this.seen = stored;
    const out: StoredOutboxMessage[] = pairs(outbox, 'outbox').map(([f, v]) => {
      const [peer, id] = f.split('/').map(Number);
      return { peer: peer!, id: id!, bytes: unb64(v) };
    });
    out.sort((a, b) => a.peer - b.peer || a.id - b.id);
    const inboxMap = new Map<number, InboxState>();
    for (const [f, v] of pairs(inbox, 'inbox')) inboxMap.set(Number(f), JSON.parse(v) as InboxState);
    return {
      snapshot: typeof snapshot === 'string' ? unb64(snapshot) : null,
      snapshotParts: new Map(pairs(snapparts, 'snapshot parts').map(([k, v]) => [k, unb64(v)])),
      journal: strings(journal, 'journal').map(unb64),
      outbox: out,
      inbox: inboxMap,
      meta: new Map(pairs(meta, 'meta')),
    };
  }

  async commit(b: WriteBatch): Promise<void> {
    if (this.conflict) return this.stop(this.conflict.reason);
    if (this.seen === null) {
      const c = await this.redis.get<string>(this.k.commits);
      this.seen = c === null ? 0 : Number(c);
    }
    const r = await this.exec((tx) => {
      tx.incr(this.k.commits);
      if (b.snapshot) {
        tx.set(this.k.snapshot, b64(b.snapshot));
        tx.del(this.k.journal);
        // Deletions first, then puts (a key in both ends up put).
        const parts = b.snapshotParts;
        if (parts && parts.delete.length > 0) tx.hdel(this.k.snapparts, ...parts.delete);
        if (parts && parts.put.size > 0) tx.hset(this.k.snapparts, Object.fromEntries([...parts.put].map(([k, v]) => [k, b64(v)])));
      }
      if (b.journal.length > 0) tx.rpush(this.k.journal, ...b.journal.map(b64));
      if (b.outbox.length > 0) tx.hset(this.k.outbox, Object.fromEntries(b.outbox.map((m) => [`${m.peer}/${m.id}`, b64(m.bytes)])));
      const dropped = b.outboxDelete.flatMap((d) => d.ids.map((id) => `${d.peer}/${id}`));
      if (dropped.length > 0) tx.hdel(this.k.outbox, ...dropped);
      if (b.log.length > 0) {
        tx.hset(this.k.log, Object.fromEntries(b.log.map((e) => [String(e.index), entryToJson(e)])));
        for (const e of b.log) tx.hsetnx(this.k.ids, e.id, String(e.index));
      }
      if (b.nodes.length > 0) tx.hset(this.k.nodes, Object.fromEntries(b.nodes.map((n) => [nodeKey(n.level, n.index), b64(n.hash)])));
      if (b.checkpoints.length > 0) {
        const fields = b.checkpoints.map((c) => [String(c.epoch), JSON.stringify({ size: c.size, root: b64(c.root), state: b64(c.stateDigest), ...(c.time !== undefined && c.timeChain ? { time: c.time, chain: b64(c.timeChain) } : {}), signature: b64(c.signature) })]);
        tx.hset(this.k.checkpoints, Object.fromEntries(fields));
        const [first, ...rest] = b.checkpoints.map((c) => ({ score: c.size, member: sizeMember(c.epoch) }));
        tx.zadd(this.k.sizes, first!, ...rest);
      }
      if (b.inbox.size > 0) tx.hset(this.k.inbox, Object.fromEntries([...b.inbox].map(([p, s]) => [String(p), JSON.stringify({ floor: s.floor, above: s.above })])));
      if (b.meta.size > 0) tx.hset(this.k.meta, Object.fromEntries(b.meta));
      // Only a key's last write in the batch counts: one HSET and one HDEL per application.
      const app = new Map<string, Map<string, Uint8Array | null>>();
      for (const w of b.app) {
        let m = app.get(w.app);
        if (!m) app.set(w.app, (m = new Map()));
        m.set(w.key, w.value);
      }
      for (const [name, m] of app) {
        const set = [...m].filter((e): e is [string, Uint8Array] => e[1] !== null);
        const dropped = [...m].filter(([, v]) => v === null).map(([k]) => k);
        if (set.length > 0) tx.hset(this.appKey(name), Object.fromEntries(set.map(([k, v]) => [k, b64(v)])));
        if (dropped.length > 0) tx.hdel(this.appKey(name), ...dropped);
      }
    });
    const failed = r.findIndex((x) => x.error);
    if (failed >= 0) return this.stop(`command ${failed + 1} of a commit failed inside EXEC (${r[failed]!.error}); the transaction was partly applied`);
    const count = Number(r[0]!.result);
    if (count <= this.seen) return this.stop(this.wentBack(count - 1));
    if (count !== this.seen + 1) {
      return this.stop(`commit number ${count} where ${this.seen + 1} was expected: another writer (a second process on this replica's state, or a commit that landed after its timeout)`);
    }
    this.seen = count;
  }

  async entries(start: number, end: number): Promise<StoredEntry[]> {
    if (this.conflict) return this.stop(this.conflict.reason);
    if (end <= start) return [];
    if (end - start > 10_000) return (await this.loadLog()).entries.filter((e) => e.index >= start && e.index < end);
    const fields = Array.from({ length: end - start }, (_, i) => String(start + i));
    const values = (await this.redis.hmget(this.k.log, ...fields)) as unknown;
    // hmget with automaticDeserialization off is the raw reply: one value or null per field.
    const list = Array.isArray(values) ? (values as (string | null)[]) : [];
    const out: StoredEntry[] = [];
    for (let i = 0; i < list.length; i++) {
      const v = list[i];
      if (typeof v !== 'string') break;
      out.push(entryFromJson(start + i, v));
    }
    return out;
  }

  async indexOfIds(ids: readonly string[]): Promise<Map<string, number>> {
    if (this.conflict) return this.stop(this.conflict.reason);
    const out = new Map<string, number>();
    for (const [id, v] of await this.hmget(this.k.ids, ids)) out.set(id, Number(v));
    return out;
  }

  /** The fields of hash `key` among `fields` that exist (one HMGET), by field. */
  private async hmget(key: string, fields: readonly string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    if (fields.length === 0) return out;
    // With automaticDeserialization off the reply is raw: one string or null per field.
    const values = (await this.redis.hmget(key, ...fields)) as unknown;
    const list = Array.isArray(values) ? (values as (string | null)[]) : [];
    fields.forEach((f, i) => {
      const v = list[i];
      if (typeof v === 'string') out.set(f, v);
    });
    return out;
  }

  async readAppState(app: string, keys: readonly string[]): Promise<Map<string, Uint8Array>> {
    if (this.conflict) return this.stop(this.conflict.reason);
    const out = new Map<string, Uint8Array>();
    for (const [k, v] of await this.hmget(this.appKey(app), keys)) out.set(k, unb64(v));
    return out;
  }

  async readNodes(keys: readonly NodeKey[]): Promise<Map<string, Uint8Array>> {
    if (this.conflict) return this.stop(this.conflict.reason);
    const out = new Map<string, Uint8Array>();
    for (const [f, v] of await this.hmget(this.k.nodes, keys.map((k) => nodeKey(k.level, k.index)))) out.set(f, unb64(v));
    return out;
  }

  /** The first checkpoint (lowest size, then epoch) with a size in [min, max]. */
  private async checkpointBySize(min: number, max: number | '+inf'): Promise<SignedCheckpoint | null> {
    if (this.conflict) return this.stop(this.conflict.reason);
    const members = strings(await this.redis.zrange(this.k.sizes, min, max, { byScore: true, offset: 0, count: 1 }), 'sizes');
    if (members.length === 0) return null;
    const epoch = Number(members[0]);
    const v = (await this.redis.hget(this.k.checkpoints, String(epoch))) as unknown;
    if (typeof v !== 'string') throw new Error(`redis: checkpoint ${epoch} is in ${this.k.sizes} but not in ${this.k.checkpoints}`);
    return checkpointFromJson(epoch, v);
  }

  checkpointCovering(index: number): Promise<SignedCheckpoint | null> {
    return this.checkpointBySize(index + 1, '+inf');
  }

  checkpointAt(size: number): Promise<SignedCheckpoint | null> {
    return this.checkpointBySize(size, size);
  }

  async loadLog(): Promise<{ entries: StoredEntry[]; checkpoints: SignedCheckpoint[] }> {
    if (this.conflict) return this.stop(this.conflict.reason);
    const r = await this.exec((tx) => {
      tx.hgetall(this.k.log);
      tx.hgetall(this.k.checkpoints);
    });
    const failed = r.find((x) => x.error);
    if (failed) throw new Error(`redis loadLog failed: ${failed.error}`);
    const entries = pairs(r[0]!.result, 'log').map(([f, v]) => entryFromJson(Number(f), v));
    entries.sort((a, b) => a.index - b.index);
    const checkpoints = pairs(r[1]!.result, 'checkpoints').map(([f, v]) => checkpointFromJson(Number(f), v));
    checkpoints.sort((a, b) => a.epoch - b.epoch);
    return { entries, checkpoints };
  }
}

/**
 * Beacon rounds in one hash. Not part of the engine's transactions or its `commits` counter: a round is a
 * verified unique value (a lost or repeated write changes nothing a peer could see), see beacon-store.ts.
 */
export class RedisBeaconStore implements BeaconStore {
  constructor(
    private readonly redis: Redis,
    readonly key: string,
  ) {}

  async get(round: number): Promise<Uint8Array | null> {
    const v = (await this.redis.hget(this.key, String(round))) as unknown;
    return typeof v === 'string' ? unb64(v) : null;
  }

  async put(round: number, signature: Uint8Array): Promise<void> {
    await this.redis.hset(this.key, { [String(round)]: b64(signature) });
  }

  async latest(): Promise<number | null> {
    const fields = (await this.redis.hkeys(this.key)) as unknown;
    if (!Array.isArray(fields) || fields.length === 0) return null;
    return Math.max(...fields.map(Number).filter(Number.isSafeInteger));
  }
}
