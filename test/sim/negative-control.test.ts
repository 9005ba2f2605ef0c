/**
 * Negative controls (docs/design.md section 13): with more corrupted replicas than the structure allows, the
 * adversary can break reliable broadcast, and the checkers must say so. If these tests find no violation,
 * the simulator or its checkers are blind.
 */
import { describe, expect, it } from 'vitest';
import { parseParam, runSimulation } from '../../infra/sim/index.ts';
import type { RunSimulationOptions } from '../../infra/sim/index.ts';

const overpowered = (n: number, corrupt: number[], byzantine: string, params: Record<string, unknown> = {}): RunSimulationOptions => ({
  protocol: 'rbc',
  n,
  seeds: 200,
  seedStart: 1,
  byzantine,
  crypto: 'insecure',
  params: { sender: 'byzantine', ...params },
  sim: { corrupt },
});

describe('negative control: more corrupted replicas than the structure allows', () => {
  it('n = 4, 2 coordinated equivocators (one the sender): agreement violations are found', () => {
    const s = runSimulation(overpowered(4, [0, 1], 'rbc-split'));
    const agreement = s.failures.filter((f) => f.reason.includes('agreement:'));
    expect(agreement.length).toBeGreaterThan(0);
    expect(s.safetyViolations).toBeGreaterThan(100);
  });

  it('n = 4, 2 coordinated equivocators with the honest replicas partitioned: agreement violations are found', () => {
    const s = runSimulation(overpowered(4, [0, 1], 'rbc-split', { partition: true }));
    expect(s.failures.filter((f) => f.reason.includes('agreement:')).length).toBeGreaterThan(0);
  });

  it('n = 7, 3 coordinated equivocators: agreement violations are found', () => {
    const s = runSimulation(overpowered(7, [1, 3, 5], 'rbc-split'));
    expect(s.failures.filter((f) => f.reason.includes('agreement:')).length).toBeGreaterThan(0);
  });

  it('n = 4, 2 generic equivocators (one the sender): some violation is found', () => {
    const s = runSimulation(overpowered(4, [0, 1], 'equivocate'));
    expect(s.safetyViolations + s.livenessFailures).toBeGreaterThan(0);
  });

  it('within the structure the same attack is harmless', () => {
    const s = runSimulation({ ...overpowered(4, [0], 'rbc-split'), seeds: 100 });
    expect(s.safetyViolations + s.livenessFailures).toBe(0);
  });

  it("a failure's replay command reproduces it", () => {
    const o = overpowered(4, [0, 1], 'rbc-split');
    const s = runSimulation({ ...o, seeds: 5 });
    const f = s.failures[0]!;
    expect(f.replay).toContain(`--seeds 1 --seed-start ${f.seed} --byzantine rbc-split`);
    expect(f.replay).toContain('--corrupt 0,1');
    // Re-run from the command line's arguments only.
    const arg = (name: string) => f.replay.match(new RegExp(`--${name} (\\S+)`))![1]!;
    const params: Record<string, unknown> = {};
    for (const m of f.replay.matchAll(/--param (\S+)/g)) parseParam(m[1]!, params);
    const again = runSimulation({
      protocol: arg('protocol'),
      n: Number(arg('n')),
      seeds: Number(arg('seeds')),
      seedStart: Number(arg('seed-start')),
      byzantine: arg('byzantine'),
      crypto: 'insecure',
      params,
      sim: { corrupt: arg('corrupt').split(',').map(Number) },
    });
    expect(again.failures.map((x) => x.reason)).toEqual([f.reason]);
  });
});
