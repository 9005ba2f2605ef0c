/**
 * Soak: validated agreement and atomic broadcast under the deterministic simulator, 10,500 seeds per
 * protocol: n = 4 (4000), 7 (3000), 10 (1500), 13 (1000) and the paper's 16-replica grid (500), every
 * behaviour in rotation ('all': the generic ones, 'assorted' and the colluding mvba-split / ab-split),
 * insecure crypto. Excluded from `npm test` (*.soak.test.ts); run with the soak config. Each `it` prints
 * its summary line (runs, violations, mean/max steps and ABA rounds; for mvba also how often the decided
 * value was an honest proposal) and must find no safety violation and no liveness failure.
 *
 * Cost (2-core machine, see the lead's notes for measured numbers): mvba grows with n^3 per ABA round and
 * ab with n^3 per epoch and several epochs per run, so large n dominate. `SINTRA_SOAK_SCALE` multiplies
 * every seed count (e.g. 0.1 for a quick pass, 2 for a longer one); `SINTRA_SOAK_ONLY` selects
 * `protocol` or `protocol:size` entries (comma-separated, e.g. `ab:13,mvba`) so the plan can be split
 * across machines or runs. For n >= 10 and the grid, atomic broadcast runs with fewer requests packed
 * into few epochs (params below), which keeps a run to about one or two epochs.
 */
import { describe, expect, it } from 'vitest';
import { formatSummary, runSimulation } from '../../infra/sim/index.ts';
import type { RunSimulationOptions } from '../../infra/sim/index.ts';
import { grid } from '../helpers/structures.ts';

const SCALE = Number(process.env['SINTRA_SOAK_SCALE'] ?? '1');
const ONLY = (process.env['SINTRA_SOAK_ONLY'] ?? '').split(',').filter((x) => x !== '');

interface Entry {
  readonly size: string;
  readonly seeds: number;
  /** Generous per-test timeout (ms per seed, worst case on a loaded 2-core machine). */
  readonly msPerSeed: number;
  readonly target: Pick<RunSimulationOptions, 'n' | 'structure'>;
  readonly params?: Readonly<Record<string, unknown>>;
}

const PLAN: Record<'mvba' | 'ab', readonly Entry[]> = {
  mvba: [
    { size: '4', seeds: 4000, msPerSeed: 100, target: { n: 4 } },
    { size: '7', seeds: 3000, msPerSeed: 400, target: { n: 7 } },
    { size: '10', seeds: 1500, msPerSeed: 1500, target: { n: 10 } },
    { size: '13', seeds: 1000, msPerSeed: 3000, target: { n: 13 } },
    { size: 'grid', seeds: 500, msPerSeed: 5000, target: { structure: grid().structure } },
  ],
  ab: [
    { size: '4', seeds: 4000, msPerSeed: 250, target: { n: 4 } },
    { size: '7', seeds: 3000, msPerSeed: 1500, target: { n: 7 } },
    { size: '10', seeds: 1500, msPerSeed: 5000, target: { n: 10 }, params: { requests: 6, spread: 0 } },
    { size: '13', seeds: 1000, msPerSeed: 10000, target: { n: 13 }, params: { requests: 6, spread: 0 } },
    { size: 'grid', seeds: 500, msPerSeed: 15000, target: { structure: grid().structure }, params: { requests: 6, spread: 0 } },
  ],
};

const selected = (protocol: string, size: string) => ONLY.length === 0 || ONLY.includes(protocol) || ONLY.includes(`${protocol}:${size}`);

for (const protocol of ['mvba', 'ab'] as const) {
  describe(`${protocol} soak`, () => {
    for (const e of PLAN[protocol]) {
      const seeds = Math.max(1, Math.round(e.seeds * SCALE));
      const label = e.size === 'grid' ? '16-replica grid' : `n = ${e.size}`;
      it.skipIf(!selected(protocol, e.size))(
        `${label}: ${seeds} seeds, byzantine all, no violations`,
        () => {
          let quality = 0;
          const started = Date.now();
          const s = runSimulation({
            protocol,
            ...e.target,
            seeds,
            seedStart: 100_000,
            byzantine: 'all',
            crypto: 'insecure',
            params: e.params,
            onRun: (r) => (quality += r.metrics['quality'] ?? 0),
          });
          const extra = protocol === 'mvba' ? `, honest decision ${((100 * quality) / seeds).toFixed(1)}%` : '';
          console.log(`${formatSummary(s)}\n  wall ${((Date.now() - started) / 1000).toFixed(1)} s${extra}`);
          expect(s.safetyViolations).toBe(0);
          expect(s.livenessFailures).toBe(0);
        },
        seeds * e.msPerSeed + 60_000,
      );
    }
  });
}
