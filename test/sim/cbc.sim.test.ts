/**
 * Consistent broadcast under the deterministic simulator: every behaviour, n = 4 and n = 7 (insecure crypto,
 * 40 seeds per behaviour and n), real crypto for a few seeds, and the paper's 16-replica grid with a
 * 7-replica corruption. Every run must be free of safety violations and liveness failures. Negative
 * control: a split sender with one accomplice too many gets two proofs, and the checkers must say so.
 */
import { describe, expect, it } from 'vitest';
import { BYZANTINE_KINDS, formatSummary, parseParam, runSimulation } from '../../infra/sim/index.ts';
import type { RunSimulationOptions, SimulationSummary } from '../../infra/sim/index.ts';
import { grid } from '../helpers/structures.ts';

function expectClean(s: SimulationSummary): void {
  const report = s.safetyViolations + s.livenessFailures > 0 ? formatSummary(s) : '';
  expect(report).toBe('');
  expect(s.runs).toBeGreaterThan(0);
}

const KINDS = [...BYZANTINE_KINDS, 'assorted', 'cbc-split', 'none'];

describe('cbc simulation', () => {
  for (const n of [4, 7]) {
    it.each(KINDS)(`n = ${n}, byzantine %s: 40 seeds clean`, (byzantine) => {
      const s = runSimulation({ protocol: 'cbc', n, seeds: 40, seedStart: 1000 * n, byzantine, crypto: 'insecure' });
      expectClean(s);
    });

    it(`n = ${n}: a corrupted sender in some seeds, fewer corrupted than allowed in others`, () => {
      expectClean(runSimulation({ protocol: 'cbc', n, seeds: 40, seedStart: 1, byzantine: 'all', crypto: 'insecure', params: { sender: 'byzantine' } }));
      expectClean(runSimulation({ protocol: 'cbc', n, seeds: 40, seedStart: 1, byzantine: 'all', crypto: 'insecure', sim: { faulty: 1 } }));
      expectClean(runSimulation({ protocol: 'cbc', n, seeds: 40, seedStart: 1, byzantine: 'cbc-split', crypto: 'insecure', params: { sender: 'byzantine', want: true } }));
    });
  }

  it('a Byzantine sender: invalid values are never delivered, valid ones sometimes are, and `want` spreads them', () => {
    const s = runSimulation({ protocol: 'cbc', n: 4, seeds: 200, seedStart: 1, byzantine: 'all', crypto: 'insecure', params: { sender: 'byzantine', want: true }, json: true });
    expectClean(s);
    const runs = s.details!;
    const invalid = runs.filter((r) => r.describe.includes('invalid value'));
    expect(invalid.length).toBeGreaterThan(20);
    expect(invalid.every((r) => r.metrics['delivered'] === 0)).toBe(true);
    // Not vacuous: with a valid value some Byzantine senders still get it delivered, and then (everyone
    // asked) by every honest replica.
    const delivered = runs.filter((r) => r.metrics['delivered']! > 0);
    expect(delivered.length).toBeGreaterThan(20);
    const checked = (r: (typeof runs)[number]) => r.behaviourOf.filter((b) => b === 'honest' || b === 'crash-restart').length;
    expect(delivered.every((r) => r.metrics['delivered'] === checked(r))).toBe(true);
  });

  it('n = 4 with real crypto (Ed25519 echo certificates): 10 seeds clean', () => {
    expectClean(runSimulation({ protocol: 'cbc', n: 4, seeds: 10, seedStart: 77, byzantine: 'all', crypto: 'real' }));
  });

  it('n = 4 with real crypto and threshold BLS certificates (groups dealt before echo keys): 10 seeds clean', () => {
    expectClean(runSimulation({ protocol: 'cbc', n: 4, seeds: 10, seedStart: 77, byzantine: 'all', crypto: 'real-bls' }));
  });

  it('16-replica grid, 7 corrupted (one location + one OS): 20 seeds clean', () => {
    const s = runSimulation({ protocol: 'cbc', structure: grid().structure, seeds: 20, seedStart: 1, byzantine: 'all', crypto: 'insecure', json: true });
    expectClean(s);
    expect(s.details!.every((r) => r.corrupted.length === 7)).toBe(true);
  });

  it('GST comes mid-run in many seeds, and crash-restart replicas do crash', () => {
    const s = runSimulation({ protocol: 'cbc', n: 7, seeds: 40, seedStart: 5, byzantine: 'crash-restart', crypto: 'insecure', json: true });
    expectClean(s);
    expect(s.details!.filter((r) => r.steps > r.gstStep).length).toBeGreaterThan(5);
    expect(s.details!.reduce((a, r) => a + r.crashes, 0)).toBeGreaterThan(5);
  });
});

const overpowered = (n: number, corrupt: number[], byzantine: string, params: Record<string, unknown> = {}): RunSimulationOptions => ({
  protocol: 'cbc',
  n,
  seeds: 200,
  seedStart: 1,
  byzantine,
  crypto: 'insecure',
  params: { sender: 'byzantine', ...params },
  sim: { corrupt },
});

describe('cbc negative control: more corrupted replicas than the structure allows', () => {
  it('n = 4, a split sender and one accomplice: two proofs, agreement violations are found', () => {
    const s = runSimulation(overpowered(4, [0, 1], 'cbc-split'));
    expect(s.failures.filter((f) => f.reason.includes('agreement:')).length).toBeGreaterThan(0);
    expect(s.safetyViolations).toBeGreaterThan(50);
  });

  it('n = 7, a split sender and two accomplices: agreement violations are found', () => {
    const s = runSimulation(overpowered(7, [1, 3, 5], 'cbc-split', { want: true }));
    expect(s.failures.filter((f) => f.reason.includes('agreement:')).length).toBeGreaterThan(0);
  });

  it('within the structure the same attack is harmless', () => {
    expectClean(runSimulation({ ...overpowered(4, [0], 'cbc-split'), seeds: 100 }));
    expectClean(runSimulation({ ...overpowered(7, [1, 3], 'cbc-split', { want: true }), seeds: 100 }));
  });

  it("a failure's replay command reproduces it", () => {
    const s = runSimulation({ ...overpowered(4, [0, 1], 'cbc-split'), seeds: 5 });
    const f = s.failures[0]!;
    expect(f.replay).toContain(`--protocol cbc --n 4 --seeds 1 --seed-start ${f.seed} --byzantine cbc-split --corrupt 0,1`);
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
