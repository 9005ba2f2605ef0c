/**
 * The benchmark harness (infra/bench, `npm run bench`): the in-process mode on a tiny load with real
 * crypto, checked for the shape of its JSON and for delivering every request; no timing assertions. The
 * memory, restart and storage modes (infra/bench/scale.ts): their options, the child command lines, the
 * parsing of the scripts' JSON lines and the tables (the children themselves are not run here).
 */
import { describe, expect, it } from 'vitest';
import { runInProcess } from '../../infra/bench/inprocess.ts';
import { runThreaded } from '../../infra/bench/inprocess-threads.ts';
import { table } from '../../infra/bench/main.ts';
import type { BenchDocument } from '../../infra/bench/main.ts';
import { parseMemory, parseRestart, parseStorage, scaleOptions, scaleRuns } from '../../infra/bench/scale.ts';
import { machineInfo, percentiles } from '../../infra/bench/stats.ts';

describe('benchmark harness', () => {
  it('in-process n=4: real engines deliver every request everywhere and certify it; the result has the documented shape', () => {
    const r = runInProcess({
      n: 4,
      load: { kind: 'closed', inflight: 48 },
      maxBatch: 16,
      warmupMs: 0,
      warmupEpochs: 1,
      measureMs: 0,
      minEpochs: 1,
      drainTimeoutMs: 60_000,
    });
    const doc = JSON.parse(JSON.stringify({ machine: machineInfo(), results: [r] })) as BenchDocument;
    const x = doc.results[0]!;
    expect(x.mode).toBe('in-process');
    expect(x.n).toBe(4);
    expect(typeof x.throughput_rps).toBe('number');
    for (const k of ['p50', 'p90', 'p99'] as const) expect(typeof x.latency_ms[k]).toBe('number');
    expect(doc.machine.cpus).toBeGreaterThan(0);
    expect(typeof doc.machine.cpu_model).toBe('string');
    expect(typeof doc.machine.node).toBe('string');

    expect(r.throughput_rps).toBeGreaterThan(0);
    expect(r.all_delivered).toBe(true);
    expect(r.submitted).toBeGreaterThanOrEqual(48);
    expect(r.refused).toBe(0);
    expect(r.faults).toBe(0);
    expect(r.wire_errors).toBe(0);
    expect(r.epochs_in_window).toBeGreaterThanOrEqual(1);
    expect(r.ordered_in_window).toBeGreaterThan(0);
    expect(r.messages_per_request).toBeGreaterThan(0);
    expect(r.bytes_per_request).toBeGreaterThan(250);
    // Every epoch signs one checkpoint share per replica and combines one checkpoint per replica.
    expect(r.crypto_detail_per_epoch['kernel.checkpoint.sign']?.count).toBe(4);
    expect(r.crypto_per_epoch.sign).toBeGreaterThan(0);
    expect(r.heap_high_water_mb).toBeGreaterThan(0);
    expect(table({ ...doc, command: 'test' })).toContain('in-process');
  }, 120_000);

  it('WAN mode delays every message: a request takes at least the hops of its critical path, and all are delivered', () => {
    // Every replica 100 ms from the others: an epoch needs at least SEND, ECHO, FINAL of consistent
    // broadcast and the votes of one agreement round, then the checkpoint shares: well over 500 ms.
    const r = runInProcess({
      n: 4,
      load: { kind: 'closed', inflight: 16 },
      maxBatch: 16,
      warmupMs: 0,
      warmupEpochs: 1,
      measureMs: 0,
      minEpochs: 1,
      drainTimeoutMs: 60_000,
      wanMs: [100, 100, 100, 100],
    });
    expect(r.all_delivered).toBe(true);
    expect(r.wan_ms).toEqual([100, 100, 100, 100]);
    expect(r.latency_ms.p50).toBeGreaterThan(500);
    expect(r.epoch_ms).toBeGreaterThan(400);
    // Sleeping, not spinning, while nothing is due.
    expect(r.cpu_utilization).toBeLessThan(0.8);
  }, 120_000);

  it('in-process on two worker threads: the replicas order and certify across threads', async () => {
    const r = await runThreaded({ n: 4, threads: 2, inflight: 64, maxBatch: 16, warmupMs: 1500, measureMs: 1500 });
    expect(r.threads).toBe(2);
    expect(r.throughput_rps).toBeGreaterThan(0);
    expect(r.epochs_in_window).toBeGreaterThan(0);
    expect(r.latency_ms.p50).toBeGreaterThan(0);
    // Messages cross threads as encoded bytes: about a real link's per-request bytes.
    expect(r.bytes_per_request).toBeGreaterThan(250);
    expect(r.cpu_ms_per_request).toBeGreaterThan(0);
    // Open loop: about the offered rate is ordered (the group is far from its limit at 400 req/s).
    const open = await runThreaded({ n: 4, threads: 2, inflight: 0, rate: 400, maxBatch: 64, warmupMs: 1500, measureMs: 2000 });
    expect(open.load).toEqual({ kind: 'open', rate: 400 });
    expect(open.throughput_rps).toBeGreaterThan(200);
    expect(open.throughput_rps).toBeLessThan(800);
  }, 120_000);

  it('percentiles are nearest-rank', () => {
    expect(percentiles([])).toEqual({ p50: 0, p90: 0, p99: 0 });
    const xs = Array.from({ length: 100 }, (_, i) => 100 - i);
    expect(percentiles(xs)).toEqual({ p50: 50, p90: 90, p99: 99 });
  });

  it('scale modes: defaults are the documented runs, --quick is small, options are checked', () => {
    expect(scaleOptions({}, false)).toEqual({
      memory: { total: 1_000_000, every: 100_000, kinds: ['plain'] },
      restart: { total: 100_000, kinds: ['plain'] },
      storage: { total: 100_000, backends: ['sqlite', 'redis'], kinds: ['plain'] },
    });
    expect(scaleOptions({}, true)).toEqual({
      memory: { total: 20_000, every: 2000, kinds: ['plain'] },
      restart: { total: 10_000, kinds: ['plain'] },
      storage: { total: 10_000, backends: ['sqlite'], kinds: ['plain'] },
    });
    const o = scaleOptions({ 'memory-total': '50000', 'memory-every': '10000', 'memory-kind': 'notary,ca', 'restart-kind': 'notary', 'storage-backends': 'redis', 'storage-kind': 'notary' }, true);
    expect(o.memory).toEqual({ total: 50_000, every: 10_000, kinds: ['notary', 'ca'] });
    expect(o.restart.kinds).toEqual(['notary']);
    expect(o.storage).toEqual({ total: 10_000, backends: ['redis'], kinds: ['notary'] });
    expect(() => scaleOptions({ 'memory-kind': 'huge' }, false)).toThrow(/memory-kind huge/);
    expect(() => scaleOptions({ 'restart-kind': 'ca' }, false)).toThrow(/restart-kind ca/);
    expect(() => scaleOptions({ 'storage-backends': 'postgres' }, false)).toThrow(/storage-backends postgres/);
    expect(() => scaleOptions({ 'storage-total': '0' }, false)).toThrow(/positive integer/);
    expect(() => scaleOptions({ 'restart-total': '1e' }, false)).toThrow(/positive integer/);

    // One child per kind (and per backend); the scripts' positional arguments as their headers document them.
    const runs = scaleRuns(new Set(['in-process', 'memory', 'restart', 'storage']), scaleOptions({ 'storage-backends': 'sqlite,redis', 'memory-kind': 'plain,notary' }, true));
    expect(runs.map((r) => [r.mode, r.command])).toEqual([
      ['memory', 'node --expose-gc --import tsx infra/bench/memory-hosts.ts 20000 2000 2000 plain'],
      ['memory', 'node --expose-gc --import tsx infra/bench/memory-hosts.ts 20000 2000 2000 notary'],
      ['restart', 'node --import tsx infra/bench/transfer.ts 10000 1000 plain'],
      ['storage', 'node --import tsx infra/bench/storage.ts 10000 100 1000 sqlite plain'],
      ['storage', 'node --import tsx infra/bench/storage.ts 10000 100 1000 redis plain'],
    ]);
    expect(scaleRuns(new Set(['in-process', 'http', 'baseline']), scaleOptions({}, false))).toEqual([]);
  });

  it('scale modes: the scripts\' JSON lines become typed results; missing lines are errors; the table shows them', () => {
    // Lines as the scripts print them (from a --quick run).
    const memory = parseMemory('plain', 20000, ['20000', '2000', '2000', 'plain'], [
      { entries: 0, heapMb: 3.4, rssMb: 107, refusals: {} },
      { kind: 'plain', entries: 20000, heapMb: 10.6, rssMb: 260, estimateMb: 7.5, dbBytesPerEntry: 843, seconds: 301, refusals: { overloaded: 3 } },
      { kind: 'plain', restart: { entries: 20000, ms: 3052, replayedEvents: 8 } },
    ], 363.2);
    expect(memory.samples).toEqual([
      { entries: 0, heapMb: 3.4, rssMb: 107, refusals: {} },
      { entries: 20000, heapMb: 10.6, rssMb: 260, estimateMb: 7.5, dbBytesPerEntry: 843, seconds: 301, refusals: { overloaded: 3 } },
    ]);
    expect(memory.restart).toEqual({ entries: 20000, ms: 3052, replayedEvents: 8 });
    expect(memory.script).toBe('node --expose-gc --import tsx infra/bench/memory-hosts.ts 20000 2000 2000 plain');
    expect(() => parseMemory('plain', 20000, [], [{ entries: 0, heapMb: 3.4, rssMb: 107, refusals: {} }], 1)).toThrow(/no restart line/);

    const restart = parseRestart('notary', 10000, ['10000', '1000', 'notary'], [
      { what: 'ordered-without-3', kind: 'notary', entries: 10000, epochs: 8, seconds: 432, outboxMessagesFor3Max: 178, trimmedByReplica0: 0 },
      { what: 'catch-up', kind: 'notary', entries: 10000, transferred: 0, transfers: 0, ms: 1089, entriesPerSecond: 9185, entryMBPerSecond: 0.9 },
      { what: 'restart', kind: 'notary', entries: 10000, ms: 713, replayedEvents: 50 },
    ], 642.7);
    expect(restart.catch_up.entriesPerSecond).toBe(9185);
    expect(restart.restart).toEqual({ entries: 10000, ms: 713, replayedEvents: 50 });
    expect(() => parseRestart('plain', 10, [], [{ what: 'ordered-without-3', entries: 10, epochs: 1, seconds: 1, outboxMessagesFor3Max: 0, trimmedByReplica0: 0 }], 1)).toThrow(/no catch-up line/);
    expect(() => parseRestart('plain', 10, [], [
      { what: 'ordered-without-3', entries: 10, epochs: 1, seconds: 1, outboxMessagesFor3Max: 0, trimmedByReplica0: 0 },
      { what: 'catch-up', entries: 10, transferred: 0, transfers: 0, ms: 'slow', entriesPerSecond: 1, entryMBPerSecond: 0 },
      { what: 'restart', entries: 10, ms: 1, replayedEvents: 1 },
    ], 1)).toThrow(/field ms is not a number/);

    const storage = parseStorage('sqlite', 'plain', 10000, ['10000', '100', '1000', 'sqlite', 'plain'], [
      { backend: 'sqlite (Node file; Durable Object tables)', kind: 'plain', total: 10000, entry_bytes: 100, bytes_per_entry: 394, mb_per_million: 376, write_entries_per_s: 23110, receipt_reads_ms: 0.23 },
    ], 1);
    expect(storage).toMatchObject({ mode: 'storage', backend: 'sqlite', description: 'sqlite (Node file; Durable Object tables)', bytes_per_entry: 394 });
    expect(() => parseStorage('redis', 'plain', 10, [], [], 1)).toThrow(/0 result lines/);

    const doc: BenchDocument = { machine: { ...machineInfo(), note: '' }, command: 'test', results: [], scale: [memory, restart, storage], errors: [{ mode: 'storage', n: 1, config: 'redis, plain, 10000 entries', error: 'storage.ts exited with 1: Error: no redis\nmore' }] };
    const t = table(doc);
    expect(t).not.toContain('req/s');
    expect(t).toMatch(/memory: plain requests/);
    expect(t).toMatch(/^\s+20000\s+10\.6\s+7\.5\s+260\s+843\s+301\s+3xoverloaded$/m);
    expect(t).toContain('load of replica 0 at 20000 entries: 3052 ms, 8 journal events replayed');
    expect(t).toMatch(/^\s+notary\s+10000\s+432\s+8\s+178\s+1089\s+9185\s+0\/0\s+713\s+50\s+642\.7$/m);
    expect(t).toMatch(/^\s+sqlite\s+plain\s+10000\s+394\s+376\s+23110\s+0\.23\s+1\s+sqlite \(Node file/m);
    expect(t).toContain('FAILED storage n=1 (redis, plain, 10000 entries): storage.ts exited with 1: Error: no redis');
  });
});
