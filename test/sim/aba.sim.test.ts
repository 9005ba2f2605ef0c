/**
 * Binary agreement under the deterministic simulator: every behaviour, n = 4 and n = 7 (insecure crypto,
 * 30 seeds per behaviour and n), real crypto for a few seeds, the paper's 16-replica grid with a 7-replica
 * corruption, and the coin-aware scheduling attack (MacBrough) run with the adversary in charge of the
 * network for the whole run. Every run must be free of safety violations and liveness failures, and take
 * few rounds. Negative control: with more corrupted replicas than allowed, agreement breaks.
 */
import { describe, expect, it } from 'vitest';
import { BYZANTINE_KINDS, formatSummary, parseParam, runSimulation } from '../../infra/sim/index.ts';
import type { RunSimulationOptions, SimulationSummary } from '../../infra/sim/index.ts';
import { ABA_ROUND_WINDOW } from '../../shared/protocols/aba.ts';
import { grid } from '../helpers/structures.ts';

function expectClean(s: SimulationSummary): void {
  const report = s.safetyViolations + s.livenessFailures > 0 ? formatSummary(s) : '';
  expect(report).toBe('');
  expect(s.runs).toBeGreaterThan(0);
}

/** Few rounds: the mean is about 2 (the coin matches with probability 1/2), far from the round window. */
function expectFewRounds(s: SimulationSummary, maxMean = 4): void {
  expect(s.meanRounds).toBeDefined();
  expect(s.meanRounds!).toBeLessThan(maxMean);
  expect(s.maxRounds!).toBeLessThan(ABA_ROUND_WINDOW);
}

const KINDS = [...BYZANTINE_KINDS, 'assorted', 'aba-coin-aware', 'none'];

describe('aba simulation', () => {
  for (const n of [4, 7]) {
    it.each(KINDS)(`n = ${n}, byzantine %s: 30 seeds clean, few rounds`, (byzantine) => {
      const s = runSimulation({ protocol: 'aba', n, seeds: 30, seedStart: 1000 * n, byzantine, crypto: 'insecure' });
      expectClean(s);
      expectFewRounds(s);
    });

    it(`n = ${n}: unanimous honest inputs (validity decides them), and fewer corrupted than allowed`, () => {
      const u = runSimulation({ protocol: 'aba', n, seeds: 40, seedStart: 1, byzantine: 'all', crypto: 'insecure', params: { inputs: 'unanimous' }, json: true });
      expectClean(u);
      expect(u.details!.every((r) => r.describe.startsWith('inputs unanimous'))).toBe(true);
      expectClean(runSimulation({ protocol: 'aba', n, seeds: 40, seedStart: 1, byzantine: 'all', crypto: 'insecure', params: { inputs: 'mixed' }, sim: { faulty: 1 } }));
    });
  }

  it("'vote-both' is exercised: the honest replicas see the corrupted ones vote both values", () => {
    const s = runSimulation({ protocol: 'aba', n: 7, seeds: 20, seedStart: 1, byzantine: 'vote-both', crypto: 'insecure', json: true });
    expectClean(s);
    for (const r of s.details!) for (const c of r.corrupted) expect(r.faultsByPeer[c] ?? 0).toBeGreaterThan(0);
  });

  it('n = 4 with real threshold crypto: 10 seeds clean', () => {
    const s = runSimulation({ protocol: 'aba', n: 4, seeds: 10, seedStart: 77, byzantine: 'all', crypto: 'real' });
    expectClean(s);
    expectFewRounds(s);
  });

  it('16-replica grid, 7 corrupted (one location + one OS): 20 seeds clean', () => {
    const s = runSimulation({ protocol: 'aba', structure: grid().structure, seeds: 20, seedStart: 1, byzantine: 'all', crypto: 'insecure', json: true });
    expectClean(s);
    expectFewRounds(s);
    expect(s.details!.every((r) => r.corrupted.length === 7)).toBe(true);
  });

  it('GST comes mid-run in many seeds, and crash-restart replicas do crash', () => {
    const s = runSimulation({ protocol: 'aba', n: 7, seeds: 40, seedStart: 5, byzantine: 'crash-restart', crypto: 'insecure', json: true });
    expectClean(s);
    expect(s.details!.filter((r) => r.steps > r.gstStep).length).toBeGreaterThan(5);
    expect(s.details!.reduce((a, r) => a + r.crashes, 0)).toBeGreaterThan(10);
    expect(s.details!.every((r) => r.ended === 'quiescent')).toBe(true);
  });
});

describe('aba under the coin-aware scheduling attack (MacBrough), no GST during the run', () => {
  // The run ends at maxSteps = gstStep: the adversary schedules every delivery, and every honest replica
  // must still decide, in few rounds.
  const noGst = (n: number, gst: number, seeds: number, byzantine = 'aba-coin-aware', params: Record<string, unknown> = {}): RunSimulationOptions => ({
    protocol: 'aba',
    n,
    seeds,
    seedStart: 1,
    byzantine,
    crypto: 'insecure',
    params,
    sim: { gstStep: gst, maxSteps: gst },
    json: true,
  });

  it('regression: n = 4, seed 3 (with values from the own AUX quorum nobody ever decided: 27 rounds)', () => {
    // npx sintra simulate --protocol aba --n 4 --seeds 1 --seed-start 3 --byzantine aba-coin-aware --gst 20000 --max-steps 20000
    const s = runSimulation({ ...noGst(4, 20_000, 1), seedStart: 3 });
    expectClean(s);
    expect(s.maxRounds!).toBeLessThan(8);
  });

  for (const [n, gst, seeds] of [
    [4, 20_000, 60],
    [7, 60_000, 30],
  ] as const) {
    it(`n = ${n}: ${seeds} seeds, every honest replica decides while the adversary rules, in few rounds`, () => {
      const s = runSimulation(noGst(n, gst, seeds));
      expectClean(s);
      expectFewRounds(s);
      // The attack is at work (messages are held), and nobody waited for GST.
      expect(s.details!.every((r) => r.metrics['held']! > 0)).toBe(true);
      expect(s.details!.every((r) => r.metrics['decidedBeforeGst'] === n - r.corrupted.length)).toBe(true);
      // The adversary knows the fixed coins of rounds 0 and 1 and keeps some runs undecided through them:
      // the threshold coin of round 2 is what ends those.
      expect(s.maxRounds!).toBeGreaterThanOrEqual(3);
    });
  }

  it('the scheduling attack alone (attack=coin-aware) with any corrupted behaviour, GST later: clean', () => {
    for (const n of [4, 7]) {
      const s = runSimulation({ protocol: 'aba', n, seeds: 33, seedStart: 1, byzantine: 'all', crypto: 'insecure', params: { attack: 'coin-aware' }, json: true });
      expectClean(s);
      expectFewRounds(s);
    }
  });
});

const overpowered = (n: number, corrupt: number[], byzantine: string): RunSimulationOptions => ({
  protocol: 'aba',
  n,
  seeds: 100,
  seedStart: 1,
  byzantine,
  crypto: 'insecure',
  sim: { corrupt },
});

describe('aba negative control: more corrupted replicas than the structure allows', () => {
  it('n = 4, 2 equivocators: agreement violations are found', () => {
    const s = runSimulation(overpowered(4, [0, 1], 'equivocate'));
    expect(s.failures.filter((f) => f.reason.includes('agreement:')).length).toBeGreaterThan(0);
  });

  it('n = 7, 3 equivocators: agreement violations are found', () => {
    const s = runSimulation(overpowered(7, [1, 3, 5], 'equivocate'));
    expect(s.failures.filter((f) => f.reason.includes('agreement:')).length).toBeGreaterThan(0);
  });

  it('n = 4, 2 voting both values: no termination; 2 coin-aware: safety violations', () => {
    const vb = runSimulation({ ...overpowered(4, [0, 1], 'vote-both'), seeds: 30 });
    expect(vb.livenessFailures).toBeGreaterThan(20);
    const ca = runSimulation({ ...overpowered(4, [0, 1], 'aba-coin-aware'), seeds: 50 });
    expect(ca.safetyViolations).toBeGreaterThan(5);
  });

  it("a failure's replay command reproduces it", () => {
    const s = runSimulation({ ...overpowered(4, [0, 1], 'equivocate'), seeds: 10 });
    const f = s.failures[0]!;
    expect(f.replay).toContain(`--protocol aba --n 4 --seeds 1 --seed-start ${f.seed} --byzantine equivocate --corrupt 0,1`);
    const arg = (name: string) => f.replay.match(new RegExp(`--${name} (\\S+)`))![1]!;
    const params: Record<string, unknown> = {};
    for (const m of f.replay.matchAll(/--param (\S+)/g)) parseParam(m[1]!, params);
    const again = runSimulation({
      protocol: arg('protocol'),
      n: Number(arg('n')),
      seeds: 1,
      seedStart: Number(arg('seed-start')),
      byzantine: arg('byzantine'),
      crypto: 'insecure',
      params,
      sim: { corrupt: arg('corrupt').split(',').map(Number) },
    });
    expect(again.failures.map((x) => x.reason)).toEqual([f.reason]);
  });
});
