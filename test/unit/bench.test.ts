/**
 * The benchmark harness (infra/bench, `npm run bench`): the in-process mode on a tiny load with real
 * crypto, checked for the shape of its JSON and for delivering every request; no timing assertions.
 */
import { describe, expect, it } from 'vitest';
import { runInProcess } from '../../infra/bench/inprocess.ts';
import { table } from '../../infra/bench/main.ts';
import type { BenchDocument } from '../../infra/bench/main.ts';
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

  it('percentiles are nearest-rank', () => {
    expect(percentiles([])).toEqual({ p50: 0, p90: 0, p99: 0 });
    const xs = Array.from({ length: 100 }, (_, i) => 100 - i);
    expect(percentiles(xs)).toEqual({ p50: 50, p90: 90, p99: 99 });
  });
});
