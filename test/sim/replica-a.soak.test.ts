/** Whole-replica soak, part A (plan in replica-soak.ts): n = 4, 83,000 seeds; n = 10, 4,000 seeds. */
import { describe } from 'vitest';
import { soak } from './replica-soak.ts';

describe('whole-replica soak A', () => {
  soak([
    { size: '4', seeds: 83_000, msPerSeed: 200, target: { n: 4 }, seedStart: 1_000_000 },
    { size: '10', seeds: 4_000, msPerSeed: 2_500, target: { n: 10 }, seedStart: 3_000_000 },
  ]);
});
