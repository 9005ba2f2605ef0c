/**
 * Reliable broadcast soak (`npm run test:soak`): 13,800 seeds across n = 4, 7, 10, 13 and the 16-replica
 * grid, every behaviour in rotation, with corrupted senders, fewer corrupted replicas than allowed and
 * partitions before GST. Zero safety violations and zero liveness failures allowed. About a minute.
 * The grid comes from its fixture file, so the replay commands of failed runs work verbatim.
 */
import { describe, expect, it } from 'vitest';
import { formatSummary, runSimulation } from '../../infra/sim/index.ts';
import type { RunSimulationOptions } from '../../infra/sim/index.ts';

const GRID = 'test/fixtures/grid-4x4.json';

/** Runs one batch and prints its summary; returns the number of failed runs (checked by `expectNone`). */
function soak(o: Omit<RunSimulationOptions, 'protocol' | 'crypto' | 'byzantine'> & { byzantine?: string }): number {
  const started = Date.now();
  const s = runSimulation({ protocol: 'rbc', crypto: 'insecure', byzantine: 'all', ...o });
  console.log(`${formatSummary(s)}\n  params ${JSON.stringify(o.params ?? {})} sim ${JSON.stringify(o.sim ?? {})}, ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return s.safetyViolations + s.livenessFailures;
}

/** Every batch runs (and prints) before the verdict. */
function expectNone(...failed: number[]): void {
  expect(failed.reduce((a, b) => a + b, 0)).toBe(0);
}

describe('rbc soak', () => {
  for (const [n, seeds] of [
    [4, 3000],
    [7, 2000],
    [10, 1000],
    [13, 600],
  ] as const) {
    it(`n = ${n}: ${seeds + seeds / 2 + seeds / 4 + seeds / 4} seeds`, () => {
      expectNone(
        soak({ n, seeds, seedStart: 1_000_000 * n }),
        soak({ n, seeds: seeds / 2, seedStart: 1_000_000 * n + 100_000, params: { sender: 'byzantine' } }),
        soak({ n, seeds: seeds / 4, seedStart: 1_000_000 * n + 200_000, sim: { faulty: 1 } }),
        soak({ n, seeds: seeds / 4, seedStart: 1_000_000 * n + 300_000, byzantine: 'rbc-split', params: { sender: 'byzantine', partition: true } }),
      );
    });
  }

  it('16-replica grid (7 corrupted: one location + one OS): 600 seeds', () => {
    expectNone(
      soak({ structure: GRID, seeds: 400, seedStart: 16_000_000 }),
      soak({ structure: GRID, seeds: 200, seedStart: 16_100_000, params: { sender: 'byzantine', partition: true } }),
    );
  });
});
