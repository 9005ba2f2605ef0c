/**
 * `sintra simulate`: the deterministic simulator (infra/sim, docs/design.md section 13) over a range of seeds.
 * Prints a summary (runs, safety violations, liveness failures, steps and rounds, the first failures with
 * the command that replays each) or, with --json, one JSON object. Exit code 1 when any run failed, 2 for
 * usage errors, 0 otherwise. Every replay command a failed run prints is accepted here verbatim.
 */
import type { StructureDescription } from '../../shared/quorum/quorum-system.ts';
import { BYZANTINE_KINDS, formatSummary, loadStructure, parseParam, PROTOCOLS, runSimulation, SCENARIOS } from '../sim/index.ts';
import type { AnyScenario, RunResult, SimOptions, SimulationSummary } from '../sim/index.ts';
import { formatReplicaSummary, loadParsedStructure, REPLICA_BEHAVIOURS, REPLICA_PARAMS, runReplicaSimulation } from '../sim/replica/index.ts';
import type { ReplicaRunResult } from '../sim/replica/index.ts';
import { UsageError } from './deal.ts';
import type { Io } from './deal.ts';

export interface SimulateOptions {
  protocol?: string;
  replica?: boolean;
  n?: number;
  t?: number;
  structure?: string;
  seeds?: number;
  seedStart?: number;
  byzantine?: string;
  crypto?: string;
  corrupt?: string;
  faulty?: number;
  gst?: number;
  maxSteps?: number;
  param?: string[];
  json?: boolean;
}

/** Failures listed in the readable summary (--json lists up to 100). */
const FAILURES_SHOWN = 10;
/** Progress on stderr at most this often (milliseconds), once a run has taken this long. */
const PROGRESS_EVERY_MS = 2000;

// integer and collect moved to options.ts (node-replica and main use them without loading the simulator).
export { collect, integer } from './options.ts';

function parseCorrupt(s: string, n: number): number[] {
  if (!/^[0-9]{1,4}(,[0-9]{1,4})*$/.test(s)) throw new UsageError(`--corrupt takes replica indices like 0,2,5, got "${s}"`);
  const list = s.split(',').map(Number);
  const bad = list.find((i) => i >= n);
  if (bad !== undefined) throw new UsageError(`--corrupt: replica ${bad} is outside 0..${n - 1}`);
  if (new Set(list).size !== list.length) throw new UsageError(`--corrupt lists a replica twice: "${s}"`);
  return list;
}

function chooseStructure(opts: SimulateOptions): StructureDescription {
  if (opts.structure !== undefined) {
    if (opts.t !== undefined) throw new UsageError('--t is for threshold structures; a --structure file has its own adversary');
    const s = loadStructure(opts.structure, undefined);
    if (opts.n !== undefined && opts.n !== s.n) throw new UsageError(`--n ${opts.n} does not match the structure file (${s.n} replicas)`);
    return s;
  }
  if (opts.n === undefined) throw new UsageError('give --n N (threshold structure) or --structure FILE');
  const n = opts.n;
  const t = opts.t ?? Math.floor((n - 1) / 3);
  if (3 * t >= n) throw new UsageError(`--t ${t} is too large for --n ${n} (needs n > 3t)`);
  return { type: 'threshold', n, t };
}

function scenarioFor(protocol: string, structure: StructureDescription, params: Record<string, unknown>): AnyScenario {
  if (!(PROTOCOLS as readonly string[]).includes(protocol)) throw new UsageError(`unknown protocol "${protocol}" (protocols: ${PROTOCOLS.join(', ')})`);
  const factory = SCENARIOS[protocol as (typeof PROTOCOLS)[number]];
  if (!factory) {
    const ready = PROTOCOLS.filter((p) => SCENARIOS[p]);
    throw new UsageError(`protocol "${protocol}" has no simulation scenario yet (simulate one of: ${ready.join(', ')})`);
  }
  try {
    return factory({ structure, params });
  } catch (e) {
    throw new UsageError(`${protocol}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

function checkByzantine(byzantine: string, scenario: AnyScenario): void {
  const known = ['none', 'all', 'assorted', ...BYZANTINE_KINDS, ...Object.keys(scenario.behaviours ?? {})];
  if (!known.includes(byzantine)) throw new UsageError(`unknown --byzantine "${byzantine}" (known: ${known.join(', ')})`);
}

/** The readable report: formatSummary with the failure list cut short. */
export function formatReport(s: SimulationSummary, seconds: number): string {
  const shown = { ...s, failures: s.failures.slice(0, FAILURES_SHOWN) };
  const failed = s.safetyViolations + s.livenessFailures;
  const lines = [formatSummary(shown)];
  const more = failed - shown.failures.length;
  if (more > 0) lines.push(`  ... and ${more} more failed run${more === 1 ? '' : 's'} (--json lists up to ${s.failures.length})`);
  lines.push(`${failed === 0 ? 'OK' : 'FAILED'}: ${s.runs} run${s.runs === 1 ? '' : 's'} in ${seconds.toFixed(1)} s`);
  return lines.join('\n');
}

/** Progress lines on stderr for long ranges: at most every PROGRESS_EVERY_MS. */
function progress(io: Io, total: number): (failed: boolean) => void {
  const started = Date.now();
  let last = started;
  let done = 0;
  let failures = 0;
  return (failed) => {
    done++;
    if (failed) failures++;
    const now = Date.now();
    if (now - last >= PROGRESS_EVERY_MS && done < total) {
      last = now;
      io.err(`simulate: ${done}/${total} runs, ${failures} failed, ${((now - started) / 1000).toFixed(0)} s\n`);
    }
  };
}

/** The `--param k=v` options as an object (a malformed one is a usage error). */
function paramsOf(opts: SimulateOptions): Record<string, unknown> {
  const params: Record<string, unknown> = {};
  for (const kv of opts.param ?? []) {
    try {
      parseParam(kv, params);
    } catch (e) {
      throw new UsageError(e instanceof Error ? e.message : String(e));
    }
  }
  return params;
}

/** `sintra simulate --replica`: whole replicas (infra/sim/replica). */
function simulateReplicaCommand(opts: SimulateOptions, io: Io): number {
  if (opts.protocol !== undefined) throw new UsageError('--replica simulates whole replicas (every protocol at once): leave out --protocol');
  if (opts.crypto !== undefined && opts.crypto !== 'insecure') throw new UsageError('--replica runs the fast test crypto only (--crypto real is for protocol runs)');
  if (opts.maxSteps !== undefined) throw new UsageError('--replica runs in virtual time: use --param afterGstMs=MS instead of --max-steps');
  if (opts.seeds === undefined) throw new UsageError("required option '--seeds <count>' not specified");
  const params = paramsOf(opts);
  for (const k of Object.keys(params)) if (!(REPLICA_PARAMS as readonly string[]).includes(k)) throw new UsageError(`unknown --param ${k} for --replica (known: ${REPLICA_PARAMS.join(', ')})`);
  const structure = chooseStructure(opts);
  const byzantine = opts.byzantine ?? 'fuzz';
  const known = ['none', 'all', 'assorted', ...REPLICA_BEHAVIOURS];
  if (!known.includes(byzantine)) throw new UsageError(`unknown --byzantine "${byzantine}" for --replica (known: ${known.join(', ')})`);
  const tick = progress(io, opts.seeds);
  const started = Date.now();
  const summary = runReplicaSimulation({
    structure: opts.structure ?? loadParsedStructure(undefined, structure.n, structure.type === 'threshold' ? structure.t : undefined),
    seeds: opts.seeds,
    seedStart: opts.seedStart ?? 1,
    byzantine,
    ...(opts.corrupt !== undefined ? { corrupt: parseCorrupt(opts.corrupt, structure.n) } : {}),
    ...(opts.faulty !== undefined ? { faulty: opts.faulty } : {}),
    ...(opts.gst !== undefined ? { gstMs: opts.gst } : {}),
    params,
    onRun: (r: ReplicaRunResult) => tick(r.safetyViolations.length > 0 || r.livenessFailure !== null),
  });
  const failed = summary.safety_violations + summary.liveness_failures;
  if (opts.json) io.out(`${JSON.stringify(summary)}\n`);
  else {
    const shown = { ...summary, failures: summary.failures.slice(0, FAILURES_SHOWN) };
    const more = failed - shown.failures.length;
    io.out(`${formatReplicaSummary(shown)}\n`);
    if (more > 0) io.out(`  ... and ${more} more failed run${more === 1 ? '' : 's'} (--json lists up to ${summary.failures.length})\n`);
    io.out(`${failed === 0 ? 'OK' : 'FAILED'}: ${summary.runs} run${summary.runs === 1 ? '' : 's'} in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  }
  return failed > 0 ? 1 : 0;
}

export async function simulateCommand(opts: SimulateOptions, io: Io): Promise<number> {
  if (opts.replica) return simulateReplicaCommand(opts, io);
  if (opts.protocol === undefined) throw new UsageError("required option '--protocol <name>' not specified");
  if (opts.seeds === undefined) throw new UsageError("required option '--seeds <count>' not specified");
  const crypto = opts.crypto ?? 'insecure';
  if (crypto !== 'insecure' && crypto !== 'real' && crypto !== 'real-bls') throw new UsageError(`--crypto must be insecure, real or real-bls, got "${crypto}"`);
  const params = paramsOf(opts);
  const structure = chooseStructure(opts);
  const scenario = scenarioFor(opts.protocol, structure, params);
  const byzantine = opts.byzantine ?? 'all';
  checkByzantine(byzantine, scenario);
  const sim: Partial<Omit<SimOptions, 'seed' | 'crypto' | 'byzantine'>> = {
    ...(opts.corrupt !== undefined ? { corrupt: parseCorrupt(opts.corrupt, structure.n) } : {}),
    ...(opts.faulty !== undefined ? { faulty: opts.faulty } : {}),
    ...(opts.gst !== undefined ? { gstStep: opts.gst } : {}),
    ...(opts.maxSteps !== undefined ? { maxSteps: opts.maxSteps } : {}),
  };

  const started = Date.now();
  const tick = progress(io, opts.seeds);
  const onRun = (r: RunResult) => tick(r.safetyViolations.length > 0 || r.livenessFailure !== null);
  const summary = runSimulation({
    protocol: opts.protocol,
    structure: opts.structure ?? structure,
    seeds: opts.seeds,
    seedStart: opts.seedStart ?? 1,
    byzantine,
    crypto,
    params,
    sim,
    onRun,
  });
  const code = summary.safetyViolations + summary.livenessFailures > 0 ? 1 : 0;
  if (opts.json) io.out(`${JSON.stringify(summary)}\n`);
  else io.out(`${formatReport(summary, (Date.now() - started) / 1000)}\n`);
  return code;
}
