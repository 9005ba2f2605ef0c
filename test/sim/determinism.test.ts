/** The simulator is a function of its seed: same seed, same run, delivery for delivery. */
import { describe, expect, it } from 'vitest';
import { Rng, scenarioFactory, simulate, thresholdStructure } from '../../infra/sim/index.ts';

describe('simulator determinism', () => {
  const scenario = scenarioFactory('rbc')({ structure: thresholdStructure(7) });

  it.each(['assorted', 'mixed', 'crash-restart', 'garbage'])('same seed twice -> identical trace (%s)', (byzantine) => {
    for (const seed of [1, 42, 4096]) {
      const a = simulate(scenario, { seed, byzantine, keepTrace: true });
      const b = simulate(scenario, { seed, byzantine, keepTrace: true });
      expect(b.traceHash).toBe(a.traceHash);
      expect(b.trace).toEqual(a.trace);
      expect(JSON.stringify(b)).toBe(JSON.stringify(a));
    }
  });

  it('different seeds explore different schedules', () => {
    const hashes = new Set(Array.from({ length: 20 }, (_, seed) => simulate(scenario, { seed, byzantine: 'assorted' }).traceHash));
    expect(hashes.size).toBe(20);
  });

  it('a fresh scenario object replays the same run (no hidden state across runs)', () => {
    const a = simulate(scenario, { seed: 9, byzantine: 'replay' });
    simulate(scenario, { seed: 10, byzantine: 'garbage' });
    const b = simulate(scenarioFactory('rbc')({ structure: thresholdStructure(7) }), { seed: 9, byzantine: 'replay' });
    expect(b.traceHash).toBe(a.traceHash);
  });

  it('Rng: fixed sequence per seed, forks independent of draw order', () => {
    const r = new Rng(1);
    const first = [r.next(), r.next(), r.next()];
    expect(new Rng(1).next()).toBe(first[0]);
    expect(new Rng(2).next()).not.toBe(first[0]);
    const x = new Rng(5);
    const f1 = x.fork('network').next();
    x.next();
    x.next();
    expect(x.fork('network').next()).toBe(f1);
    expect(x.fork('adversary').next()).not.toBe(f1);
    const counts = [0, 0, 0, 0];
    const y = new Rng(3);
    for (let i = 0; i < 4000; i++) counts[y.int(4)]!++;
    for (const c of counts) expect(c).toBeGreaterThan(850);
    expect(y.shuffle([1, 2, 3, 4, 5]).sort()).toEqual([1, 2, 3, 4, 5]);
    expect(() => new Rng(-1)).toThrow();
  });
});
