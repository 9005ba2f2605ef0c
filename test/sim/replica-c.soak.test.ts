/**
 * Whole-replica soak, part C (plan in replica-soak.ts): storage going back in time, with room for it in
 * the structure: n = 4 and 7 with no corrupted replica, n = 7 with one (fuzz, twins, aba-split and the rest
 * in rotation), so that one or two crashing replicas' storage may go back once; they must be found out or
 * stay harmless, and the others safe and live.
 */
import { describe } from 'vitest';
import { soak } from './replica-soak.ts';

describe('whole-replica soak C (rollbacks)', () => {
  soak([
    { size: '4', seeds: 5_000, msPerSeed: 200, target: { n: 4 }, seedStart: 5_000_000, byzantine: 'none' },
    { size: '7', seeds: 2_000, msPerSeed: 1_000, target: { n: 7 }, seedStart: 6_000_000, byzantine: 'none' },
    { size: '7', seeds: 2_000, msPerSeed: 1_000, target: { n: 7 }, seedStart: 7_000_000, byzantine: 'all', faulty: 1 },
  ]);
});
