/**
 * Secure causal atomic broadcast soak (`npm run test:soak`): 10,000 seeds across n = 4, 7, 10, 13 and the
 * 16-replica grid, plus 4,000 in mixed mode (envelopes, as the replica engine runs it); every behaviour
 * (and 'scab-early') in rotation, some with fewer corrupted replicas than allowed or every submission at
 * step 0. Zero safety violations (total order, integrity, confidentiality
 * before order) and zero liveness failures allowed. Takes about 25 minutes on a busy 2-core machine.
 * The grid comes from its fixture file, so the replay commands of failed runs work verbatim.
 */
import { describe, expect, it } from 'vitest';
import { formatSummary, runSimulation } from '../../infra/sim/index.ts';
import type { RunSimulationOptions } from '../../infra/sim/index.ts';

const GRID = 'test/fixtures/grid-4x4.json';

/** Runs one batch and prints its summary; returns the number of failed runs (checked by `expectNone`). */
function soak(o: Omit<RunSimulationOptions, 'protocol' | 'crypto' | 'byzantine'> & { byzantine?: string }): number {
  const started = Date.now();
  const s = runSimulation({ protocol: 'scab', crypto: 'insecure', byzantine: 'all', ...o });
  console.log(`${formatSummary(s)}\n  params ${JSON.stringify(o.params ?? {})} sim ${JSON.stringify(o.sim ?? {})}, ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return s.safetyViolations + s.livenessFailures;
}

/** Every batch runs (and prints) before the verdict. */
function expectNone(...failed: number[]): void {
  expect(failed.reduce((a, b) => a + b, 0)).toBe(0);
}

describe('scab soak', () => {
  for (const [n, seeds] of [
    [4, 5400],
    [7, 2800],
    [10, 800],
    [13, 500],
  ] as const) {
    it(`n = ${n}: ${seeds} seeds`, () => {
      const base = 1_000_000 * n;
      const few = Math.floor(seeds / 8);
      expectNone(
        soak({ n, seeds: seeds - 2 * few, seedStart: base }),
        soak({ n, seeds: few, seedStart: base + 100_000, sim: { faulty: 1 } }),
        soak({ n, seeds: few, seedStart: base + 200_000, params: { spread: 0 } }),
      );
    });
  }

  it('mixed mode (the replica engine: plain and encrypted requests in one order): 4,000 seeds at n = 4 and 7', () => {
    expectNone(
      soak({ n: 4, seeds: 3000, seedStart: 40_000_000, params: { mixed: true } }),
      soak({ n: 7, seeds: 1000, seedStart: 70_000_000, params: { mixed: true } }),
    );
  });

  it('16-replica grid (7 corrupted: one location + one OS): 500 seeds', () => {
    expectNone(
      soak({ structure: GRID, seeds: 250, seedStart: 16_000_000 }),
      soak({ structure: GRID, seeds: 250, seedStart: 16_100_000, params: { requests: 4, spread: 0 } }),
    );
  });
});
