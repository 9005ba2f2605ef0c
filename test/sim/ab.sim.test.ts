/**
 * Atomic broadcast under the deterministic simulator: every behaviour (and the colluding 'ab-split'),
 * n = 4 (14 seeds per behaviour) and n = 7 (5 seeds per behaviour), insecure crypto; the forwarding path
 * (a victim's batches held back until GST); real crypto for a few seeds; the paper's 16-replica grid with a
 * 7-replica corruption (few requests, so the runs stay short). Every run must be free of safety violations
 * and liveness failures. Regressions: soak seed 101334, and a laggard that must fetch a withheld batch of a
 * garbage-collected epoch (TestNet, hand-made schedule). Negative controls: beyond the structure, colluding
 * CBC equivocators make honest replicas deliver different epochs, and the checkers say so.
 */
import { describe, expect, it } from 'vitest';
import { BYZANTINE_KINDS, formatSummary, runSimulation } from '../../infra/sim/index.ts';
import type { RunSimulationOptions, SimulationSummary } from '../../infra/sim/index.ts';
import { AtomicBroadcast } from '../../shared/protocols/ab.ts';
import type { AbDelivery } from '../../shared/protocols/ab.ts';
import { canonical } from '../../infra/sim/encode.ts';
import { TestNet, threshold } from '../helpers/net.ts';
import { grid } from '../helpers/structures.ts';

function expectClean(s: SimulationSummary): void {
  const report = s.safetyViolations + s.livenessFailures > 0 ? formatSummary(s) : '';
  expect(report).toBe('');
  expect(s.runs).toBeGreaterThan(0);
}

const KINDS = [...BYZANTINE_KINDS, 'assorted', 'ab-split', 'none'];
const sum = (s: SimulationSummary, metric: string) => s.details!.reduce((a, r) => a + (r.metrics[metric] ?? 0), 0);

describe('ab simulation', () => {
  for (const [n, seeds] of [
    [4, 14],
    [7, 5],
  ] as const) {
    it.each(KINDS)(`n = ${n}, byzantine %s: ${seeds} seeds clean`, (byzantine) => {
      expectClean(runSimulation({ protocol: 'ab', n, seeds, seedStart: 1000 * n, byzantine, crypto: 'insecure' }));
    });
  }

  it('n = 4: several epochs per run, requests delivered, fewer corrupted than allowed', () => {
    const s = runSimulation({ protocol: 'ab', n: 4, seeds: 30, seedStart: 1, byzantine: 'all', crypto: 'insecure', json: true });
    expectClean(s);
    expect(s.details!.every((r) => r.ended === 'done')).toBe(true);
    expect(s.details!.filter((r) => (r.metrics['epochs'] ?? 0) >= 3).length).toBeGreaterThan(5);
    expect(sum(s, 'delivered')).toBeGreaterThan(100);
    expectClean(runSimulation({ protocol: 'ab', n: 7, seeds: 6, seedStart: 1, byzantine: 'all', crypto: 'insecure', sim: { faulty: 1 } }));
  });

  it('forwarding: requests held at one honest replica whose batches lose are forwarded and delivered', () => {
    const s4 = runSimulation({ protocol: 'ab', n: 4, seeds: 16, seedStart: 1, byzantine: 'all', crypto: 'insecure', params: { forwarding: true }, json: true });
    expectClean(s4);
    const s7 = runSimulation({ protocol: 'ab', n: 7, seeds: 3, seedStart: 1, byzantine: 'all', crypto: 'insecure', params: { forwarding: true }, json: true });
    expectClean(s7);
    expect(sum(s4, 'forwarded') + sum(s7, 'forwarded')).toBeGreaterThan(3);
  });

  it('n = 4 with real threshold crypto: 3 seeds clean (one request per run: an epoch costs about 2 s)', () => {
    expectClean(runSimulation({ protocol: 'ab', n: 4, seeds: 3, seedStart: 77, byzantine: 'all', crypto: 'real', params: { requests: 1, spread: 0 } }));
  });

  it('16-replica grid, 7 corrupted (one location + one OS): 4 seeds clean', () => {
    const s = runSimulation({
      protocol: 'ab',
      structure: grid().structure,
      seeds: 4,
      seedStart: 1,
      byzantine: 'all',
      crypto: 'insecure',
      params: { requests: 6, spread: 0 },
      json: true,
    });
    expectClean(s);
    expect(s.details!.every((r) => r.corrupted.length === 7)).toBe(true);
  });

  it('a corrupted proposer orders a delivered request again: delivered again in a later epoch, the same at every honest replica (soak seed 100179, grid)', () => {
    // Since atomic broadcast de-duplicates within the epoch only (the log drops repeats, by a window that is a
    // function of the log, so a replica can join by state transfer), this seed's split proposer gets a
    // request delivered twice; the checkers accept that only with corrupted replicas, and only across epochs.
    const s = runSimulation({ protocol: 'ab', structure: grid().structure, seeds: 1, seedStart: 100179, byzantine: 'ab-split', crypto: 'insecure', params: { requests: 6, spread: 0 }, json: true });
    expectClean(s);
  });
});

const overpowered = (n: number, corrupt: number[], byzantine: string, seeds: number): RunSimulationOptions => ({
  protocol: 'ab',
  n,
  seeds,
  seedStart: 1,
  byzantine,
  crypto: 'insecure',
  sim: { corrupt },
});

describe('ab negative control: more corrupted replicas than the structure allows', () => {
  it('n = 4, 2 colluding CBC equivocators: total order violations are found', () => {
    const s = runSimulation(overpowered(4, [0, 1], 'ab-split', 20));
    expect(s.failures.filter((f) => f.reason.includes('total order:')).length).toBeGreaterThan(5);
  });

  it('n = 7, 3 colluding CBC equivocators: total order violations are found', () => {
    const s = runSimulation(overpowered(7, [0, 2, 4], 'ab-split', 4));
    expect(s.failures.filter((f) => f.reason.includes('total order:')).length).toBeGreaterThan(0);
  });

  it('n = 4, 2 silent replicas: liveness failures are found', () => {
    const s = runSimulation(overpowered(4, [0, 1], 'silent', 5));
    expect(s.livenessFailures).toBeGreaterThan(0);
  });

  it('within the structure the same attack is harmless', () => {
    expectClean(runSimulation(overpowered(4, [0], 'ab-split', 30)));
    expectClean(runSimulation(overpowered(7, [1, 5], 'ab-split', 5)));
  });
});

describe('ab regression seeds', () => {
  // Soak seed: a replay replica's messages for far epochs (deferred by the idle honest replicas) were all
  // that was in flight after GST, so the simulator ended the run as 'stalled' at step 129, before any
  // client request was due; the scenario used to require those unsubmitted requests (liveness failure).
  it('n = 4, replay, seed 101334: clean', () => {
    expectClean(runSimulation({ protocol: 'ab', n: 4, seeds: 1, seedStart: 101334, byzantine: 'replay', crypto: 'insecure' }));
  });
});

describe('ab regression: a laggard catches up past garbage-collected epochs', () => {
  // Found while writing the ab scenario: a Byzantine proposer (3) sends its epoch-0 FINAL to all but one
  // honest replica (2), which the adversary keeps far behind. The others finish 10 epochs and collect
  // epoch 0 (keepEpochs 1); replica 2 then learns from ABA_3's TERMs that 3's batch is in epoch 0's
  // subset and asks for it with cbc-want, which the others used to ignore for collected epochs: replica 2
  // stayed in epoch 0 forever. Fixed in ab.ts (serveOld: agreed batches are kept `serveEpochs`).
  it.each([1, 2, 3])('network seed %i: the laggard delivers every epoch the others delivered', (seed) => {
    const cfg = { maxBatch: 4, maxRequestBytes: 100, maxPending: 100, epochWindow: 8, keepEpochs: 1, forwardAfter: 1, dedupEpochs: 64 };
    const abs = threshold(4, 1).map((c) => new AtomicBroadcast(c, 'ab', cfg));
    const net = new TestNet<Uint8Array, AbDelivery>(abs, seed);
    const laggard = 2;
    const withheld = (m: { from: number; to: number; msg: { tag: string; body: { t: string } } }) =>
      m.from === 3 && m.to === laggard && m.msg.tag === 'ab/0/cbc/3' && (m.msg.body.t === 'cbc-final' || m.msg.body.t === 'cbc-proof');
    net.input(3, Uint8Array.of(1, 3));
    for (let e = 0; e < 10; e++) {
      net.input(0, Uint8Array.of(10, e));
      net.run((m) => m.to !== laggard, 50_000);
      for (let k = net.pool.length - 1; k >= 0; k--) if (withheld(net.pool[k]!)) net.pool.splice(k, 1);
    }
    expect(abs.map((a) => a.currentEpoch)).toEqual([10, 10, 0, 10]);
    net.run(undefined, 50_000);
    expect(abs[laggard]!.currentEpoch).toBe(10);
    expect(net.outputs[laggard]!.map(canonical)).toEqual(net.outputs[0]!.map(canonical));
  });
});
