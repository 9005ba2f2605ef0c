/**
 * The whole-replica simulator over a range of seeds (`sintra simulate --replica`, tests, the soak):
 * `runReplicaSimulation` runs `simulateReplicas` per seed and summarizes, with the replay command of
 * every failed run.
 */
import { readFileSync } from 'node:fs';
import { parseStructureFile, thresholdStructure } from '../../../shared/quorum/structure-file.ts';
import type { ParsedStructure } from '../../../shared/quorum/structure-file.ts';
import { useNativeEd25519 } from '../../../workers/core/native-ed25519.ts';
import { useNativeSha256 } from '../../../workers/core/native-sha256.ts';
import { REPLICA_BEHAVIOURS, simulateReplicas } from './simulation.ts';
import type { ReplicaRunResult, ReplicaSimOptions } from './simulation.ts';

export { REPLICA_BEHAVIOURS, simulateReplicas, replayCommand } from './simulation.ts';
export type { ReplicaRunResult, ReplicaSimOptions } from './simulation.ts';

/** Knobs `--param k=v` may set (everything else in ReplicaSimOptions has its own flag). */
export const REPLICA_PARAMS = ['requests', 'requestBytes', 'burstMs', 'encrypted', 'crashes', 'sharedRollback', 'afterGstMs', 'maxValueBytes', 'maxBatch', 'transfers', 'outageMs'] as const;

export interface RunReplicaSimulationOptions {
  /** Threshold structure on n replicas (t = the largest n allows unless given); ignored with `structure`. */
  readonly n?: number;
  readonly t?: number;
  /** A structure file path (as for `sintra deal --structure`) or a parsed structure. */
  readonly structure?: string | ParsedStructure;
  readonly seeds: number;
  readonly seedStart: number;
  /** A behaviour (REPLICA_BEHAVIOURS), 'assorted', 'none', or 'all' (rotates by seed). */
  readonly byzantine: string;
  readonly corrupt?: readonly number[];
  readonly faulty?: number;
  readonly gstMs?: number;
  readonly params?: Readonly<Record<string, unknown>>;
  /** Include every run's result in `details`. */
  readonly details?: boolean;
  readonly onRun?: (r: ReplicaRunResult) => void;
}

export interface ReplicaFailure {
  readonly seed: number;
  readonly byzantine: string;
  readonly reason: string;
  readonly replay: string;
}

/** The summary; `--json` prints it as is (snake_case keys, so scripts read it without guessing). */
export interface ReplicaSimulationSummary {
  readonly mode: 'replica';
  readonly structure: string;
  readonly n: number;
  readonly byzantine: string;
  readonly seed_start: number;
  readonly runs: number;
  /** Runs with at least one safety violation. */
  readonly safety_violations: number;
  /** Runs with a liveness failure. */
  readonly liveness_failures: number;
  /** The replay command of the first failed run, null when every run was clean. */
  readonly first_failure_replay: string | null;
  readonly mean_virtual_ms: number;
  readonly mean_events: number;
  readonly max_aba_round: number;
  readonly crashes: number;
  readonly storage_failures: number;
  /** Replicas whose storage went back in time, how many of them found out (lost-state), and how many rejoined. */
  readonly rollbacks: number;
  readonly rollbacks_detected: number;
  readonly rejoined: number;
  /** State transfers honest replicas took, and tampered bundles (from corrupted peers) they refused. */
  readonly transfers: number;
  readonly transfers_refused: number;
  readonly failures: readonly ReplicaFailure[];
  readonly details?: readonly ReplicaRunResult[];
}

const MAX_FAILURES_LISTED = 100;

export function loadParsedStructure(s: string | ParsedStructure | undefined, n: number | undefined, t?: number): ParsedStructure {
  if (typeof s === 'string') return parseStructureFile(JSON.parse(readFileSync(s, 'utf8')) as unknown);
  if (s) return s;
  if (n === undefined) throw new Error('give --n or --structure');
  return thresholdStructure(n, t ?? Math.floor((n - 1) / 3));
}

/** The behaviour for a seed: `byzantine`, or with 'all' a rotation over every behaviour and 'assorted'. */
export function replicaBehaviourForSeed(byzantine: string, seed: number): string {
  if (byzantine !== 'all') return byzantine;
  const rotation = [...REPLICA_BEHAVIOURS, 'assorted'];
  return rotation[seed % rotation.length]!;
}

function optionsFromParams(p: Readonly<Record<string, unknown>>): Partial<ReplicaSimOptions> {
  for (const k of Object.keys(p)) if (!(REPLICA_PARAMS as readonly string[]).includes(k)) throw new Error(`unknown --param ${k} (known: ${REPLICA_PARAMS.join(', ')})`);
  const num = (k: string) => (p[k] === undefined ? undefined : Number(p[k]));
  const out: Record<string, unknown> = {};
  for (const k of ['requests', 'requestBytes', 'burstMs', 'encrypted', 'afterGstMs', 'maxValueBytes', 'outageMs'] as const) if (p[k] !== undefined) out[k] = num(k);
  if (p['transfers'] !== undefined) out['transfers'] = p['transfers'] === true || p['transfers'] === 'true';
  if (p['crashes'] !== undefined) out['crashes'] = p['crashes'] === true || p['crashes'] === 'true';
  if (p['sharedRollback'] !== undefined) out['sharedRollback'] = p['sharedRollback'] === true || p['sharedRollback'] === 'true';
  if (p['maxBatch'] !== undefined) out['engine'] = { ab: { maxBatch: num('maxBatch') } };
  return out as Partial<ReplicaSimOptions>;
}

export function paramArgs(params: Readonly<Record<string, unknown>> | undefined): string {
  return Object.entries(params ?? {})
    .map(([k, v]) => `--param ${k}=${String(v)}`)
    .join(' ');
}

export function runReplicaSimulation(o: RunReplicaSimulationOptions): ReplicaSimulationSummary {
  // Frames are MAC'd and requests hashed: the runtime's SHA-256 and HMAC, as in the replicas themselves.
  useNativeSha256();
  useNativeEd25519();
  const structure = loadParsedStructure(o.structure, o.n, o.t);
  const fromParams = optionsFromParams(o.params ?? {});
  const details: ReplicaRunResult[] = [];
  const failures: ReplicaFailure[] = [];
  let safety = 0;
  let liveness = 0;
  let timeSum = 0;
  let eventsSum = 0;
  let abaMax = 0;
  let crashes = 0;
  let storageFailures = 0;
  let rollbacks = 0;
  let detected = 0;
  let rejoined = 0;
  let transfers = 0;
  let transfersRefused = 0;
  for (let k = 0; k < o.seeds; k++) {
    const seed = (o.seedStart + k) >>> 0;
    const byzantine = replicaBehaviourForSeed(o.byzantine, seed);
    const r = simulateReplicas({
      ...fromParams,
      seed,
      structure,
      ...(typeof o.structure === 'string' ? { structureFile: o.structure } : {}),
      byzantine,
      ...(o.corrupt ? { corrupt: o.corrupt } : {}),
      ...(o.faulty !== undefined ? { faulty: o.faulty } : {}),
      ...(o.gstMs !== undefined ? { gstMs: o.gstMs } : {}),
      replayArgs: paramArgs(o.params) || undefined,
    });
    o.onRun?.(r);
    if (o.details) details.push(r);
    timeSum += r.timeMs;
    eventsSum += r.events;
    abaMax = Math.max(abaMax, r.maxAbaRound);
    crashes += r.crashes;
    storageFailures += r.storageFailures;
    rollbacks += r.rollbacks;
    detected += r.lostState;
    rejoined += r.rejoined;
    transfers += r.transfers;
    transfersRefused += r.transfersRefused;
    if (r.safetyViolations.length > 0) safety++;
    if (r.livenessFailure !== null) liveness++;
    if ((r.safetyViolations.length > 0 || r.livenessFailure !== null) && failures.length < MAX_FAILURES_LISTED) {
      const reason = [...r.safetyViolations, ...(r.livenessFailure ? [r.livenessFailure] : [])].join(' | ');
      failures.push({ seed, byzantine, reason: `${reason} [corrupted ${r.corrupted.map((i) => `${i}:${r.behaviourOf[i]}`).join(', ') || 'none'}; ended ${r.ended} at ${r.timeMs} ms, GST ${r.gstMs} ms]`, replay: r.replay });
    }
  }
  const q = structure.structure;
  return {
    mode: 'replica',
    structure: q.type === 'threshold' ? `threshold n=${q.n} t=${q.t}` : `general n=${q.n}, ${q.maximalCorruptible.length} maximal corruptible sets`,
    n: q.n,
    byzantine: o.byzantine,
    seed_start: o.seedStart,
    runs: o.seeds,
    safety_violations: safety,
    liveness_failures: liveness,
    first_failure_replay: failures[0]?.replay ?? null,
    mean_virtual_ms: o.seeds > 0 ? Math.round(timeSum / o.seeds) : 0,
    mean_events: o.seeds > 0 ? Math.round(eventsSum / o.seeds) : 0,
    max_aba_round: abaMax,
    crashes,
    storage_failures: storageFailures,
    rollbacks,
    rollbacks_detected: detected,
    rejoined,
    transfers,
    transfers_refused: transfersRefused,
    failures,
    ...(o.details ? { details } : {}),
  };
}

export function formatReplicaSummary(s: ReplicaSimulationSummary): string {
  const lines = [
    `simulate --replica: ${s.structure}, byzantine ${s.byzantine}, seeds ${s.seed_start}..${s.seed_start + s.runs - 1}`,
    `  runs ${s.runs}, safety violations ${s.safety_violations}, liveness failures ${s.liveness_failures}`,
    `  virtual time mean ${s.mean_virtual_ms} ms, events mean ${s.mean_events}, highest agreement round ${s.max_aba_round}, crashes ${s.crashes}, failed writes ${s.storage_failures}, rollbacks ${s.rollbacks} (${s.rollbacks_detected} found out, ${s.rejoined} rejoined), state transfers ${s.transfers} (${s.transfers_refused} tampered bundles refused)`,
  ];
  for (const f of s.failures) lines.push(`  FAIL seed ${f.seed} (${f.byzantine}): ${f.reason}`, `    replay: ${f.replay}`);
  return lines.join('\n');
}
