/** `sintra simulate`, in-process through main(): exit codes, summaries, --json, and replay commands that reproduce. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../infra/cli/main.ts';
import { SCENARIOS } from '../../infra/sim/index.ts';
import type { SimulationSummary } from '../../infra/sim/index.ts';
import { GRID_FILE } from '../helpers/structures.ts';

interface Run {
  code: number;
  out: string;
  err: string;
}

async function sintra(...args: string[]): Promise<Run> {
  let out = '';
  let err = '';
  const code = await main(['node', 'sintra', ...args], { out: (s) => void (out += s), err: (s) => void (err += s) });
  return { code, out, err };
}

/** Runs a printed replay command verbatim (`npx sintra simulate ...`). */
function replay(command: string): Promise<Run> {
  const words = command.trim().split(/\s+/);
  expect(words.slice(0, 3)).toEqual(['npx', 'sintra', 'simulate']);
  return sintra(...words.slice(2));
}

function usageError(r: Run): string {
  expect(r.code).toBe(2);
  const lines = r.err.split('\n').filter((l) => l !== '');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^error: /);
  expect(r.out).toBe('');
  return lines[0]!;
}

const firstReplay = (out: string) => out.match(/replay: (npx sintra simulate .*)$/m)![1]!;

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'sintra-simulate-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('sintra simulate', () => {
  it('a clean run: readable summary, exit 0', async () => {
    const r = await sintra('simulate', '--protocol', 'rbc', '--n', '4', '--seeds', '30');
    expect(r.code).toBe(0);
    expect(r.out).toContain('simulate rbc: threshold n=4 t=1, byzantine all, crypto insecure, seeds 1..30');
    expect(r.out).toContain('runs 30, safety violations 0, liveness failures 0');
    expect(r.out).toMatch(/steps mean [0-9.]+ max [0-9]+/);
    expect(r.out).toMatch(/^OK: 30 runs in [0-9.]+ s$/m);
    expect(r.out).not.toContain('FAIL');
  });

  it('--json: one JSON object on stdout', async () => {
    const r = await sintra('simulate', '--protocol', 'scab', '--n', '4', '--seeds', '3', '--seed-start', '40', '--byzantine', 'scab-early', '--json');
    expect(r.code).toBe(0);
    const s = JSON.parse(r.out) as SimulationSummary;
    expect(s).toMatchObject({ protocol: 'scab', n: 4, runs: 3, seedStart: 40, byzantine: 'scab-early', safetyViolations: 0, livenessFailures: 0, failures: [] });
    expect(s.meanRounds).toBeGreaterThanOrEqual(0);
    expect(s.maxRounds).toBeDefined();
    expect(r.out.trim().split('\n')).toHaveLength(1);
  });

  it('a negative control fails with exit 1, and its replay command reproduces the failure verbatim', async () => {
    const args = ['simulate', '--protocol', 'rbc', '--n', '4', '--seeds', '20', '--corrupt', '0,1', '--byzantine', 'rbc-split', '--param', 'sender=byzantine'];
    const r = await sintra(...args);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/safety violations [1-9]/);
    expect(r.out).toMatch(/^FAILED: 20 runs/m);
    expect(r.out).toContain('... and'); // more than 10 failures: the rest is left to --json
    const json = JSON.parse((await sintra(...args, '--json')).out) as SimulationSummary;
    const f = json.failures[0]!;
    expect(firstReplay(r.out)).toBe(f.replay);
    expect(f.replay).toBe(`npx sintra simulate --protocol rbc --n 4 --seeds 1 --seed-start ${f.seed} --byzantine rbc-split --corrupt 0,1 --param sender=byzantine`);
    const again = await replay(f.replay);
    expect(again.code).toBe(1);
    expect(again.out).toContain(`FAIL seed ${f.seed} (rbc-split): ${f.reason}`);
  });

  it('replays with a non-default t, a structure file and scenario params', async () => {
    const t1 = await sintra('simulate', '--protocol', 'rbc', '--n', '7', '--t', '1', '--seeds', '10', '--corrupt', '0,1,2', '--byzantine', 'rbc-split', '--param', 'sender=byzantine');
    expect(t1.code).toBe(1);
    expect(firstReplay(t1.out)).toContain('--n 7 --seeds 1');
    expect(firstReplay(t1.out)).toContain('--t 1');
    expect((await replay(firstReplay(t1.out))).code).toBe(1);

    const file = path.join(tmp, 'grid.json');
    await writeFile(file, JSON.stringify(GRID_FILE));
    const g = await sintra('simulate', '--protocol', 'rbc', '--structure', file, '--seeds', '10', '--corrupt', '0,1,2,3,4,5,6,7,8', '--byzantine', 'rbc-split', '--param', 'sender=byzantine');
    expect(g.code).toBe(1);
    expect(g.out).toContain('general n=16');
    const cmd = firstReplay(g.out);
    expect(cmd).toContain(`--n 16 --seeds 1`);
    expect(cmd).toContain(`--structure ${file}`);
    const again = await replay(cmd);
    expect(again.code).toBe(1);
    expect(again.out).toContain(cmd);

    const leak = await sintra('simulate', '--protocol', 'scab', '--n', '4', '--seeds', '3', '--byzantine', 'silent', '--param', 'leak=true');
    expect(leak.code).toBe(1);
    expect(leak.out).toContain('before its atomic broadcast ordered it');
    const leakAgain = await replay(firstReplay(leak.out));
    expect(leakAgain.code).toBe(1);
    expect(leakAgain.out).toContain('before its atomic broadcast ordered it');
  });

  it('usage errors: one line, exit 2', async () => {
    const base = ['simulate', '--protocol', 'rbc', '--n', '4', '--seeds', '2'];
    expect(usageError(await sintra('simulate', '--protocol', 'paxos', '--n', '4', '--seeds', '2'))).toContain('unknown protocol "paxos"');
    expect(usageError(await sintra('simulate', '--n', '4', '--seeds', '2'))).toContain('--protocol');
    expect(usageError(await sintra('simulate', '--protocol', 'rbc', '--n', '4'))).toContain('--seeds');
    expect(usageError(await sintra('simulate', '--protocol', 'rbc', '--seeds', '2'))).toContain('--n');
    expect(usageError(await sintra('simulate', '--protocol', 'rbc', '--n', 'four', '--seeds', '2'))).toContain('--n must be an integer');
    expect(usageError(await sintra('simulate', '--protocol', 'rbc', '--n', '4', '--seeds', '0'))).toContain('--seeds must be an integer');
    expect(usageError(await sintra(...base, '--seed-start', '-1'))).toContain('--seed-start');
    expect(usageError(await sintra(...base, '--t', '2'))).toContain('n > 3t');
    expect(usageError(await sintra(...base, '--byzantine', 'sneaky'))).toContain('unknown --byzantine "sneaky"');
    expect(usageError(await sintra(...base, '--crypto', 'rot13'))).toContain('--crypto');
    expect(usageError(await sintra(...base, '--corrupt', '1,9'))).toContain('replica 9 is outside 0..3');
    expect(usageError(await sintra(...base, '--corrupt', 'a,b'))).toContain('--corrupt');
    expect(usageError(await sintra(...base, '--param', 'novalue'))).toContain('key=value');
    expect(usageError(await sintra(...base, '--max-steps', '0'))).toContain('--max-steps');
    expect(usageError(await sintra('simulate', '--protocol', 'scab', '--n', '4', '--seeds', '1', '--param', 'requests=lots'))).toContain('requests');
    expect(usageError(await sintra(...base, '--frobnicate'))).toContain('--frobnicate');
  });

  it('a protocol whose scenario is not registered yet: a clear usage error', async () => {
    const saved = SCENARIOS.cbc;
    SCENARIOS.cbc = undefined;
    try {
      const line = usageError(await sintra('simulate', '--protocol', 'cbc', '--n', '4', '--seeds', '1'));
      expect(line).toContain('protocol "cbc" has no simulation scenario yet');
      expect(line).toContain('rbc');
    } finally {
      SCENARIOS.cbc = saved;
    }
  });

  it('a missing structure file: exit 1', async () => {
    const r = await sintra('simulate', '--protocol', 'rbc', '--structure', path.join(tmp, 'nope.json'), '--seeds', '1');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^error: .*nope\.json/);
  });
});

describe('sintra simulate --replica', () => {
  it('--json: one JSON object with runs, safety_violations, liveness_failures and first_failure_replay (null when clean)', async () => {
    const r = await sintra('simulate', '--replica', '--n', '4', '--seeds', '5', '--byzantine', 'fuzz', '--json');
    expect(r.code).toBe(0);
    const s = JSON.parse(r.out) as Record<string, unknown>;
    expect(s).toMatchObject({ mode: 'replica', runs: 5, safety_violations: 0, liveness_failures: 0, first_failure_replay: null, byzantine: 'fuzz' });
  });

  it('a failing range: exit 1, and the printed replay command reproduces the failure', async () => {
    const r = await sintra('simulate', '--replica', '--n', '4', '--seeds', '6', '--byzantine', 'twins', '--corrupt', '0,1');
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^FAILED: 6 runs in/m);
    const again = await replay(firstReplay(r.out));
    expect(again.code).toBe(1);
    expect(again.out).toContain('runs 1, ');
  });

  it('usage errors: one line, exit 2', async () => {
    expect(usageError(await sintra('simulate', '--replica', '--protocol', 'aba', '--n', '4', '--seeds', '1'))).toContain('leave out --protocol');
    expect(usageError(await sintra('simulate', '--replica', '--n', '4', '--seeds', '1', '--byzantine', 'nope'))).toContain('unknown --byzantine "nope" for --replica');
    expect(usageError(await sintra('simulate', '--replica', '--n', '4', '--seeds', '1', '--param', 'x=1'))).toContain('unknown --param x for --replica');
    expect(usageError(await sintra('simulate', '--replica', '--n', '4', '--seeds', '1', '--max-steps', '5'))).toContain('--param afterGstMs');
  });
});
