/**
 * Storage per log entry on each backend (docs/operations.md, "Storage"; docs/benchmarks.md): `total` log
 * entries of `bytes` random bytes are written the way a replica writes them (in commits of one epoch of
 * `perEpoch` entries, with the Merkle nodes they complete, the request-id index and one signed checkpoint
 * per epoch) to SQLite on a file (the Node store; the Durable Object's tables are the same) and to a real
 * redis-server through the Upstash REST bridge, then bytes per entry are read off the backend (SQLite's
 * page count; Redis's used_memory) and a receipt's reads (one entry, one checkpoint, its proof's nodes)
 * are timed at that size. With `notary`, every entry is a notary stamp (107 bytes) and each commit also
 * holds what executing it writes to the notary's state (a registration under d/<digest> and the chain
 * head): the cost of an entry an application takes.
 *
 *   npx tsx infra/bench/storage.ts [total=100000] [bytes=100] [perEpoch=1000] [backends=sqlite,redis] [plain|notary]
 *
 * Prints one JSON line per backend and a table on stderr.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { sha256 } from '@noble/hashes/sha2.js';
import { toHex } from '../../shared/crypto/bytes.ts';
import { leafHash } from '../../shared/log/merkle.ts';
import { MerkleFrontier } from '../../shared/log/merkle-nodes.ts';
import { receiptAt } from '../../shared/replica/history.ts';
import type { ReplicaEngine } from '../../shared/replica/engine.ts';
import { emptyBatch } from '../../shared/replica/storage.ts';
import type { ReplicaStore } from '../../workers/core/store.ts';
import { RedisStore, redisClient } from '../../workers/node/redis-store.ts';
import { SqliteStore } from '../../workers/node/sqlite-store.ts';
import { startRedis } from '../../test/helpers/redis.ts';
import { startUpstashBridge } from '../../test/helpers/upstash-bridge.ts';
import { encodeStampEntry } from '../../shared/app/notary.ts';

const total = Number(process.argv[2] ?? 100_000);
const bytes = Number(process.argv[3] ?? 100);
const perEpoch = Number(process.argv[4] ?? 1000);
const backends = (process.argv[5] ?? 'sqlite,redis').split(',');
const kind = process.argv[6] ?? 'plain';
if (kind !== 'plain' && kind !== 'notary') throw new Error(`kind must be plain or notary, not ${kind}`);

/** Fills `store` like a replica would; returns the frontier (the engine's view) at the end. */
async function fill(store: ReplicaStore, label: string): Promise<MerkleFrontier> {
  const f = new MerkleFrontier();
  const t0 = performance.now();
  for (let epoch = 0; f.size < total; epoch++) {
    const b = emptyBatch();
    for (let k = 0; k < perEpoch && f.size < total; k++) {
      const digest = randomBytes(32).toString('hex');
      const entry = kind === 'notary' ? encodeStampEntry({ digest }) : new Uint8Array(randomBytes(bytes));
      const a = f.append(leafHash(entry));
      b.log.push({ index: a.index, id: toHex(sha256(entry)), epoch, time: 1_700_000_000_000 + epoch, entry });
      b.nodes.push(...a.nodes);
      // What the notary's execution writes for a first registration (notary.ts: u64 index, u64 epoch).
      if (kind === 'notary') b.app.push({ app: 'notary', key: `d/${digest}`, value: new Uint8Array(16) }, { app: 'notary', key: 'head', value: new Uint8Array(randomBytes(32)) });
    }
    b.checkpoints.push({ epoch, size: f.size, root: f.root(), stateDigest: f.root(), signature: new Uint8Array(48).fill(epoch & 0xff) });
    await store.commit(b);
    if (epoch % 100 === 0) process.stderr.write(`  ${label}: ${f.size} of ${total} entries written (${Math.round(performance.now() - t0)} ms)\n`);
  }
  return f;
}

/** Mean time of a receipt's storage reads (an entry, a checkpoint, the proof's nodes) over random indices. */
async function receiptMs(store: ReplicaStore, f: MerkleFrontier): Promise<number> {
  const engine = { log: f } as unknown as ReplicaEngine;
  const runs = 200;
  const t0 = performance.now();
  for (let i = 0; i < runs; i++) {
    const r = await receiptAt(engine, store, Math.floor(Math.random() * f.size));
    if (!r) throw new Error('no receipt');
  }
  return (performance.now() - t0) / runs;
}

const results: Record<string, unknown>[] = [];
if (backends.includes('sqlite')) {
  const dir = mkdtempSync(join(tmpdir(), 'sintra-storage-bench-'));
  const store = await SqliteStore.open(dir);
  await store.load();
  const t0 = performance.now();
  const f = await fill(store, 'sqlite');
  const writeS = (performance.now() - t0) / 1000;
  const size = (await store.sizeBytes())!;
  results.push({ backend: 'sqlite (Node file; Durable Object tables)', kind, total, entry_bytes: bytes, bytes_per_entry: Math.round(size / total), mb_per_million: Math.round((size / total) * 1e6 / 2 ** 20), write_entries_per_s: Math.round(total / writeS), receipt_reads_ms: Math.round((await receiptMs(store, f)) * 100) / 100 });
  await store.close();
  rmSync(dir, { recursive: true, force: true });
}
if (backends.includes('redis')) {
  const redis = await startRedis();
  const bridge = await startUpstashBridge(redis.port);
  const used = () => Number(/used_memory:(\d+)/.exec(execFileSync('redis-cli', ['-p', String(redis.port), 'info', 'memory'], { encoding: 'utf8' }))![1]);
  const store = new RedisStore(redisClient({ url: bridge.url, token: bridge.token, timeoutMs: 30_000 }), 'bench:{storage}');
  await store.load();
  const before = used();
  const t0 = performance.now();
  const f = await fill(store, 'redis');
  const writeS = (performance.now() - t0) / 1000;
  const size = used() - before;
  results.push({ backend: 'redis (used_memory)', kind, total, entry_bytes: bytes, bytes_per_entry: Math.round(size / total), mb_per_million: Math.round((size / total) * 1e6 / 2 ** 20), write_entries_per_s: Math.round(total / writeS), receipt_reads_ms: Math.round((await receiptMs(store, f)) * 100) / 100 });
  await bridge.close();
  await redis.stop();
}
for (const r of results) console.log(JSON.stringify(r));
process.stderr.write(`\n${'backend'.padEnd(44)} ${'entries'.padStart(9)} ${'B/entry'.padStart(8)} ${'MB/1M'.padStart(7)} ${'writes/s'.padStart(9)} ${'receipt ms'.padStart(10)}\n`);
for (const r of results) {
  process.stderr.write(`${String(r['backend']).padEnd(44)} ${String(r['total']).padStart(9)} ${String(r['bytes_per_entry']).padStart(8)} ${String(r['mb_per_million']).padStart(7)} ${String(r['write_entries_per_s']).padStart(9)} ${String(r['receipt_reads_ms']).padStart(10)}\n`);
}
