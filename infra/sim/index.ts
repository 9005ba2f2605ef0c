/**
 * Entry point of the deterministic simulator (docs/design.md section 13), for `sintra simulate` and tests:
 * `runSimulation` runs one scenario over a range of seeds and summarizes; `simulate` runs one seed.
 */
import { readFileSync } from 'node:fs';
import { parseStructureFile } from '../../shared/quorum/structure-file.ts';
import type { StructureDescription } from '../../shared/quorum/quorum-system.ts';
import { BYZANTINE_KINDS } from './byzantine.ts';
import { thresholdStructure } from './cluster.ts';
import type { CryptoMode } from './cluster.ts';
import { scenarioFactory } from './scenarios/index.ts';
import { simulate } from './simulator.ts';
import type { RunResult, SimOptions } from './types.ts';

export { simulate, replayCommand, DEFAULT_NETWORK, ASSORTED } from './simulator.ts';
export { makeCluster, thresholdStructure } from './cluster.ts';
export { Rng } from './rng.ts';
export { BYZANTINE_KINDS, BEHAVIOURS } from './byzantine.ts';
export type { ByzantineKind, Behaviour, BehaviourFactory, BehaviourEnv, AdversaryState } from './byzantine.ts';
export { SCENARIOS, PROTOCOLS, scenarioFactory } from './scenarios/index.ts';
export type { ProtocolName } from './scenarios/index.ts';
export * from './checkers.ts';
export type * from './types.ts';

export interface RunSimulationOptions {
  readonly protocol: string;
  /** Threshold structure on n replicas (t = the largest n allows unless given); ignored with `structure`. */
  readonly n?: number;
  readonly t?: number;
  /** A structure file path (as for `sintra deal --structure`) or a structure description. */
  readonly structure?: string | StructureDescription;
  readonly seeds: number;
  readonly seedStart: number;
  /** A behaviour name, 'assorted' (random per replica), 'none', or 'all' (rotates by seed). */
  readonly byzantine: string;
  readonly crypto: CryptoMode;
  /** Include every run's result in `details`. */
  readonly json?: boolean;
  /** Scenario-specific knobs. */
  readonly params?: Readonly<Record<string, unknown>>;
  /** Simulator overrides (corrupt, faulty, gstStep, maxSteps, network, ...). */
  readonly sim?: Partial<Omit<SimOptions, 'seed' | 'crypto' | 'byzantine'>>;
  readonly onRun?: (r: RunResult) => void;
}

export interface SimulationFailure {
  readonly seed: number;
  readonly byzantine: string;
  readonly reason: string;
  readonly replay: string;
}

export interface SimulationSummary {
  readonly protocol: string;
  readonly n: number;
  readonly structure: string;
  readonly byzantine: string;
  readonly crypto: CryptoMode;
  readonly seedStart: number;
  readonly runs: number;
  /** Runs with at least one safety violation. */
  readonly safetyViolations: number;
  /** Runs with a liveness failure. */
  readonly livenessFailures: number;
  readonly meanSteps: number;
  readonly maxSteps: number;
  readonly messagesDelivered: number;
  /** From the scenarios' `rounds` metric (e.g. the highest ABA round), when they report one. */
  readonly meanRounds?: number;
  readonly maxRounds?: number;
  readonly failures: readonly SimulationFailure[];
  readonly details?: readonly RunResult[];
}

const MAX_FAILURES_LISTED = 100;

export function loadStructure(s: string | StructureDescription | undefined, n: number | undefined, t?: number): StructureDescription {
  if (typeof s === 'string') return parseStructureFile(JSON.parse(readFileSync(s, 'utf8')) as unknown).structure;
  if (s) return s;
  if (n === undefined) throw new Error('give --n or --structure');
  return thresholdStructure(n, t);
}

export function describeStructure(s: StructureDescription): string {
  return s.type === 'threshold' ? `threshold n=${s.n} t=${s.t}` : `general n=${s.n}, ${s.maximalCorruptible.length} maximal corruptible sets`;
}

/** The behaviour for a seed: `byzantine`, or with 'all' a rotation over every behaviour. */
export function behaviourForSeed(byzantine: string, seed: number, extra: readonly string[] = []): string {
  if (byzantine !== 'all') return byzantine;
  const rotation = [...BYZANTINE_KINDS, 'assorted', ...extra];
  return rotation[seed % rotation.length]!;
}

/** Scenario params as `--param k=v` arguments (for replay commands). */
export function paramArgs(params: Readonly<Record<string, unknown>> | undefined): string {
  return Object.entries(params ?? {})
    .map(([k, v]) => `--param ${k}=${String(v)}`)
    .join(' ');
}

/** Parses `k=v` params (numbers and booleans converted), as the CLI's `--param` would. */
export function parseParam(kv: string, into: Record<string, unknown> = {}): Record<string, unknown> {
  const i = kv.indexOf('=');
  if (i <= 0) throw new Error(`--param needs key=value, got "${kv}"`);
  const k = kv.slice(0, i);
  const v = kv.slice(i + 1);
  into[k] = v === 'true' ? true : v === 'false' ? false : /^-?[0-9]+$/.test(v) ? Number(v) : v;
  return into;
}

export function runSimulation(o: RunSimulationOptions): SimulationSummary {
  const structure = loadStructure(o.structure, o.n, o.t);
  const scenario = scenarioFactory(o.protocol)({ structure, params: o.params });
  const extra = Object.keys(scenario.behaviours ?? {});
  const details: RunResult[] = [];
  const failures: SimulationFailure[] = [];
  let safety = 0;
  let liveness = 0;
  let stepsSum = 0;
  let stepsMax = 0;
  let deliveredSum = 0;
  let roundsSum = 0;
  let roundsMax = 0;
  let roundsRuns = 0;
  for (let k = 0; k < o.seeds; k++) {
    const seed = (o.seedStart + k) >>> 0;
    const byzantine = behaviourForSeed(o.byzantine, seed, extra);
    const r = simulate(scenario, {
      ...o.sim,
      seed,
      crypto: o.crypto,
      byzantine,
      structureFile: o.sim?.structureFile ?? (typeof o.structure === 'string' ? o.structure : undefined),
      replayArgs: [o.sim?.replayArgs, paramArgs(o.params)].filter((x) => x).join(' ') || undefined,
    });
    o.onRun?.(r);
    if (o.json) details.push(r);
    stepsSum += r.steps;
    stepsMax = Math.max(stepsMax, r.steps);
    deliveredSum += r.messagesDelivered;
    const rounds = r.metrics['rounds'];
    if (rounds !== undefined) {
      roundsSum += rounds;
      roundsMax = Math.max(roundsMax, rounds);
      roundsRuns++;
    }
    if (r.safetyViolations.length > 0) safety++;
    if (r.livenessFailure !== null) liveness++;
    if ((r.safetyViolations.length > 0 || r.livenessFailure !== null) && failures.length < MAX_FAILURES_LISTED) {
      const reason = [...r.safetyViolations, ...(r.livenessFailure ? [r.livenessFailure] : [])].join(' | ');
      failures.push({ seed, byzantine, reason: `${reason} [${r.describe}; ended ${r.ended} at step ${r.steps}]`, replay: r.replay });
    }
  }
  return {
    protocol: o.protocol,
    n: structure.n,
    structure: describeStructure(structure),
    byzantine: o.byzantine,
    crypto: o.crypto,
    seedStart: o.seedStart,
    runs: o.seeds,
    safetyViolations: safety,
    livenessFailures: liveness,
    meanSteps: o.seeds > 0 ? stepsSum / o.seeds : 0,
    maxSteps: stepsMax,
    messagesDelivered: deliveredSum,
    ...(roundsRuns > 0 ? { meanRounds: roundsSum / roundsRuns, maxRounds: roundsMax } : {}),
    failures,
    ...(o.json ? { details } : {}),
  };
}

/** A human-readable report of a summary (the CLI prints this without --json). */
export function formatSummary(s: SimulationSummary): string {
  const lines = [
    `simulate ${s.protocol}: ${s.structure}, byzantine ${s.byzantine}, crypto ${s.crypto}, seeds ${s.seedStart}..${s.seedStart + s.runs - 1}`,
    `  runs ${s.runs}, safety violations ${s.safetyViolations}, liveness failures ${s.livenessFailures}`,
    `  steps mean ${s.meanSteps.toFixed(1)} max ${s.maxSteps}, messages delivered ${s.messagesDelivered}` +
      (s.meanRounds !== undefined ? `, rounds mean ${s.meanRounds.toFixed(2)} max ${s.maxRounds}` : ''),
  ];
  for (const f of s.failures) lines.push(`  FAIL seed ${f.seed} (${f.byzantine}): ${f.reason}`, `    replay: ${f.replay}`);
  return lines.join('\n');
}
