/**
 * Deterministic simulation of one protocol run (in the style of FoundationDB's and TigerBeetle's
 * simulators): n replicas in one process, one seeded adversary that owns the network and the corrupted
 * replicas, and checkers at the end. Same scenario + same options = the same run, delivery for delivery.
 *
 * Each step the adversary picks one message in flight. Before GST it may leave it (delay), deliver it and
 * keep a copy (duplicate), or lose it (the link retransmits it later: links are reliable in the model), and
 * it runs "slow phases" that hold back messages to or from a few replicas. From GST on it delivers fairly.
 * Self-addressed messages (a broadcast includes its sender) travel through the network like all others.
 * A delivery whose Step is `deferred` goes back into flight. A run ends when nothing is in flight or
 * scheduled (quiescent: nothing can ever happen again), when the plan's `done` holds, or at `maxSteps`.
 *
 * Crash-restart replicas journal every input and message they process (persist before send); a crash
 * loses the instance (and, sometimes, the messages of the last event that were persisted but not yet
 * sent); the restart feeds the journal to a fresh instance, checks that it says exactly what it said
 * before (else "equivocation after restart"), re-sends what was not sent, and receives what arrived while
 * it was down.
 */
import type { ProtocolContext } from '../../shared/protocols/context.ts';
import type { Message } from '../../shared/protocols/messages.ts';
import { isWithin } from '../../shared/protocols/instance-tag.ts';
import type { Fault, Outgoing, Protocol, Step } from '../../shared/protocols/step.ts';
import { BEHAVIOURS } from './byzantine.ts';
import type { AdversaryState, Behaviour, BehaviourFactory } from './byzantine.ts';
import { makeCluster } from './cluster.ts';
import { canonical, describeMessage, messageKey, TraceHash } from './encode.ts';
import { Network } from './network.ts';
import { Rng } from './rng.ts';
import type {
  EndReason,
  InFlight,
  NetworkProfile,
  RecordedFault,
  RunPlan,
  RunResult,
  RunSetup,
  RunView,
  Scenario,
  ScheduledInput,
  SimOptions,
} from './types.ts';

export const DEFAULT_NETWORK: NetworkProfile = {
  pDelay: 0.2,
  pDuplicate: 0.05,
  pDrop: 0.1,
  retransmitDelay: 0, // 0 = 8n
  slowPhases: true,
  fairWindow: 0, // 0 = n
  pCrash: 0, // 0 = 1 / (2n)
  maxCrashes: 2,
};

/** Fault kinds an honest replica may be blamed for by the network alone (duplicated deliveries, windows). */
export const DEFAULT_BENIGN_FAULTS: readonly Fault['kind'][] = ['duplicate', 'out-of-window'];

/** Behaviours `'assorted'` draws from (one per corrupted replica). */
export const ASSORTED = ['silent', 'crash-restart', 'equivocate', 'garbage', 'replay', 'bad-shares', 'vote-both', 'mixed'];

const MAX_VIOLATIONS = 50;

interface JournalEntry<I> {
  readonly input?: { value: I };
  readonly message?: { from: number; msg: Message };
  readonly sent: readonly string[];
  readonly outputs: readonly string[];
  /** Persisted but its messages never left (crash between the write and the send). */
  unflushed: boolean;
}

interface Node<I, O> {
  readonly index: number;
  readonly role: 'honest' | 'crash-restart' | 'byzantine';
  readonly behaviourName: string;
  instance: Protocol<I, O> | null;
  readonly behaviour: Behaviour | null;
  readonly journal: JournalEntry<I>[] | null;
  crashed: boolean;
  restartAt: number;
  crashes: number;
  readonly held: InFlight[];
  readonly heldInputs: I[];
  sentByBehaviour: number;
}

function pickCorrupted(o: SimOptions, setup: { n: number; quorum: RunSetup['quorum'] }, rng: Rng): number[] {
  if ((o.byzantine ?? 'none') === 'none') return [];
  if (o.corrupt) {
    for (const i of o.corrupt) if (!Number.isInteger(i) || i < 0 || i >= setup.n) throw new Error(`corrupt: replica ${i} outside 0..${setup.n - 1}`);
    return [...new Set(o.corrupt)].sort((a, b) => a - b);
  }
  const q = setup.quorum;
  const d = q.description;
  let set: number[];
  if (d.type === 'threshold') set = rng.sample(Array.from({ length: d.n }, (_, i) => i), d.t);
  else set = rng.pick(q.maximalCorruptibleSets()).slice();
  if (o.faulty !== undefined && o.faulty < set.length) set = rng.sample(set, Math.max(0, o.faulty));
  return set.sort((a, b) => a - b);
}

export interface ReplayExtras {
  readonly structure?: RunSetup['quorum']['description'];
  readonly structureFile?: string;
  readonly crypto?: string;
  readonly corrupt?: readonly number[];
  readonly faulty?: number;
  readonly gstStep?: number;
  readonly maxSteps?: number;
  readonly args?: string;
}

/** The `sintra simulate` command line that replays one seed (non-default knobs included). */
export function replayCommand(protocol: string, n: number, seed: number, byzantine: string, x: ReplayExtras = {}): string {
  let cmd = `npx sintra simulate --protocol ${protocol} --n ${n} --seeds 1 --seed-start ${seed} --byzantine ${byzantine}`;
  const s = x.structure;
  if (x.structureFile) cmd += ` --structure ${x.structureFile}`;
  else if (s && s.type === 'general') cmd += ' --structure <structure.json>';
  else if (s && s.type === 'threshold' && s.t !== Math.floor((n - 1) / 3)) cmd += ` --t ${s.t}`;
  if (x.crypto === 'real' || x.crypto === 'real-bls') cmd += ` --crypto ${x.crypto}`;
  if (x.corrupt) cmd += ` --corrupt ${x.corrupt.join(',')}`;
  if (x.faulty !== undefined) cmd += ` --faulty ${x.faulty}`;
  if (x.gstStep !== undefined) cmd += ` --gst ${x.gstStep}`;
  if (x.maxSteps !== undefined) cmd += ` --max-steps ${x.maxSteps}`;
  if (x.args) cmd += ` ${x.args}`;
  return cmd;
}

export function simulate<I, O>(scenario: Scenario<I, O>, options: SimOptions): RunResult {
  const seed = options.seed;
  const master = new Rng(seed);
  const netRng = master.fork('network');
  const advRng = master.fork('adversary');
  const crashRng = master.fork('crash');
  const cluster = makeCluster({ structure: scenario.structure, crypto: options.crypto ?? 'insecure', seed, maxValueBytes: options.maxValueBytes });
  const n = cluster.n;
  const defaults = scenario.defaults?.(n) ?? {};
  const profile: NetworkProfile = { ...DEFAULT_NETWORK, ...defaults.network, ...options.network };
  const retransmitDelay = profile.retransmitDelay || 8 * n;
  const fairWindow = profile.fairWindow || n;
  const pCrash = profile.pCrash || 1 / (2 * n);
  const gstStep = options.gstStep ?? defaults.gstStep ?? master.fork('gst').int(20 * n * n + 1);
  const maxSteps = options.maxSteps ?? defaults.maxSteps ?? gstStep + 400 * n * n;
  const benign = new Set(defaults.benignFaults ?? DEFAULT_BENIGN_FAULTS);
  const byzantineOption = options.byzantine ?? 'none';

  // Who is corrupted, and how.
  const corrupted = pickCorrupted(options, cluster, advRng);
  const known: Record<string, BehaviourFactory> = { ...BEHAVIOURS, ...scenario.behaviours };
  const behaviourOf: string[] = Array.from({ length: n }, () => 'honest');
  for (const i of corrupted) {
    const kind = byzantineOption === 'assorted' ? advRng.pick(ASSORTED) : byzantineOption;
    if (kind !== 'crash-restart' && !known[kind]) {
      throw new Error(`unknown Byzantine behaviour "${kind}"; known: crash-restart, assorted, none, ${Object.keys(known).join(', ')}`);
    }
    behaviourOf[i] = kind;
  }
  const byzantine = corrupted.filter((i) => behaviourOf[i] !== 'crash-restart');
  const crashRestart = corrupted.filter((i) => behaviourOf[i] === 'crash-restart');
  const honest = Array.from({ length: n }, (_, i) => i).filter((i) => !byzantine.includes(i));
  const corruptedSet = new Set(corrupted);
  const side = Array.from({ length: n }, () => 0 as 0 | 1);
  {
    const others = advRng.shuffle(Array.from({ length: n }, (_, i) => i).filter((i) => !corruptedSet.has(i)));
    const half = Math.ceil(others.length / 2);
    others.forEach((i, k) => (side[i] = k < half ? 0 : 1));
  }
  const adversary: AdversaryState = { n, corrupted: corruptedSet, side, notes: new Map() };

  const setup: RunSetup = {
    seed,
    n,
    quorum: cluster.quorum,
    corrupted,
    byzantine,
    crashRestart,
    honest,
    behaviourOf,
    side,
    rng: master.fork('scenario'),
    gstStep,
    decryptors: cluster.decryptors,
    encrypt: cluster.encrypt,
  };
  const plan: RunPlan<I, O> = scenario.plan(setup);
  const ctxs: readonly ProtocolContext[] = cluster.contexts;

  const nodes: Node<I, O>[] = Array.from({ length: n }, (_, i) => {
    const role = behaviourOf[i] === 'honest' ? 'honest' : behaviourOf[i] === 'crash-restart' ? 'crash-restart' : 'byzantine';
    const behaviour =
      role === 'byzantine' ? known[behaviourOf[i]!]!({ me: i, n, rng: master.fork(`byzantine/${i}`), adversary, maxValueBytes: ctxs[i]!.maxValueBytes }) : null;
    return {
      index: i,
      role,
      behaviourName: behaviourOf[i]!,
      instance: plan.create(ctxs[i]!),
      behaviour,
      journal: role === 'crash-restart' ? [] : null,
      crashed: false,
      restartAt: 0,
      crashes: 0,
      held: [],
      heldInputs: [],
      sentByBehaviour: 0,
    };
  });
  const behaviourBudget = 64 * n * n;

  const net = new Network();
  const outputs: O[][] = nodes.map(() => []);
  const outputSteps: number[][] = nodes.map(() => []);
  const faults: RecordedFault[] = [];
  const faultsByPeer: Record<number, number> = {};
  const violations: string[] = [];
  const violationKeys = new Set<string>();
  const violate = (key: string, text: string) => {
    if (violationKeys.has(key) || violations.length >= MAX_VIOLATIONS) return;
    violationKeys.add(key);
    violations.push(text);
  };
  const trace = new TraceHash();
  const traceLines: string[] | undefined = options.keepTrace ? [] : undefined;
  let step = 0;
  let ended: EndReason | null = null;
  let delivered = 0;
  let dropped = 0;
  let unroutable = 0;
  let duplicated = 0;
  let crashes = 0;

  const inputs = [...plan.inputs].sort((a, b) => a.atStep - b.atStep || a.replica - b.replica);
  let nextInput = 0;

  const view: RunView<I, O> = {
    setup,
    n,
    honest,
    byzantine,
    get step() {
      return step;
    },
    gstStep,
    get ended() {
      return ended;
    },
    outputs,
    outputSteps,
    get instances() {
      return nodes.map((x) => x.instance);
    },
    inputs: plan.inputs,
    faults,
  };

  const emit = (from: number, out: Outgoing) => {
    if (out.to === 'all') for (let j = 0; j < n; j++) net.send(from, j, out.msg, step);
    else if (Number.isInteger(out.to) && out.to >= 0 && out.to < n) net.send(from, out.to, out.msg, step);
    else if (nodes[from]!.role !== 'byzantine') violate(`target/${from}`, `replica ${from} sent ${describeMessage(out.msg)} to ${String(out.to)}, not a replica (step ${step})`);
  };

  /** Sends a node's outgoing messages (through its behaviour if corrupted). */
  const sendAll = (node: Node<I, O>, msgs: readonly Outgoing[]) => {
    for (const o of msgs) {
      if (!node.behaviour) {
        emit(node.index, o);
        continue;
      }
      if (node.sentByBehaviour > behaviourBudget) continue;
      for (const t of node.behaviour.transform(o)) {
        node.sentByBehaviour += t.to === 'all' ? n : 1;
        emit(node.index, t);
      }
    }
  };

  let outputsChanged = false;
  const record = (node: Node<I, O>, s: Step<O>) => {
    for (const o of s.outputs) {
      outputs[node.index]!.push(o);
      outputSteps[node.index]!.push(step);
      trace.int(-2).int(node.index).value(o);
      outputsChanged = true;
    }
    for (const f of s.faults) {
      faults.push({ ...f, reporter: node.index, step });
      faultsByPeer[f.peer] = (faultsByPeer[f.peer] ?? 0) + 1;
      if (node.role !== 'byzantine' && honest.includes(f.peer) && !benign.has(f.kind)) {
        violate(
          `accuse/${f.peer}/${f.kind}/${node.index}`,
          `honest replica ${f.peer} blamed by ${node.index} for ${f.kind} at ${f.tag}: ${f.detail} (step ${step})`,
        );
      }
    }
  };

  /** Runs one event on a node's instance; exceptions are violations (bad input must become a Fault). */
  const run = (node: Node<I, O>, what: string, f: (p: Protocol<I, O>) => Step<O>): Step<O> | null => {
    try {
      return f(node.instance!);
    } catch (e) {
      violate(`throw/${node.index}/${what}`, `replica ${node.index} (${node.behaviourName}) threw on ${what}: ${e instanceof Error ? e.message : String(e)} (step ${step})`);
      return null;
    }
  };

  const maybeCrash = (node: Node<I, O>, entry: JournalEntry<I>, s: Step<O>): boolean => {
    if (node.role !== 'crash-restart' || step >= gstStep || node.crashes >= profile.maxCrashes || !crashRng.chance(pCrash)) return false;
    node.crashes++;
    crashes++;
    node.instance = null;
    node.crashed = true;
    node.restartAt = step + crashRng.range(n, Math.max(n, Math.floor(gstStep / 4)));
    if (crashRng.chance(0.5)) entry.unflushed = true;
    else sendAll(node, s.messages);
    return true;
  };

  /** Runs one input or delivery on a node; returns false if the delivery was deferred (back into flight). */
  const handle = (node: Node<I, O>, ev: { input: I } | { m: InFlight }): boolean => {
    const isInput = 'input' in ev;
    const what = isInput ? 'input' : `${ev.m.msg.tag} ${String((ev.m.msg.body as { t?: unknown }).t)} from ${ev.m.from}`;
    if (!isInput) node.behaviour?.observe?.(ev.m.from, ev.m.msg);
    const s = run(node, what, (p) => (isInput ? p.handleInput(ev.input) : p.handleMessage(ev.m.from, ev.m.msg)));
    if (!s) return true;
    if (s.deferred && !isInput) {
      // "Nothing was stored for it": a deferred step must have no effects (they would be lost here too).
      if (s.messages.length + s.outputs.length > 0) {
        violate(`deferred-effects/${node.index}`, `replica ${node.index} deferred ${what} but its step has ${s.messages.length} messages and ${s.outputs.length} outputs (step ${step})`);
      }
      net.requeue(ev.m, step + 1 + netRng.int(2 * n), step);
      return false;
    }
    record(node, s);
    if (node.journal) {
      const entry: JournalEntry<I> = {
        ...(isInput ? { input: { value: ev.input } } : { message: { from: ev.m.from, msg: ev.m.msg } }),
        sent: s.messages.map((o) => `${String(o.to)}>${messageKey(o.msg)}`),
        outputs: s.outputs.map((o) => canonical(o)),
        unflushed: false,
      };
      node.journal.push(entry);
      if (maybeCrash(node, entry, s)) return true;
    }
    sendAll(node, s.messages);
    return true;
  };

  const restart = (node: Node<I, O>) => {
    const fresh = plan.create(ctxs[node.index]!);
    node.instance = fresh;
    let reported = false;
    for (let k = 0; k < node.journal!.length; k++) {
      const e = node.journal![k]!;
      const what = e.input ? `replay of input #${k}` : `replay of ${e.message!.msg.tag} from ${e.message!.from} (#${k})`;
      const s = run(node, what, (p) => (e.input ? p.handleInput(e.input.value) : p.handleMessage(e.message!.from, e.message!.msg)));
      if (!s) continue;
      const sent = s.messages.map((o) => `${String(o.to)}>${messageKey(o.msg)}`);
      const outs = s.outputs.map((o) => canonical(o));
      if (!reported && (sent.join('\n') !== e.sent.join('\n') || outs.join('\n') !== e.outputs.join('\n'))) {
        reported = true;
        const firstDiff = sent.findIndex((x, i) => x !== e.sent[i]);
        violate(
          `restart/${node.index}/${k}`,
          `equivocation after restart: replica ${node.index}, journal event #${k} (${what}): ` +
            `before ${e.sent.length} messages/${e.outputs.length} outputs, after ${sent.length}/${outs.length}` +
            (firstDiff >= 0 ? `; first difference: ${describeMessage(s.messages[firstDiff]!.msg)} vs ${e.sent[firstDiff] ?? 'nothing'}` : ''),
        );
      }
      // Re-send: what was persisted but never sent must go out now; the rest sometimes goes out again.
      const resend = e.unflushed ? s.messages : s.messages.filter(() => crashRng.chance(0.2));
      e.unflushed = false;
      sendAll(node, resend);
    }
    node.crashed = false;
    for (const m of node.held.splice(0)) net.requeue(m, step, step);
    // One of these inputs may crash the replica again: the rest wait for the next restart (they used to
    // reach a null instance and were lost: scab, n = 4, seed 4000161, crash-restart).
    for (const x of node.heldInputs.splice(0)) {
      if (node.crashed) node.heldInputs.push(x);
      else handle(node, { input: x });
    }
  };

  const giveInput = (inp: ScheduledInput<I>) => {
    const node = nodes[inp.replica];
    if (!node) throw new Error(`scenario input for replica ${inp.replica} outside 0..${n - 1}`);
    trace.int(-1).int(inp.replica).value(inp.value);
    if (node.crashed) node.heldInputs.push(inp.value);
    else handle(node, { input: inp.value });
  };

  const accepts = (tag: string, p: Protocol<I, O>) =>
    plan.accepts ? plan.accepts(tag, p) : typeof tag === 'string' && isWithin(tag, p.tag);

  /** Delivers a message; false if it was deferred. */
  const deliver = (m: InFlight): boolean => {
    const node = nodes[m.to]!;
    if (node.crashed) {
      node.held.push(m);
      return true;
    }
    if (!accepts(m.msg.tag, node.instance!)) {
      unroutable++;
      return true;
    }
    delivered++;
    trace.int(step).int(m.from).int(m.to).message(m.msg);
    traceLines?.push(`${step} ${m.from}->${m.to} ${describeMessage(m.msg)}`);
    return handle(node, { m });
  };

  // Slow phases: the adversary holds back most traffic to or from a few replicas for a while.
  let slow = new Set<number>();
  let phaseEnd = 0;
  const newPhase = () => {
    phaseEnd = step + netRng.range(2 * n, 16 * n);
    slow = new Set(profile.slowPhases && netRng.chance(0.6) ? netRng.sample(Array.from({ length: n }, (_, i) => i), 1 + netRng.int(Math.ceil(n / 2))) : []);
  };

  let deferredStreak = 0;
  const nextScheduled = (): number | undefined => {
    let t: number | undefined = net.nextReleaseAt();
    const consider = (x: number) => (t === undefined || x < t ? (t = x) : t);
    if (nextInput < inputs.length) consider(inputs[nextInput]!.atStep);
    for (const node of nodes) if (node.crashed) consider(node.restartAt);
    return t;
  };

  /** The next scheduled input or restart (not a message release). */
  const nextEvent = (): number | undefined => {
    let t: number | undefined = nextInput < inputs.length ? inputs[nextInput]!.atStep : undefined;
    for (const node of nodes) if (node.crashed && (t === undefined || node.restartAt < t)) t = node.restartAt;
    return t;
  };

  const checkDone = () => {
    if (outputsChanged && plan.done) {
      outputsChanged = false;
      if (plan.done(view)) ended = 'done';
    }
  };

  while (ended === null) {
    while (nextInput < inputs.length && inputs[nextInput]!.atStep <= step) giveInput(inputs[nextInput++]!);
    for (const node of nodes) if (node.crashed && node.restartAt <= step) restart(node);
    if (!net.fair && step >= gstStep) net.enterFairMode();
    net.release(step);
    checkDone();
    if (ended !== null) break;
    if (step >= maxSteps) {
      ended = 'max-steps';
      break;
    }
    if (net.ready === 0) {
      const t = nextScheduled();
      if (t === undefined) {
        ended = 'quiescent';
        break;
      }
      step = Math.min(maxSteps, Math.max(step + 1, t));
      continue;
    }
    step++;
    if (!net.fair) {
      if (step >= phaseEnd) newPhase();
      const i = net.pickAny(netRng);
      const m = net.at(i);
      if (plan.hold?.(m, view)) {
        net.requeue(net.take(i), step + 1 + netRng.int(4 * n), step);
        continue;
      }
      if ((slow.has(m.to) || slow.has(m.from)) && netRng.chance(0.9)) continue;
      const r = netRng.float();
      if (r < profile.pDelay) continue;
      if (r < profile.pDelay + profile.pDrop) {
        dropped++;
        net.requeue(net.take(i), step + 1 + netRng.int(retransmitDelay), step);
        continue;
      }
      if (r < profile.pDelay + profile.pDrop + profile.pDuplicate) {
        duplicated++;
        deliver(m);
        continue;
      }
      deliver(net.take(i));
    } else {
      // After GST: fair delivery. Stalled = a full pass over everything in flight that was all deferred again.
      if (deliver(net.take(net.pickFair(netRng, fairWindow)))) deferredStreak = 0;
      else if (++deferredStreak > net.inFlight + n) {
        // Only deferred messages circulate: time moves on to the next input or restart, if any is due
        // (ending here lost later submissions and made runs end early whenever junk circulated).
        const later = nextEvent();
        if (later === undefined) ended = 'stalled';
        else {
          step = Math.min(maxSteps, Math.max(step, later));
          deferredStreak = 0;
        }
      }
    }
  }

  const verdict = plan.check(view);
  const safetyViolations = [...violations, ...verdict.safety];
  const metrics = plan.metrics?.(view) ?? {};
  return {
    protocol: scenario.protocol,
    seed,
    n,
    byzantine: byzantineOption,
    corrupted,
    behaviourOf,
    describe: `${plan.describe ?? ''}${plan.describe ? '; ' : ''}corrupted [${corrupted.map((i) => `${i}:${behaviourOf[i]}`).join(', ')}]`,
    safetyViolations,
    livenessFailure: verdict.liveness,
    ended: ended,
    steps: step,
    gstStep,
    messagesDelivered: delivered,
    messagesDropped: dropped,
    messagesUnroutable: unroutable,
    messagesDuplicated: duplicated,
    crashes,
    faultsByPeer,
    metrics,
    traceHash: trace.hex(),
    replay: replayCommand(scenario.protocol, n, seed, byzantineOption, {
      structure: cluster.structure,
      structureFile: options.structureFile,
      crypto: options.crypto,
      corrupt: options.corrupt,
      faulty: options.faulty,
      gstStep: options.gstStep,
      maxSteps: options.maxSteps,
      args: options.replayArgs,
    }),
    ...(traceLines ? { trace: traceLines } : {}),
  };
}

