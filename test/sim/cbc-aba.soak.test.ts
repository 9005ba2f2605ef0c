/**
 * Consistent broadcast and binary agreement soak (`npm run test:soak`): 10,000 seeds per protocol across
 * n = 4, 7, 10, 13 (4000/3000/1500/1000) and the 16-replica grid (500), every behaviour in rotation
 * ('all', which includes cbc-split and aba-coin-aware), plus per n: cbc with corrupted senders and `want`,
 * and with fewer corrupted replicas than allowed; aba with the coin-aware scheduling attack on top of every
 * behaviour, with unanimous honest inputs, and with the coin-aware adversary ruling the network for the
 * whole run (no GST). Zero safety violations and zero liveness failures allowed; each batch prints its
 * summary line (aba: mean/max rounds).
 */
import { describe, expect, it } from 'vitest';
import { formatSummary, runSimulation } from '../../infra/sim/index.ts';
import type { RunSimulationOptions } from '../../infra/sim/index.ts';
import type { StructureDescription } from '../../shared/quorum/quorum-system.ts';
import { grid } from '../helpers/structures.ts';

type SoakOptions = Omit<RunSimulationOptions, 'crypto' | 'byzantine'> & { byzantine?: string };

function soak(o: SoakOptions): { runs: number; roundsSum: number; maxRounds: number } {
  const started = Date.now();
  const s = runSimulation({ crypto: 'insecure', byzantine: 'all', ...o });
  console.log(`${formatSummary(s)}\n  params ${JSON.stringify(o.params ?? {})} sim ${JSON.stringify(o.sim ?? {})}, ${((Date.now() - started) / 1000).toFixed(1)} s`);
  expect(s.safetyViolations).toBe(0);
  expect(s.livenessFailures).toBe(0);
  return { runs: s.runs, roundsSum: (s.meanRounds ?? 0) * s.runs, maxRounds: s.maxRounds ?? 0 };
}

interface Size {
  readonly label: string;
  readonly where: { n: number } | { structure: StructureDescription };
  readonly seeds: number;
  readonly seedStart: number;
  /** gstStep = maxSteps for the no-GST coin-aware batch. */
  readonly noGst: number;
}

const SIZES: readonly Size[] = [
  { label: 'n = 4', where: { n: 4 }, seeds: 4000, seedStart: 4_000_000, noGst: 20_000 },
  { label: 'n = 7', where: { n: 7 }, seeds: 3000, seedStart: 7_000_000, noGst: 60_000 },
  { label: 'n = 10', where: { n: 10 }, seeds: 1500, seedStart: 10_000_000, noGst: 120_000 },
  { label: 'n = 13', where: { n: 13 }, seeds: 1000, seedStart: 13_000_000, noGst: 200_000 },
  { label: '16-replica grid', where: { structure: grid().structure }, seeds: 500, seedStart: 16_000_000, noGst: 250_000 },
];

describe('cbc soak', () => {
  for (const z of SIZES) {
    it(`${z.label}: ${z.seeds} seeds`, () => {
      const all = Math.round(z.seeds * 0.7);
      const byz = Math.round(z.seeds * 0.2);
      const base = { protocol: 'cbc', ...z.where };
      soak({ ...base, seeds: all, seedStart: z.seedStart });
      soak({ ...base, seeds: byz, seedStart: z.seedStart + 100_000, params: { sender: 'byzantine', want: true } });
      soak({ ...base, seeds: z.seeds - all - byz, seedStart: z.seedStart + 200_000, sim: { faulty: 1 } });
    });
  }
});

describe('aba soak', () => {
  for (const z of SIZES) {
    it(`${z.label}: ${z.seeds} seeds`, () => {
      const all = Math.round(z.seeds * 0.7);
      const attack = Math.round(z.seeds * 0.15);
      const unanimous = Math.round(z.seeds * 0.1);
      const base = { protocol: 'aba', ...z.where };
      const parts = [
        soak({ ...base, seeds: all, seedStart: z.seedStart }),
        soak({ ...base, seeds: attack, seedStart: z.seedStart + 100_000, params: { attack: 'coin-aware' } }),
        soak({ ...base, seeds: unanimous, seedStart: z.seedStart + 200_000, params: { inputs: 'unanimous' } }),
        soak({
          ...base,
          seeds: z.seeds - all - attack - unanimous,
          seedStart: z.seedStart + 300_000,
          byzantine: 'aba-coin-aware',
          sim: { gstStep: z.noGst, maxSteps: z.noGst },
        }),
      ];
      const runs = parts.reduce((a, p) => a + p.runs, 0);
      const mean = parts.reduce((a, p) => a + p.roundsSum, 0) / runs;
      const max = Math.max(...parts.map((p) => p.maxRounds));
      console.log(`aba soak ${z.label}: ${runs} runs, rounds mean ${mean.toFixed(2)} max ${max}`);
      expect(runs).toBe(z.seeds);
    });
  }
});
