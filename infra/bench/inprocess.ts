/**
 * In-process benchmark: n ReplicaEngine instances (shared/replica/engine.ts: atomic broadcast, Merkle log,
 * threshold-signed checkpoints) with the real BLS12-381 crypto, keys dealt from a seed exactly as
 * `sintra deal` does, and a simulated lossless FIFO network, all in one thread of one process.
 *
 * Clients submit 250-byte requests round-robin to the replicas, either closed loop (keep `inflight`
 * requests outstanding) or open loop (`rate` requests/s, refused ones are dropped and counted). A request
 * is done when the replica it was submitted to has it in its log AND holds a signed checkpoint covering
 * it: that is when that replica can hand out a verifiable receipt. Latency is submit -> done.
 *
 * Measured over a window after a warm-up (sustained, not one batch's peak): done requests/s, latency
 * percentiles, CPU per done request (process.cpuUsage: all n replicas share this one thread), replica-to-
 * replica messages and bytes per done request (every message is encoded with the wire codec, and by
 * default every recipient gets its own decoded copy, as over a real link), crypto operations per epoch by
 * kind and purpose (the signers in each ProtocolContext are wrapped to count and time them), heap high-
 * water mark. After the window submission stops and the run drains: every request submitted must end up
 * in every replica's log and certified at its submitter (`all_delivered`).
 *
 * Run alone: `npx tsx infra/bench/inprocess.ts [n] [inflight] [seconds] [maxBatch]` (SINTRA_BENCH_NOBLE_SHA256=1:
 * hash with noble instead of node:crypto).
 */
import { fileURLToPath } from 'node:url';
import { encodeMessage, decodeMessage, CodecError } from '../../shared/codec/message-codec.ts';
import { deal } from '../../shared/config/deal.ts';
import { parseGroup, parseReplicaSecrets } from '../../shared/config/group.ts';
import type { Group, ReplicaSecrets } from '../../shared/config/group.ts';
import { seededRandom } from '../../shared/crypto/random.ts';
import type { Purpose } from '../../shared/crypto/domain.ts';
import type { ProtocolContext } from '../../shared/protocols/context.ts';
import type { CryptoSuite, ThresholdSigner } from '../../shared/protocols/crypto-suite.ts';
import type { Message } from '../../shared/protocols/messages.ts';
import { thresholdStructure } from '../../shared/quorum/structure-file.ts';
import { DEFAULT_AB_CONFIG } from '../../shared/protocols/ab.ts';
import { ReplicaEngine } from '../../shared/replica/engine.ts';
import { resetSha256, sha256Backend } from '../../shared/crypto/sha256.ts';
import { useNativeEd25519 } from '../../workers/core/native-ed25519.ts';
import { useNativeSha256 } from '../../workers/core/native-sha256.ts';
import type { EngineStep } from '../../shared/replica/engine.ts';
import { DEFAULT_MAX_VALUE_BYTES, contextFromConfig } from '../../shared/replica/from-config.ts';
import { runInChild, serveChild } from './loadgen.ts';
import { percentiles, round1, round3 } from './stats.ts';
import type { Percentiles } from './stats.ts';

export const REQUEST_BYTES = 250;
/** Per-message overhead of the HTTP transport (shared/replica/transport.ts: u64 id + u32 length). */
export const TRANSPORT_HEADER_BYTES = 12;

export type Load = { readonly kind: 'closed'; readonly inflight: number } | { readonly kind: 'open'; readonly rate: number };

export interface InProcessOptions {
  readonly n: number;
  readonly t?: number;
  readonly load: Load;
  /** Warm-up: at least this long and two epochs; the window then starts at the next epoch boundary. */
  readonly warmupMs: number;
  /** The window ends at the first epoch boundary after measureMs and minEpochs epochs (or at maxMeasureMs). */
  readonly measureMs: number;
  readonly minEpochs?: number;
  readonly maxMeasureMs?: number;
  /** Epochs delivered before the window may start (default 2: the first epoch is a small one). */
  readonly warmupEpochs?: number;
  /** Hash with noble's JavaScript SHA-256 instead of node:crypto (to measure what the native one saves). */
  readonly nobleSha256?: boolean;
  /** Free-form label carried into the result (e.g. which sweep it belongs to). */
  readonly label?: string;
  /** Called with the engines after the run (diagnostics; not sent to child processes). */
  readonly inspect?: (engines: readonly ReplicaEngine[]) => void;
  /** AbConfig.maxBatch (requests per replica per epoch); default the engine's. */
  readonly maxBatch?: number;
  /** AbConfig.maxPending (submissions beyond it are refused, as the HTTP API answers 503). */
  readonly maxPending?: number;
  /**
   * EngineOptions.memoryBudgetBytes in MiB. Default: none (1 TiB), since the throughput runs order more
   * than a deployed replica's default 64 MiB budget holds; engine_estimate_mb_per_replica shows the use.
   */
  readonly memoryBudgetMb?: number;
  /** Deliver decoded copies of the encoded messages (default true); false hands the sender's objects over. */
  readonly wire?: boolean;
  /** After the window, stop submitting and run until every request is delivered everywhere (default true). */
  readonly drain?: boolean;
  /** Give up draining after this long (ms, default 120 s). */
  readonly drainTimeoutMs?: number;
  readonly seed?: string;
  /**
   * WAN mode: replica i sits `wanMs[i % length]` ms from a common point, and a message from i to j arrives
   * (wanMs[i] + wanMs[j]) / 2 ms after it was sent (0 to itself), in due-time order. The thread sleeps
   * when nothing is due, so CPU figures stay the replicas' own. Default: no delay (a FIFO queue).
   */
  readonly wanMs?: readonly number[];
  readonly log?: (line: string) => void;
}

export interface CryptoOpStats {
  count: number;
  ms: number;
}

export interface InProcessResult {
  mode: 'in-process';
  label?: string;
  /** 'node:crypto' or 'noble'. */
  sha256: string;
  n: number;
  t: number;
  load: Load;
  max_batch: number;
  max_pending: number;
  wire: boolean;
  window_s: number;
  /** Requests ordered into the log (at replica 0) per second of the window, which spans whole epochs. */
  throughput_rps: number;
  /** Submit -> certified at the submitting replica, for requests certified inside the window. */
  latency_ms: Percentiles;
  ordered_in_window: number;
  /** Requests certified at their submitter inside the window (the latency sample). */
  done_in_window: number;
  submitted: number;
  refused: number;
  /** Every submitted request reached every replica's log and was certified at its submitter (null: not drained). */
  all_delivered: boolean | null;
  /** Messages the wire codec would refuse (they are delivered anyway; a real link could not send them). */
  wire_errors: number;
  epochs_in_window: number;
  epoch_ms: number;
  mean_epoch_requests: number;
  cpu_ms_per_request: number;
  /** Process CPU time / wall time in the window: well below 1 means other jobs took the core. */
  cpu_utilization: number;
  /** Done requests per CPU-second: the contention-independent capacity of one core running all n replicas. */
  requests_per_cpu_second: number;
  messages_per_request: number;
  bytes_per_request: number;
  messages_per_epoch: number;
  /** Crypto calls per epoch summed over the n replicas, by operation, and by key.purpose.operation with ms. */
  crypto_per_epoch: { sign: number; verifyShare: number; combine: number; verify: number };
  crypto_detail_per_epoch: Record<string, { count: number; ms: number }>;
  /** Share of the window's wall time spent inside the threshold signers. */
  crypto_time_share: number;
  /** Process heap high-water mark (all n replicas and the harness). */
  heap_high_water_mb: number;
  /** Heap and ArrayBuffer bytes the replicas still hold after the drain and a full GC, per replica (null without --expose-gc). */
  heap_retained_mb_per_replica: number | null;
  /** The engines' own estimate of what they retain (ReplicaEngine.retainedBytes, what the memory budget checks), mean per replica. */
  engine_estimate_mb_per_replica: number;
  rss_high_water_mb: number;
  max_aba_round: number;
  faults: number;
  /** WAN mode's distances (InProcessOptions.wanMs), when it ran in that mode. */
  wan_ms?: number[];
}

export interface DealtGroup {
  readonly group: Group;
  readonly secrets: readonly ReplicaSecrets[];
}

const groups = new Map<string, DealtGroup>();

/** A group dealt from a seed exactly as `sintra deal` does (test/helpers/group.ts style), cached. */
export function dealtGroup(n: number, t: number, seed: string): DealtGroup {
  const key = `${n}/${t}/${seed}`;
  let g = groups.get(key);
  if (!g) {
    const out = deal(thresholdStructure(n, t), seededRandom(seed), { testOnly: true });
    const group = parseGroup(JSON.parse(JSON.stringify(out.group)));
    g = { group, secrets: out.secrets.map((s) => parseReplicaSecrets(s, group)) };
    groups.set(key, g);
  }
  return g;
}

type OpName = 'sign' | 'verifyShare' | 'combine' | 'verify';

class CryptoCounter {
  readonly byOp: Record<OpName, number> = { sign: 0, verifyShare: 0, combine: 0, verify: 0 };
  readonly detail = new Map<string, CryptoOpStats>();
  ms = 0;

  wrap(key: string, s: ThresholdSigner): ThresholdSigner {
    const timed = <R>(op: OpName, purpose: Purpose, f: () => R): R => {
      const t0 = performance.now();
      try {
        return f();
      } finally {
        const dt = performance.now() - t0;
        this.byOp[op]++;
        this.ms += dt;
        const k = `${key}.${purpose}.${op}`;
        const d = this.detail.get(k);
        if (d) {
          d.count++;
          d.ms += dt;
        } else this.detail.set(k, { count: 1, ms: dt });
      }
    };
    return {
      scheme: s.scheme,
      sign: (p, tag, payload) => timed('sign', p, () => s.sign(p, tag, payload)),
      verifyShare: (p, tag, payload, signer, share) => timed('verifyShare', p, () => s.verifyShare(p, tag, payload, signer, share)),
      combine: (p, tag, payload, shares) => timed('combine', p, () => s.combine(p, tag, payload, shares)),
      verify: (p, tag, payload, sig) => timed('verify', p, () => s.verify(p, tag, payload, sig)),
    };
  }

  snapshot(): { byOp: Record<OpName, number>; detail: Map<string, CryptoOpStats>; ms: number } {
    return { byOp: { ...this.byOp }, detail: new Map([...this.detail].map(([k, v]) => [k, { ...v }])), ms: this.ms };
  }
}

/** Growable typed arrays indexed by request sequence number. */
class Track {
  submitAt = new Float64Array(1 << 16);
  submitter = new Uint8Array(1 << 16);
  appendedAt = new Uint8Array(1 << 16);
  done = new Uint8Array(1 << 16);
  ensure(seq: number): void {
    if (seq < this.submitAt.length) return;
    let len = this.submitAt.length;
    while (len <= seq) len *= 2;
    const grow = <T extends Float64Array | Uint8Array>(a: T, C: new (l: number) => T): T => {
      const b = new C(len);
      b.set(a);
      return b;
    };
    this.submitAt = grow(this.submitAt, Float64Array);
    this.submitter = grow(this.submitter, Uint8Array);
    this.appendedAt = grow(this.appendedAt, Uint8Array);
    this.done = grow(this.done, Uint8Array);
  }
}

/** The fixed part of every benchmark request: 'sintra-bench', then deterministic filler. */
export function requestFiller(): Uint8Array {
  const filler = new Uint8Array(REQUEST_BYTES);
  filler.set(new TextEncoder().encode('sintra-bench'));
  for (let i = 20; i < REQUEST_BYTES; i++) filler[i] = (i * 31 + 7) & 0xff;
  return filler;
}

/** A 250-byte request: 'sintra-bench' marker, 8-byte sequence number, deterministic filler. */
export function makeRequest(seq: number, filler: Uint8Array): Uint8Array {
  const r = new Uint8Array(REQUEST_BYTES);
  r.set(filler);
  const v = new DataView(r.buffer);
  v.setUint32(12, Math.floor(seq / 2 ** 32));
  v.setUint32(16, seq >>> 0);
  return r;
}

export function seqOf(entry: Uint8Array): number {
  const v = new DataView(entry.buffer, entry.byteOffset, entry.byteLength);
  return v.getUint32(12) * 2 ** 32 + v.getUint32(16);
}

interface Envelope {
  readonly from: number;
  readonly to: number;
  readonly msg: Message;
}

export function runInProcess(opts: InProcessOptions): InProcessResult {
  // As a deployed replica does (workers/core/host.ts): SHA-256 from node:crypto (opts.nobleSha256 keeps noble).
  if (opts.nobleSha256) resetSha256();
  else useNativeSha256();
  useNativeEd25519();
  const n = opts.n;
  const t = opts.t ?? Math.floor((n - 1) / 3);
  const wire = opts.wire ?? true;
  const log = opts.log ?? (() => {});
  const maxBatch = opts.maxBatch ?? DEFAULT_AB_CONFIG.maxBatch;
  const maxPending = opts.maxPending ?? DEFAULT_AB_CONFIG.maxPending;
  const { group, secrets } = dealtGroup(n, t, opts.seed ?? `bench-${n}-${t}`);
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  // Batches and hashes live in ArrayBuffers, outside the V8 heap: count both.
  const retainedNow = () => process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
  const heapBefore = retainedNow();

  const counter = new CryptoCounter();
  const engines = secrets.map((s) => {
    const real = contextFromConfig(group, s).crypto;
    const crypto: CryptoSuite = { ...real, kernel: counter.wrap('kernel', real.kernel), quorum: counter.wrap('quorum', real.quorum) };
    const ctx: ProtocolContext = { me: s.index, n, quorum: group.quorumSystem, crypto, maxValueBytes: DEFAULT_MAX_VALUE_BYTES };
    return new ReplicaEngine(ctx, { ab: { maxBatch, maxPending }, memoryBudgetBytes: (opts.memoryBudgetMb ?? 2 ** 20) * 2 ** 20 });
  });

  // ---- network: one FIFO queue of envelopes (a ring that compacts itself)
  let queue: Envelope[] = [];
  let head = 0;
  // WAN mode: envelopes wait in a min-heap by due time instead of the FIFO queue.
  const wan = opts.wanMs && opts.wanMs.length > 0 ? opts.wanMs : null;
  const delayMs = (from: number, to: number) => (from === to || !wan ? 0 : (wan[from % wan.length]! + wan[to % wan.length]!) / 2);
  const delayed = new DueHeap<Envelope>();
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  const enqueue = (env: Envelope) => {
    if (wan) delayed.push(performance.now() + delayMs(env.from, env.to), env);
    else queue.push(env);
  };
  let messages = 0;
  let bytes = 0;
  let faults = 0;
  let wireErrors = 0;

  // ---- request tracking
  const track = new Track();
  const uncertified: number[][] = engines.map(() => []); // per replica: seqs it submitted, in log order
  const uncertifiedIndex: number[][] = engines.map(() => []);
  const uncertifiedHead = engines.map(() => 0);
  let submitted = 0;
  let refused = 0;
  let done = 0;
  let fullyAppended = 0;
  let inWindow = false;
  const windowLatencies: number[] = [];
  let doneInWindow = 0;

  const absorb = (r: number, s: EngineStep): void => {
    faults += s.faults.length;
    for (const o of s.outgoing) {
      let msg = o.msg;
      let size: number;
      try {
        const enc = encodeMessage(o.msg);
        size = enc.length;
        if (wire) msg = decodeMessage(enc);
      } catch (e) {
        if (!(e instanceof CodecError)) throw e;
        // The real transport could not send this message; deliver it anyway and report it.
        wireErrors++;
        size = 0;
      }
      messages++;
      bytes += size + TRANSPORT_HEADER_BYTES;
      enqueue({ from: r, to: o.to, msg });
    }
    if (s.appended.length > 0) {
      for (const a of s.appended) {
        const seq = seqOf(a.entry);
        if (++track.appendedAt[seq]! === n) fullyAppended++;
        if (track.submitter[seq] === r) {
          uncertified[r]!.push(seq);
          uncertifiedIndex[r]!.push(a.index);
        }
      }
    }
    for (const c of s.checkpoints) {
      const now = performance.now();
      const list = uncertified[r]!;
      const idx = uncertifiedIndex[r]!;
      let h = uncertifiedHead[r]!;
      while (h < list.length && idx[h]! < c.size) {
        const seq = list[h]!;
        track.done[seq] = 1;
        done++;
        if (inWindow) {
          doneInWindow++;
          windowLatencies.push(now - track.submitAt[seq]!);
        }
        h++;
      }
      if (h > 4096 && h * 2 > list.length) {
        list.splice(0, h);
        idx.splice(0, h);
        h = 0;
      }
      uncertifiedHead[r] = h;
    }
  };

  const filler = requestFiller();

  const submitOne = (): boolean => {
    const seq = submitted;
    const r = seq % n;
    const e = engines[r]!;
    const req = makeRequest(seq, filler);
    if (e.refusal(req)) {
      refused++;
      return false;
    }
    track.ensure(seq);
    track.submitAt[seq] = performance.now();
    track.submitter[seq] = r;
    submitted++;
    absorb(r, e.submit(req));
    return true;
  };

  let submitting = true;
  let openSubmitted = 0;

  let heapMax = 0;
  let rssMax = 0;
  const sampleMemory = () => {
    const m = process.memoryUsage();
    heapMax = Math.max(heapMax, m.heapUsed);
    rssMax = Math.max(rssMax, m.rss);
  };

  // ---- phases: warm-up, then a window from one epoch boundary (replica 0 delivers an epoch) to another
  type Mark = { at: number; cpu: NodeJS.CpuUsage; messages: number; bytes: number; epoch: number; logSize: number; crypto: ReturnType<CryptoCounter['snapshot']> };
  const mark = (): Mark => ({ at: performance.now(), cpu: process.cpuUsage(), messages, bytes, epoch: engines[0]!.ab.currentEpoch, logSize: engines[0]!.log.size, crypto: counter.snapshot() });
  const minEpochs = opts.minEpochs ?? 3;
  const maxMeasureMs = opts.maxMeasureMs ?? Math.max(opts.measureMs * 4, 60_000);
  type Phase = 'warm-up' | 'measure' | 'drain';
  let phase = 'warm-up' as Phase;
  let start: Mark | null = null;
  let end: Mark | null = null;
  let lastEpoch = engines[0]!.ab.currentEpoch;
  const t0 = performance.now();
  const startWindow = () => {
    start = mark();
    phase = 'measure';
    inWindow = true;
  };
  const endWindow = () => {
    end = mark();
    phase = 'drain';
    inWindow = false;
    submitting = false;
  };
  const onEpochBoundary = () => {
    const now = performance.now();
    if (phase === 'warm-up' && now - t0 >= opts.warmupMs && engines[0]!.ab.currentEpoch >= (opts.warmupEpochs ?? 2)) startWindow();
    else if (phase === 'measure' && now - start!.at >= opts.measureMs && engines[0]!.ab.currentEpoch - start!.epoch >= minEpochs) endWindow();
  };
  const feed = (): void => {
    if (!submitting) return;
    if (opts.load.kind === 'closed') {
      while (submitted - done < opts.load.inflight) if (!submitOne()) break;
    } else {
      const target = Math.floor(((performance.now() - t0) * opts.load.rate) / 1000);
      while (openSubmitted < target) {
        openSubmitted++;
        submitOne();
      }
    }
  };

  const drainDeadline = () => (end ? end.at + (opts.drainTimeoutMs ?? 120_000) : Infinity);
  let nextSample = performance.now() + 200;
  let nextLog = performance.now() + 2000;
  let stalled: string | null = null;
  for (;;) {
    feed();
    if (phase === 'drain' && (opts.drain === false || (done === submitted && fullyAppended === submitted))) break;
    if (wan) {
      // Move what is due into the FIFO queue; sleep until the next message or submission is due.
      const now = performance.now();
      while (delayed.size > 0 && delayed.peekDue() <= now) queue.push(delayed.pop()!);
      if (head >= queue.length && delayed.size > 0) {
        const nextSubmission = opts.load.kind === 'open' && submitting ? t0 + ((openSubmitted + 1) * 1000) / opts.load.rate : Infinity;
        const wait = Math.min(delayed.peekDue(), nextSubmission) - now;
        if (wait > 0.05) Atomics.wait(sleeper, 0, 0, wait);
        continue;
      }
    }
    if (head >= queue.length) {
      if (opts.load.kind === 'open' && submitting) {
        // Idle until the next open-loop submission is due: this thread is the whole system.
        const due = t0 + ((openSubmitted + 1) * 1000) / opts.load.rate;
        while (performance.now() < due) {
          /* spin */
        }
        continue;
      }
      stalled = `in-process n=${n}: stalled during ${phase} with ${submitted - done} requests outstanding and no message in flight`;
      break;
    }
    const env = queue[head++]!;
    if (head >= 65536 && head * 2 >= queue.length) {
      queue = queue.slice(head);
      head = 0;
    }
    const s = engines[env.to]!.receive(env.from, env.msg);
    if (s.deferred) {
      if (wan) delayed.push(performance.now() + 1, env);
      else queue.push(env);
    } else absorb(env.to, s);
    if (env.to === 0 && engines[0]!.ab.currentEpoch !== lastEpoch) {
      lastEpoch = engines[0]!.ab.currentEpoch;
      onEpochBoundary();
    }
    const now = performance.now();
    if (now >= nextSample) {
      nextSample = now + 200;
      sampleMemory();
      if (phase === 'measure' && now - start!.at >= maxMeasureMs) endWindow();
      if (phase === 'drain' && now > drainDeadline()) {
        stalled = `in-process n=${n}: drain did not finish within ${opts.drainTimeoutMs ?? 120_000} ms`;
        break;
      }
      if (now >= nextLog) {
        nextLog = now + 2000;
        log(`  in-process n=${n} ${phase}: epoch ${engines[0]!.ab.currentEpoch}, ${done} done, ${submitted - done} outstanding`);
      }
    }
  }
  if (stalled) log(stalled);
  if (!start || !end) throw new Error(stalled ?? `in-process n=${n}: no measurement window`);
  const a: Mark = start;
  const b: Mark = end;
  sampleMemory();
  const allDelivered = opts.drain === false ? null : !stalled && done === submitted && fullyAppended === submitted;
  opts.inspect?.(engines);
  // What the replicas keep once idle (logs, de-duplication and serving windows, finished epochs), per replica.
  let retainedMb: number | null = null;
  if (gc && allDelivered) {
    gc();
    retainedMb = round1((retainedNow() - heapBefore) / 2 ** 20 / n);
  }

  const windowMs = b.at - a.at;
  const epochs = b.epoch - a.epoch;
  const ordered = b.logSize - a.logSize;
  const cpuMs = (b.cpu.user - a.cpu.user + b.cpu.system - a.cpu.system) / 1000;
  const per = (x: number) => (ordered === 0 ? 0 : round3(x / ordered));
  const perEpoch = (x: number) => (epochs === 0 ? 0 : round1(x / epochs));
  const detail: Record<string, { count: number; ms: number }> = {};
  for (const [k, v] of [...b.crypto.detail].sort()) {
    const before = a.crypto.detail.get(k) ?? { count: 0, ms: 0 };
    if (v.count > before.count) detail[k] = { count: perEpoch(v.count - before.count), ms: perEpoch(v.ms - before.ms) };
  }
  if (wireErrors > 0) log(`  in-process n=${n}: ${wireErrors} messages the wire codec refused (delivered anyway)`);
  return {
    mode: 'in-process',
    ...(opts.label ? { label: opts.label } : {}),
    sha256: sha256Backend(),
    n,
    t,
    load: opts.load,
    max_batch: maxBatch,
    max_pending: maxPending,
    wire,
    window_s: round3(windowMs / 1000),
    throughput_rps: Math.round((ordered * 1000) / windowMs),
    latency_ms: percentiles(windowLatencies),
    ordered_in_window: ordered,
    done_in_window: doneInWindow,
    submitted,
    refused,
    all_delivered: allDelivered,
    wire_errors: wireErrors,
    epochs_in_window: epochs,
    epoch_ms: epochs === 0 ? 0 : round1(windowMs / epochs),
    mean_epoch_requests: epochs === 0 ? 0 : Math.round(ordered / epochs),
    cpu_ms_per_request: per(cpuMs),
    cpu_utilization: round3(cpuMs / windowMs),
    requests_per_cpu_second: cpuMs === 0 ? 0 : Math.round(ordered / (cpuMs / 1000)),
    messages_per_request: per(b.messages - a.messages),
    bytes_per_request: Math.round(per(b.bytes - a.bytes)),
    messages_per_epoch: perEpoch(b.messages - a.messages),
    crypto_per_epoch: {
      sign: perEpoch(b.crypto.byOp.sign - a.crypto.byOp.sign),
      verifyShare: perEpoch(b.crypto.byOp.verifyShare - a.crypto.byOp.verifyShare),
      combine: perEpoch(b.crypto.byOp.combine - a.crypto.byOp.combine),
      verify: perEpoch(b.crypto.byOp.verify - a.crypto.byOp.verify),
    },
    crypto_detail_per_epoch: detail,
    crypto_time_share: round3((b.crypto.ms - a.crypto.ms) / windowMs),
    heap_high_water_mb: Math.round(heapMax / 2 ** 20),
    heap_retained_mb_per_replica: retainedMb,
    engine_estimate_mb_per_replica: round1(engines.reduce((s, e) => s + e.retainedBytes(), 0) / n / 2 ** 20),
    rss_high_water_mb: Math.round(rssMax / 2 ** 20),
    max_aba_round: Math.max(...engines.map((e) => e.ab.maxAbaRound)),
    faults,
    ...(wan ? { wan_ms: [...wan] } : {}),
  };
}

/** A binary min-heap of items by due time (WAN mode's network). */
class DueHeap<T> {
  private readonly due: number[] = [];
  private readonly items: T[] = [];

  get size(): number {
    return this.items.length;
  }

  peekDue(): number {
    return this.due[0]!;
  }

  push(due: number, item: T): void {
    let i = this.items.length;
    this.due.push(due);
    this.items.push(item);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (this.due[p]! <= due) break;
      this.due[i] = this.due[p]!;
      this.items[i] = this.items[p]!;
      i = p;
    }
    this.due[i] = due;
    this.items[i] = item;
  }

  pop(): T | undefined {
    const n = this.items.length;
    if (n === 0) return undefined;
    const top = this.items[0]!;
    const lastDue = this.due.pop()!;
    const last = this.items.pop()!;
    if (n > 1) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n - 1) break;
        const r = l + 1;
        const c = r < n - 1 && this.due[r]! < this.due[l]! ? r : l;
        if (this.due[c]! >= lastDue) break;
        this.due[i] = this.due[c]!;
        this.items[i] = this.items[c]!;
        i = c;
      }
      this.due[i] = lastDue;
      this.items[i] = last;
    }
    return top;
  }
}

/** Runs one in-process configuration in a fresh child process (clean heap: the high-water mark is its own). */
export function runInProcessChild(opts: Omit<InProcessOptions, 'log' | 'inspect'>, log?: (line: string) => void, timeoutMs?: number): Promise<InProcessResult> {
  return runInChild<Omit<InProcessOptions, 'log' | 'inspect'>, InProcessResult>(fileURLToPath(import.meta.url), opts, log, timeoutMs);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (process.send) {
    serveChild<InProcessOptions, InProcessResult>((opts, log) => runInProcess({ ...opts, log }));
  } else {
    const n = Number(process.argv[2] ?? 4);
    const inflight = Number(process.argv[3] ?? 8192);
    const seconds = Number(process.argv[4] ?? 10);
    const maxBatch = process.argv[5] ? Number(process.argv[5]) : undefined;
    const nobleSha256 = process.env['SINTRA_BENCH_NOBLE_SHA256'] === '1';
    // SINTRA_BENCH_WAN=15,40,75,110: WAN mode (InProcessOptions.wanMs); SINTRA_BENCH_RATE=R: open loop at R req/s.
    const wanMs = process.env['SINTRA_BENCH_WAN']?.split(',').map(Number);
    const rate = Number(process.env['SINTRA_BENCH_RATE'] ?? 0);
    const load: Load = rate > 0 ? { kind: 'open', rate } : { kind: 'closed', inflight };
    const r = runInProcess({ n, load, warmupMs: 2000, measureMs: seconds * 1000, nobleSha256, ...(maxBatch ? { maxBatch } : {}), ...(wanMs ? { wanMs } : {}), log: (s) => console.error(s) });
    console.log(JSON.stringify(r, null, 2));
  }
}
