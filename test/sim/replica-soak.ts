/**
 * The whole-replica soak's plan (test/sim/replica-a/b/c.soak.test.ts, several files so the soak config
 * runs them on both cores): 100,000 seeds in a and b, every behaviour in rotation ('all': fuzz,
 * twins, aba-split, silent and the protocol behaviours, plus 'assorted'), crashes at every persistence point,
 * failed writes and, where the structure can take it, storage going back in time (replica-c: fewer
 * corrupted replicas than the structure allows, so that storage can go back within it). Chunks of at most
 * 5,000 seeds, one summary line each. `SINTRA_SOAK_SCALE` multiplies the seed counts; `SINTRA_SOAK_ONLY`
 * selects entries (`replica:4`, `replica:grid`, or `replica` for all).
 */
import { expect, it } from 'vitest';
import { formatReplicaSummary, runReplicaSimulation } from '../../infra/sim/replica/index.ts';
import type { RunReplicaSimulationOptions } from '../../infra/sim/replica/index.ts';

const SCALE = Number(process.env['SINTRA_SOAK_SCALE'] ?? '1');
const ONLY = (process.env['SINTRA_SOAK_ONLY'] ?? '').split(',').filter((x) => x !== '');
const CHUNK = 5000;

export interface SoakEntry {
  readonly size: string;
  readonly seeds: number;
  /** Generous per-seed time (ms) for the test timeout, on a loaded 2-core machine. */
  readonly msPerSeed: number;
  readonly target: Pick<RunReplicaSimulationOptions, 'n' | 'structure'>;
  /** First seed (entries do not overlap). */
  readonly seedStart: number;
  /** Default 'all' (every behaviour in rotation). */
  readonly byzantine?: string;
  /** Corrupt only this many (room for storage going back in time). */
  readonly faulty?: number;
}

export function soak(entries: readonly SoakEntry[]): void {
  for (const e of entries) {
    const total = Math.max(1, Math.round(e.seeds * SCALE));
    const selected = ONLY.length === 0 || ONLY.includes('replica') || ONLY.includes(`replica:${e.size}`);
    const label = `${e.size === 'grid' ? '16-replica grid' : `n = ${e.size}`}${e.faulty !== undefined ? `, ${e.faulty} corrupted` : ''}`;
    const byzantine = e.byzantine ?? 'all';
    for (let from = 0; from < total; from += CHUNK) {
      const seeds = Math.min(CHUNK, total - from);
      const seedStart = e.seedStart + from;
      it.skipIf(!selected)(
        `whole replicas, ${label}: seeds ${seedStart}..${seedStart + seeds - 1}, byzantine ${byzantine}, no violations`,
        () => {
          const started = Date.now();
          const s = runReplicaSimulation({ ...e.target, seeds, seedStart, byzantine, ...(e.faulty !== undefined ? { faulty: e.faulty } : {}) });
          console.log(`${formatReplicaSummary(s)}\n  wall ${((Date.now() - started) / 1000).toFixed(1)} s`);
          expect(s.safety_violations).toBe(0);
          expect(s.liveness_failures).toBe(0);
        },
        seeds * e.msPerSeed + 60_000,
      );
    }
  }
}
