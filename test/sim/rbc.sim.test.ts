/**
 * Reliable broadcast under the deterministic simulator: every behaviour, n = 4 and n = 7 (insecure crypto,
 * 40 seeds per behaviour and n), real crypto for a few seeds, and the paper's 16-replica grid with a
 * 7-replica corruption. Every run must be free of safety violations and liveness failures.
 */
import { describe, expect, it } from 'vitest';
import { BYZANTINE_KINDS, formatSummary, runSimulation } from '../../infra/sim/index.ts';
import type { SimulationSummary } from '../../infra/sim/index.ts';
import { grid } from '../helpers/structures.ts';

function expectClean(s: SimulationSummary): void {
  const report = s.safetyViolations + s.livenessFailures > 0 ? formatSummary(s) : '';
  expect(report).toBe('');
  expect(s.runs).toBeGreaterThan(0);
}

const KINDS = [...BYZANTINE_KINDS, 'assorted', 'rbc-split', 'none'];

describe('rbc simulation', () => {
  for (const n of [4, 7]) {
    it.each(KINDS)(`n = ${n}, byzantine %s: 40 seeds clean`, (byzantine) => {
      const s = runSimulation({ protocol: 'rbc', n, seeds: 40, seedStart: 1000 * n, byzantine, crypto: 'insecure' });
      expectClean(s);
    });

    it(`n = ${n}: a corrupted sender in some seeds, fewer corrupted than allowed in others`, () => {
      expectClean(runSimulation({ protocol: 'rbc', n, seeds: 40, seedStart: 1, byzantine: 'all', crypto: 'insecure', params: { sender: 'byzantine' } }));
      expectClean(runSimulation({ protocol: 'rbc', n, seeds: 40, seedStart: 1, byzantine: 'all', crypto: 'insecure', sim: { faulty: 1 } }));
      expectClean(runSimulation({ protocol: 'rbc', n, seeds: 40, seedStart: 1, byzantine: 'rbc-split', crypto: 'insecure', params: { sender: 'byzantine', partition: true } }));
    });
  }

  it('n = 4 with real threshold crypto: 10 seeds clean', () => {
    expectClean(runSimulation({ protocol: 'rbc', n: 4, seeds: 10, seedStart: 77, byzantine: 'all', crypto: 'real' }));
  });

  it('16-replica grid, 7 corrupted (one location + one OS): 20 seeds clean', () => {
    const s = runSimulation({ protocol: 'rbc', structure: grid().structure, seeds: 20, seedStart: 1, byzantine: 'all', crypto: 'insecure', json: true });
    expectClean(s);
    expect(s.details!.every((r) => r.corrupted.length === 7)).toBe(true);
  });

  it('GST comes mid-run in many seeds, and crash-restart replicas do crash', () => {
    const s = runSimulation({ protocol: 'rbc', n: 7, seeds: 40, seedStart: 5, byzantine: 'crash-restart', crypto: 'insecure', json: true });
    expectClean(s);
    expect(s.details!.filter((r) => r.steps > r.gstStep).length).toBeGreaterThan(5);
    expect(s.details!.reduce((a, r) => a + r.crashes, 0)).toBeGreaterThan(10);
    expect(s.details!.every((r) => r.ended === 'quiescent')).toBe(true);
  });
});
