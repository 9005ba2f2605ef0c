/**
 * Calibrates the engine's memory estimate (ReplicaEngine.retainedBytes, what the memory budget checks)
 * against the heap: n engines with real keys order `total` random 250-byte requests over a lossless
 * network (every message through the wire codec), then, with nothing in flight and after full GCs, the
 * heap plus ArrayBuffers the engines hold (per replica) is compared with their estimate. Unlike the
 * in-process benchmark's retained figure this holds no harness bookkeeping.
 *
 *   node --expose-gc --import tsx infra/bench/memory.ts [total] [maxBatch] [n]
 *
 * Prints one JSON line (docs/benchmarks.md, "Memory").
 */
import { decodeMessage, encodeMessage } from '../../shared/codec/message-codec.ts';
import type { Message } from '../../shared/protocols/messages.ts';
import { ReplicaEngine } from '../../shared/replica/engine.ts';
import { contextFromConfig } from '../../shared/replica/from-config.ts';
import { useNativeEd25519 } from '../../workers/core/native-ed25519.ts';
import { useNativeSha256 } from '../../workers/core/native-sha256.ts';
import { dealtGroup } from './inprocess.ts';
import { round1 } from './stats.ts';

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');
const retained = (): number => {
  gc();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
};

const total = Number(process.argv[2] ?? 60_000);
const maxBatch = Number(process.argv[3] ?? 4096);
const n = Number(process.argv[4] ?? 4);
useNativeSha256();
useNativeEd25519();
const { group, secrets } = dealtGroup(n, Math.floor((n - 1) / 3), 'memory-calibration');
const before = retained();
const engines = secrets.map((s) => new ReplicaEngine(contextFromConfig(group, s), { ab: { maxBatch }, memoryBudgetBytes: 2 ** 40 }));
const queue: { from: number; to: number; msg: Message }[] = [];
const feed = (from: number, step: { outgoing: { to: number; msg: Message }[] }): void => {
  for (const o of step.outgoing) queue.push({ from, to: o.to, msg: decodeMessage(encodeMessage(o.msg)) });
};
let submitted = 0;
while (submitted < total) {
  for (let i = 0; i < n * maxBatch && submitted < total; i++, submitted++) {
    feed(i % n, engines[i % n]!.submit(crypto.getRandomValues(new Uint8Array(250))));
  }
  while (queue.length > 0) {
    const m = queue.shift()!;
    const s = engines[m.to]!.receive(m.from, m.msg);
    if (s.deferred) queue.push(m);
    else feed(m.to, s);
  }
  process.stderr.write(`  ${engines[0]!.log.size} of ${total} ordered\n`);
}
const measured = (retained() - before) / n;
const estimate = engines.reduce((s, e) => s + e.retainedBytes(), 0) / n;
console.log(
  JSON.stringify({
    n,
    total,
    max_batch: maxBatch,
    log_size: engines[0]!.log.size,
    measured_mb_per_replica: round1(measured / 2 ** 20),
    estimate_mb_per_replica: round1(estimate / 2 ** 20),
    measured_over_estimate: Math.round((measured / estimate) * 100) / 100,
    dedup_digests: engines[0]!.ab.dedupSize,
    kept_batch_mb: round1(engines[0]!.ab.keptBatchBytes / 2 ** 20),
  }),
);
