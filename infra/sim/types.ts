/** The simulator's public types: scenarios (what to run and check) and run results. */
import type { RandomBytes } from '../../shared/crypto/random.ts';
import type { ProtocolContext } from '../../shared/protocols/context.ts';
import type { ThresholdDecryptor } from '../../shared/protocols/crypto-suite.ts';
import type { Message } from '../../shared/protocols/messages.ts';
import type { Fault, Protocol } from '../../shared/protocols/step.ts';
import type { QuorumSystem, StructureDescription } from '../../shared/quorum/quorum-system.ts';
import type { BehaviourFactory } from './byzantine.ts';
import type { Rng } from './rng.ts';

/** A message in the adversary's hands: sent by `from`, not yet delivered to `to`. */
export interface InFlight {
  readonly from: number;
  readonly to: number;
  readonly msg: Message;
  /** Unique per send; the post-GST scheduler is FIFO-ish by id. */
  readonly id: number;
  readonly sentAt: number;
}

/** An input handed to one replica at (or after) a given step. */
export interface ScheduledInput<I> {
  readonly replica: number;
  readonly atStep: number;
  readonly value: I;
}

/** Who is who in one run, fixed before the scenario plans the run. */
export interface RunSetup {
  readonly seed: number;
  readonly n: number;
  readonly quorum: QuorumSystem;
  /** Every replica the adversary controls (Byzantine and crash-restart). */
  readonly corrupted: readonly number[];
  /** Actively malicious replicas: not checked. */
  readonly byzantine: readonly number[];
  /** Replicas that crash and restart from their journal: checked like honest ones. */
  readonly crashRestart: readonly number[];
  /** Replicas whose outputs are checked: everyone except `byzantine`. */
  readonly honest: readonly number[];
  /** Behaviour name per replica ('honest' for honest replicas). */
  readonly behaviourOf: readonly string[];
  /** The adversary's split of the replicas into two sides (corrupted replicas: 0), shared by its behaviours. */
  readonly side: readonly (0 | 1)[];
  /** The scenario's own random stream (independent of the network's). */
  readonly rng: Rng;
  readonly gstStep: number;
  /** Each replica's threshold decryptor (the run's crypto mode): for secure causal atomic broadcast. */
  readonly decryptors: readonly ThresholdDecryptor[];
  /** A client's encryption to the group key (see Cluster.encrypt); `undecryptable`: valid but under another key. */
  readonly encrypt: (label: Uint8Array, plaintext: Uint8Array, rng: RandomBytes, undecryptable?: boolean) => Uint8Array;
}

export type EndReason =
  | 'quiescent' // nothing in flight and nothing scheduled: no replica can ever do anything again
  | 'done' // the plan's `done` predicate held
  | 'max-steps'
  | 'stalled'; // after GST only deferred messages kept circulating

export interface RecordedFault extends Fault {
  /** The replica that reported it. */
  readonly reporter: number;
  readonly step: number;
}

/** What the checkers see at the end of a run (and `done`/`hold` during it). */
export interface RunView<I, O> {
  readonly setup: RunSetup;
  readonly n: number;
  readonly honest: readonly number[];
  readonly byzantine: readonly number[];
  readonly step: number;
  readonly gstStep: number;
  readonly ended: EndReason | null;
  /** outputs[i]: replica i's outputs in order (Byzantine replicas' inner honest instances too). */
  readonly outputs: readonly (readonly O[])[];
  readonly outputSteps: readonly (readonly number[])[];
  /** Current instance per replica (null while crashed); for a Byzantine replica, its inner honest instance. */
  readonly instances: readonly (Protocol<I, O> | null)[];
  readonly inputs: readonly ScheduledInput<I>[];
  readonly faults: readonly RecordedFault[];
}

export interface Verdict {
  readonly safety: readonly string[];
  readonly liveness: string | null;
}

/** One run of a scenario, planned from the run's setup. */
export interface RunPlan<I, O> {
  /** A fresh instance for a replica (also used to restart a crashed replica and for Byzantine inner instances). */
  create(ctx: ProtocolContext): Protocol<I, O>;
  readonly inputs: readonly ScheduledInput<I>[];
  /** Safety violations and the liveness failure, if any, at the end of the run. */
  check(view: RunView<I, O>): Verdict;
  /**
   * Which message tags reach a replica's instance (the engine's routing). Default: the instance's tag and
   * its descendants (`tag/...`). Others are dropped as unroutable.
   */
  accepts?(tag: string, instance: Protocol<I, O>): boolean;
  /** Optional early stop (checked after outputs); without it a run goes on until quiescence. */
  done?(view: RunView<I, O>): boolean;
  /**
   * Optional scheduling bias: before GST, a message for which this returns true is held back (the
   * adversary partitions the network). Ignored after GST.
   */
  hold?(m: InFlight, view: RunView<I, O>): boolean;
  /** Numbers for the run result, e.g. `rounds` (max ABA round), which the summary aggregates. */
  metrics?(view: RunView<I, O>): Record<string, number>;
  /** One line about the run (e.g. who the sender is), shown in failures. */
  readonly describe?: string;
}

/** Defaults a scenario may suggest for its runs. */
export interface ScenarioDefaults {
  readonly gstStep?: number;
  readonly maxSteps?: number;
  readonly network?: Partial<NetworkProfile>;
  /** Fault kinds that an honest replica may be blamed for without it being a violation. */
  readonly benignFaults?: readonly Fault['kind'][];
}

export interface Scenario<I, O> {
  /** Protocol name as on the command line ('rbc', 'aba', ...). */
  readonly protocol: string;
  readonly structure: StructureDescription;
  plan(setup: RunSetup): RunPlan<I, O>;
  /** Extra, scenario-specific Byzantine behaviours (selectable by name like the generic ones). */
  readonly behaviours?: Readonly<Record<string, BehaviourFactory>>;
  readonly defaults?: (n: number) => ScenarioDefaults;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyScenario = Scenario<any, any>;

export interface ScenarioOptions {
  readonly structure: StructureDescription;
  /** Scenario-specific knobs (e.g. rbc: `sender: 'auto' | 'honest' | 'byzantine'`, `partition: boolean`). */
  readonly params?: Readonly<Record<string, unknown>>;
}

export type ScenarioFactory = (o: ScenarioOptions) => AnyScenario;

export interface NetworkProfile {
  /** Before GST, per pick: leave the message in flight (the step passes without a delivery). */
  readonly pDelay: number;
  /** Before GST, per pick: deliver and keep a copy in flight. */
  readonly pDuplicate: number;
  /** Before GST, per pick: lose it; the link retransmits it within `retransmitDelay` steps. */
  readonly pDrop: number;
  readonly retransmitDelay: number;
  /** Before GST: phases in which messages to/from a random set of slow replicas are mostly held back. */
  readonly slowPhases: boolean;
  /** After GST: each delivery picks among the oldest `fairWindow` messages. */
  readonly fairWindow: number;
  /** Crash-restart replicas: crash probability per processed event (before GST, at most `maxCrashes`). */
  readonly pCrash: number;
  readonly maxCrashes: number;
}

export interface SimOptions {
  readonly seed: number;
  readonly crypto?: 'real' | 'real-bls' | 'insecure';
  /**
   * A behaviour for every corrupted replica ('silent', 'crash-restart', 'equivocate', 'garbage', 'replay',
   * 'bad-shares', 'vote-both', 'mixed', or a scenario's own), 'assorted' (a random one per replica) or 'none'.
   */
  readonly byzantine?: string;
  /** Exactly these replicas are corrupted (may exceed the structure: negative controls). */
  readonly corrupt?: readonly number[];
  /** Corrupt this many of a random maximal corruptible set (default: all of it). */
  readonly faulty?: number;
  /** Step at which the network turns fair (default: seeded, uniform in [0, 20 n^2]). */
  readonly gstStep?: number;
  readonly maxSteps?: number;
  readonly network?: Partial<NetworkProfile>;
  readonly maxValueBytes?: number;
  /** Shown in the replay command for general structures. */
  readonly structureFile?: string;
  /** Appended to the replay command (e.g. scenario params as `--param sender=byzantine`). */
  readonly replayArgs?: string;
  /** Keep a readable line per delivery in the result (debugging). */
  readonly keepTrace?: boolean;
}

export interface RunResult {
  readonly protocol: string;
  readonly seed: number;
  readonly n: number;
  readonly byzantine: string;
  readonly corrupted: readonly number[];
  readonly behaviourOf: readonly string[];
  readonly describe: string;
  readonly safetyViolations: readonly string[];
  readonly livenessFailure: string | null;
  readonly ended: EndReason;
  readonly steps: number;
  readonly gstStep: number;
  readonly messagesDelivered: number;
  /** Dropped because no instance takes their tag (see RunPlan.accepts). */
  readonly messagesUnroutable: number;
  readonly messagesDropped: number;
  readonly messagesDuplicated: number;
  readonly crashes: number;
  /** Faults reported against each peer (index -> count). */
  readonly faultsByPeer: Readonly<Record<number, number>>;
  readonly metrics: Readonly<Record<string, number>>;
  /** Hash of the full delivery trace (every delivery and output, in order). */
  readonly traceHash: string;
  /** The command that replays this run. */
  readonly replay: string;
  readonly trace?: readonly string[];
}
