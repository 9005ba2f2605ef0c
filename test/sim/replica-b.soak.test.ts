/** Whole-replica soak, part B (plan in replica-soak.ts): n = 7, 12,000 seeds; the 16-replica grid, 1,000. */
import { describe } from 'vitest';
import { grid } from '../helpers/structures.ts';
import { soak } from './replica-soak.ts';

describe('whole-replica soak B', () => {
  soak([
    { size: '7', seeds: 12_000, msPerSeed: 1_000, target: { n: 7 }, seedStart: 2_000_000 },
    { size: 'grid', seeds: 1_000, msPerSeed: 15_000, target: { structure: grid() }, seedStart: 4_000_000 },
  ]);
});
