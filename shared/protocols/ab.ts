/**
 * Atomic broadcast, HoneyBadger-style (Miller, Xia, Croman, Shi, Song, "The Honey Badger of BFT
 * Protocols", CCS 2016, section 4) over consistent broadcasts, as in BEAT (Duan, Reiter, Zhang, CCS 2018)
 * and Dumbo (Guo et al., CCS 2020): per epoch a common subset of proposals (acs.ts), not the CKPS 2001
 * section 5 construction (one validated agreement on a vector of proposals per epoch) that SINTRA names;
 * docs/protocols.md says why.
 * Epoch e: every replica consistently broadcasts a batch of its pending requests (tag ab/e/cbc/j); the
 * replicas agree on a quorum of those batches with their proofs (ab/e/aba/j); every honest replica
 * delivers the union in one deterministic order (by proposer, then position), each request once per epoch
 * (a request ordered in an earlier epoch again, which only a Byzantine proposer does, is dropped by the
 * replica's log: its window is a function of the log, so a replica that joins by state transfer has it).
 *
 * - Batches grow with load up to `maxBatch` requests; an idle group runs no epochs: a replica starts the
 *   next epoch when it has pending requests, or on a delivered non-empty proposal (evidence that an honest
 *   replica wants it; then it proposes, maybe nothing, because the common subset needs every honest
 *   proposer). A message for an epoch does not start it (issue 13, bug 4: see maybeStart).
 * - Fairness ("a request submitted to any honest replica is eventually delivered"): a request still
 *   pending `forwardAfter` epochs after it arrived is handed to every replica (ab-requests), so soon every
 *   honest replica proposes it, and any quorum of batches contains an honest one.
 * - Bounded memory: instances are created only for epochs inside [current - keep, current + window];
 *   messages beyond the window are deferred; finished epochs are dropped after `keep` epochs, except their
 *   agreed batches with proofs, kept `serveEpochs` (and `serveBytes`) to answer a laggard's cbc-want (a
 *   replica lagging further needs state transfer, which is not part of this core); pending requests are
 *   capped (submit() refuses beyond it, so the adapter can answer 503), and a peer's forwarded requests to
 *   1/n of that.
 * - Agreed time: every proposal carries the proposer's clock reading (batch.ts; the host sets it with
 *   setClock, as a journaled event), and each delivered epoch has the time agreed-time.ts computes from the
 *   readings of its agreed proposals, so every honest replica delivers the same time with the epoch.
 * Epochs run one after another here; pipelining is left to the runtime (docs/protocols.md).
 */
import { sha256 } from '../crypto/sha256.ts';
import type { ProtocolContext } from './context.ts';
import { hexKey, isBytes } from './context.ts';
import { CommonSubset } from './acs.ts';
import type { SubsetOutput } from './acs.ts';
import { decodeProposal, encodeBatch, PROPOSAL_HEADER_BYTES } from './batch.ts';
import { agreedTime } from './agreed-time.ts';
import { DEFAULT_LIMITS, decodeMessage, encodeMessage } from '../codec/message-codec.ts';
import type { Message } from './messages.ts';
import { abEpochTag, formatAbTag, isCanonicalTag, parseAbTag } from './instance-tag.ts';
import type { AbEpochTagId } from './instance-tag.ts';
import { invariant } from '../invariant/index.ts';
import { Step } from './step.ts';
import type { Protocol } from './step.ts';

export interface AbConfig {
  readonly maxBatch: number;
  readonly maxRequestBytes: number;
  readonly maxPending: number;
  /**
   * And at most this many bytes of pending requests (default 8 MiB). Why: maxPending alone lets 100,000
   * requests of maxRequestBytes (64 KiB) queue, 6.4 GB, far past a Durable Object's 128 MB.
   */
  readonly maxPendingBytes?: number;
  readonly epochWindow: number;
  readonly keepEpochs: number;
  readonly forwardAfter: number;
  /** Epochs for which delivered request digests are remembered for de-duplication. */
  readonly dedupEpochs: number;
  /**
   * And at most about this many digests (default 100,000; the oldest epochs go first, the newest is always
   * kept). Why: 256 epochs of 4,096-request batches from 4 proposers are 4 million digests, half a gigabyte,
   * in memory and in every compaction snapshot. Forgetting early is safe: the replica's log de-duplicates
   * by its own index (shared/replica/engine.ts), this window only saves re-queueing and re-proposing.
   */
  readonly dedupRequests?: number;
  /**
   * Epochs for which an epoch's agreed batches (with their proofs) are kept after its instance is
   * garbage-collected, to answer a lagging replica's `cbc-want` (default 64, at least `keepEpochs`).
   */
  readonly serveEpochs?: number;
  /**
   * And at most this many bytes of such batches (default 16 MiB): with big batches 64 epochs are hundreds
   * of megabytes per replica (docs/benchmarks.md), more than a Durable Object may hold. The newest
   * `keepEpochs` epochs are kept whatever their size.
   */
  readonly serveBytes?: number;
}

const DEFAULT_SERVE_EPOCHS = 64;
// These caps, with the de-duplication window (about 14 MB at 100,000 digests), are about 38 MiB of the
// engine's default 64 MiB memory budget (engine.ts), leaving the rest for the log index.
const DEFAULT_SERVE_BYTES = 16 * 1024 * 1024;
export const DEFAULT_MAX_PENDING_BYTES = 8 * 1024 * 1024;
export const DEFAULT_DEDUP_REQUESTS = 100_000;
/** batch.ts: the clock and the count before the u32-length-prefixed requests. */
const BATCH_OVERHEAD = PROPOSAL_HEADER_BYTES;
/** An ab-requests message in the wire codec: header and list count, then u32 length + bytes per request. */
const FORWARD_OVERHEAD = 64;
const FORWARD_ITEM_OVERHEAD = 4;
/** The wire codec's list limit (DEFAULT_LIMITS.maxListItems): no more requests in one ab-requests. */
const MAX_FORWARDED = DEFAULT_LIMITS.maxListItems;

export const DEFAULT_AB_CONFIG: AbConfig = {
  maxBatch: 1024,
  maxRequestBytes: 64 * 1024,
  maxPending: 100_000,
  epochWindow: 8,
  keepEpochs: 4,
  forwardAfter: 2,
  dedupEpochs: 256,
  serveEpochs: 64,
};

export function defaultRequestKey(request: Uint8Array): string {
  return hexKey(sha256(request));
}

export interface AbDelivery {
  readonly epoch: number;
  /** Requests in delivery order, each once in the epoch (across epochs the replica's log de-duplicates). */
  readonly requests: readonly Uint8Array[];
  /** Replicas whose batches are in this epoch's subset. */
  readonly proposers: readonly number[];
  /** Parallel to `requests`: their keys (keyOf), so layers above need not hash them again. */
  readonly keys?: readonly string[];
  /** The epoch's agreed time (ms since 1970; agreed-time.ts): from the agreed proposals' clock readings. */
  readonly time: number;
}

interface Pending {
  readonly request: Uint8Array;
  readonly since: number;
  forwarded: boolean;
  /** The peer that forwarded it to us (counted against its share of the queue), or undefined: a client's. */
  readonly from?: number;
}

/** One event an epoch's instance was given: our proposal, or a peer's message (wire codec bytes). */
export type InstanceEvent = { readonly input: Uint8Array } | { readonly from: number; readonly msg: Uint8Array };
/** In memory the message is kept decoded; it is encoded only when a snapshot is taken. */
type LoggedEvent = { readonly input: Uint8Array } | { readonly from: number; readonly msg: Message };

export interface AbSnapshot {
  readonly epoch: number;
  readonly proposed: ReadonlySet<number>;
  readonly finished: ReadonlyMap<number, ReadonlyMap<number, { readonly value: Uint8Array; readonly signature: Uint8Array }>>;
  readonly servedTo: ReadonlyMap<number, ReadonlySet<string>>;
  readonly pending: readonly { readonly digest: string; readonly request: Uint8Array; readonly since: number; readonly forwarded: boolean; readonly from: number | null }[];
  readonly delivered: ReadonlyMap<string, number>;
  readonly deliveredByEpoch: readonly (readonly string[])[];
  readonly maxAbaRound: number;
  readonly instances: ReadonlyMap<number, readonly InstanceEvent[]>;
  /** silence(): epochs up to this one run no instance here (absent in older snapshots: -1). */
  readonly silentThrough?: number;
  /** The clock reading the next proposal carries (setClock), and the last delivered epoch's agreed time. */
  readonly clock: number;
  readonly time: number;
}

export class AtomicBroadcast implements Protocol<Uint8Array, AbDelivery> {
  private epoch = 0;
  /** Epochs up to this one run no instance here (silence()). */
  private silentThrough = -1;
  private readonly instances = new Map<number, CommonSubset>();
  private readonly proposed = new Set<number>();
  /** Agreed batches per epoch: until delivered, then kept `serveEpochs` to answer laggards (serveOld). */
  private readonly finished = new Map<number, SubsetOutput>();
  /** Per finished-and-collected epoch: `j/peer` pairs already answered (one answer per asker and batch). */
  private readonly servedTo = new Map<number, Set<string>>();
  private readonly pending = new Map<string, Pending>();
  /** Sum of the pending requests' lengths. */
  private pendingByteCount = 0;
  /** Per peer: bytes and count of the pending requests it forwarded to us (its share is bounded). */
  private readonly forwardedBytes: number[];
  private readonly forwardedCount: number[];
  /** Sum of the lengths of the batches in `finished`. */
  private finishedByteCount = 0;
  private readonly delivered = new Map<string, number>();
  private readonly deliveredByEpoch: string[][] = [];
  private readonly instanceLogs = new Map<number, LoggedEvent[]>();
  /** Highest ABA round reached in any epoch (metrics). */
  maxAbaRound = 0;
  /** What our next proposal says the time is (setClock). */
  private clock = 0;
  /** The agreed time of the last delivered epoch (agreed-time.ts; 0 before the first). */
  private time = 0;

  /**
   * `keyOf` names a request for de-duplication and isPending (default: hex SHA-256 of its bytes). A layer
   * that wraps requests in an envelope (secure causal broadcast's mixed mode) passes one that hashes the
   * payload inside, so the id a client knows (the SHA-256 of what it sent) finds its request here.
   */
  constructor(
    private readonly ctx: ProtocolContext,
    readonly tag: string = 'ab',
    readonly config: AbConfig = DEFAULT_AB_CONFIG,
    private readonly keyOf: (request: Uint8Array) => string = defaultRequestKey,
  ) {
    invariant(isCanonicalTag(tag), () => `atomic broadcast tag ${tag} is not canonical`);
    // A batch counts its requests in a u16 (batch.ts), and the windows must let an epoch run at all.
    invariant(Number.isInteger(config.maxBatch) && config.maxBatch >= 1 && config.maxBatch <= 0xffff, () => `maxBatch ${config.maxBatch} outside 1..65535`);
    invariant(config.epochWindow >= 1 && config.keepEpochs >= 1 && config.forwardAfter >= 1, () => `epochWindow, keepEpochs and forwardAfter must be at least 1`);
    this.forwardedBytes = Array.from({ length: ctx.n }, () => 0);
    this.forwardedCount = Array.from({ length: ctx.n }, () => 0);
  }

  get terminated(): boolean {
    return false;
  }

  get currentEpoch(): number {
    return this.epoch;
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  get pendingBytes(): number {
    return this.pendingByteCount;
  }

  /** Request digests in the de-duplication window. */
  get dedupSize(): number {
    return this.delivered.size;
  }

  /** Bytes of agreed batches kept to answer laggards (bounded by serveBytes, plus the newest keepEpochs). */
  get keptBatchBytes(): number {
    return this.finishedByteCount;
  }

  private keepFinished(e: number, out: SubsetOutput): void {
    this.finished.set(e, out);
    for (const d of out.values()) this.finishedByteCount += d.value.length;
  }

  /**
   * The runtime's clock (ms since 1970), for the proposals made from now on. Not a protocol input that
   * anything waits for: the host sets it before each batch of events (and journals it, so a replay proposes
   * the same bytes); a replica that never sets it proposes 0, which the agreed time outvotes.
   */
  setClock(ms: number): void {
    invariant(Number.isSafeInteger(ms) && ms >= 0, () => `clock ${ms} is not a non-negative safe integer`);
    this.clock = ms;
  }

  /** The clock reading the next proposal carries. */
  get clockReading(): number {
    return this.clock;
  }

  /** The agreed time of the last delivered epoch (0 before the first). */
  get agreedTime(): number {
    return this.time;
  }

  /** Whether a new request would be accepted now (for the adapter's 503). */
  get acceptsRequests(): boolean {
    return this.pending.size < this.config.maxPending && this.pendingByteCount < (this.config.maxPendingBytes ?? DEFAULT_MAX_PENDING_BYTES);
  }

  /** Submit a client request. Duplicates of pending or recently delivered requests are ignored. */
  handleInput(request: Uint8Array): Step<AbDelivery> {
    const step = new Step<AbDelivery>();
    if (!isBytes(request) || request.length > this.config.maxRequestBytes) return step;
    this.addPending(request);
    this.maybeStart(step);
    return step;
  }

  handleMessage(from: number, msg: Message): Step<AbDelivery> {
    const step = new Step<AbDelivery>();
    // Only canonical tags: an alias (ab/01/... for ab/1/...) would reach an epoch under a name its
    // signatures are not bound to, and must not even create the epoch (instance-tag.ts).
    const id = parseAbTag(msg.tag, this.tag, this.ctx.n);
    if (id === null) return step.fault(from, msg.tag, 'malformed', 'tag outside atomic broadcast');
    if (id.kind === 'ab-requests') {
      if (msg.body.t !== 'ab-requests') return step.fault(from, msg.tag, 'unexpected', `message ${msg.body.t} at ${this.tag}`);
      const reqs = msg.body.requests;
      if (!Array.isArray(reqs) || reqs.length > this.config.maxBatch) return step.fault(from, msg.tag, 'malformed', 'forwarded requests');
      let bytes = FORWARD_OVERHEAD;
      for (const r of reqs) {
        if (!isBytes(r) || r.length > this.config.maxRequestBytes) return step.fault(from, msg.tag, 'malformed', 'forwarded request');
        bytes += FORWARD_ITEM_OVERHEAD + r.length;
      }
      // An honest replica forwards no more than a proposal's bytes at once (forwardStale).
      if (bytes > this.ctx.maxValueBytes) return step.fault(from, msg.tag, 'malformed', `forwarded requests of ${bytes} bytes > ${this.ctx.maxValueBytes}`);
      for (const r of reqs) this.addPending(r, from);
      this.maybeStart(step);
      return step;
    }
    const e = id.epoch;
    if (e > this.epoch + this.config.epochWindow) {
      step.deferred = true;
      return step;
    }
    const existed = this.instances.has(e);
    const inst = this.instance(e);
    // Garbage-collected epoch: everyone still running it has our messages, except answers to cbc-want.
    if (!inst) return this.serveOld(step, from, msg, id);
    const child = inst.handleMessage(from, msg);
    if (child.deferred || child.unchanged) {
      // Nothing may change for a deferred message (the transport does not acknowledge it, so it is not
      // journaled): not even the instance it created, nor a proposal it would trigger, whose messages
      // would be lost with the step (found by the simulator: scab seed 4200393, garbage). Likewise for a
      // message that changed nothing, which is acknowledged without being journaled.
      if (!existed) this.instances.delete(e);
      if (child.deferred) step.deferred = true;
      else step.ignore();
      return step;
    }
    this.logOf(e).push({ from, msg });
    this.routeEpoch(step, e, child);
    this.maybeStart(step);
    return step;
  }

  /** External validity of a proposal: a well-formed batch within the limits. */
  private batchValidator(): (v: Uint8Array) => boolean {
    return (v) => decodeProposal(v, this.config.maxBatch, this.config.maxRequestBytes) !== null;
  }

  /** What epoch e's instance was given, in order: rebuilds it after a restore (snapshot()). */
  private logOf(e: number): LoggedEvent[] {
    let log = this.instanceLogs.get(e);
    if (!log) this.instanceLogs.set(e, (log = []));
    return log;
  }

  /** Whether a request (by keyOf: hex SHA-256 by default) is waiting to be proposed or delivered here. */
  isPending(digestHex: string): boolean {
    return this.pending.has(digestHex);
  }

  /**
   * Everything needed to continue exactly from here (engine compaction), as plain data. Live epochs are
   * kept as the events their instances were given (proposal and messages, each instance being a
   * deterministic function of its own events); restore() replays them into fresh instances. The
   * inter-epoch state (queue, de-duplication window, agreed batches kept for laggards) is copied.
   */
  snapshot(): AbSnapshot {
    return {
      epoch: this.epoch,
      proposed: new Set(this.proposed),
      finished: new Map([...this.finished].map(([e, out]) => [e, new Map([...out].map(([j, d]) => [j, { value: d.value, signature: d.signature }]))])),
      servedTo: new Map([...this.servedTo].map(([e, s]) => [e, new Set(s)])),
      pending: [...this.pending].map(([d, p]) => ({ digest: d, request: p.request, since: p.since, forwarded: p.forwarded, from: p.from ?? null })),
      delivered: new Map(this.delivered),
      deliveredByEpoch: this.deliveredByEpoch.map((x) => [...x]),
      maxAbaRound: this.maxAbaRound,
      silentThrough: this.silentThrough,
      clock: this.clock,
      time: this.time,
      instances: new Map(
        [...this.instances.keys()].map((e) => [e, (this.instanceLogs.get(e) ?? []).map((ev) => ('input' in ev ? ev : { from: ev.from, msg: encodeMessage(ev.msg) }))]),
      ),
    };
  }

  static restore(ctx: ProtocolContext, tag: string, config: AbConfig, s: AbSnapshot, keyOf: (request: Uint8Array) => string = defaultRequestKey): AtomicBroadcast {
    const a = new AtomicBroadcast(ctx, tag, config, keyOf);
    a.epoch = s.epoch;
    for (const e of s.proposed) a.proposed.add(e);
    for (const [e, out] of s.finished) a.keepFinished(e, new Map([...out].map(([j, d]) => [j, { value: d.value, signature: d.signature }])));
    for (const [e, set] of s.servedTo) a.servedTo.set(e, new Set(set));
    for (const p of s.pending) {
      a.pending.set(p.digest, { request: p.request, since: p.since, forwarded: p.forwarded, ...(p.from !== null ? { from: p.from } : {}) });
      a.pendingByteCount += p.request.length;
      if (p.from !== null) {
        a.forwardedBytes[p.from]! += p.request.length;
        a.forwardedCount[p.from]!++;
      }
    }
    for (const [d, e] of s.delivered) a.delivered.set(d, e);
    a.deliveredByEpoch.push(...s.deliveredByEpoch.map((x) => [...x]));
    a.maxAbaRound = s.maxAbaRound;
    a.silentThrough = s.silentThrough ?? -1;
    a.clock = s.clock;
    a.time = s.time;
    for (const [e, events] of s.instances) {
      const inst = new CommonSubset(ctx, abEpochTag(tag, e), a.batchValidator());
      a.instances.set(e, inst);
      const log: LoggedEvent[] = [];
      for (const ev of events) {
        if ('input' in ev) {
          inst.handleInput(ev.input);
          log.push(ev);
        } else {
          const msg = decodeMessage(ev.msg);
          inst.handleMessage(ev.from, msg);
          log.push({ from: ev.from, msg });
        }
      }
      a.instanceLogs.set(e, log);
    }
    return a;
  }

  /**
   * State transfer (engine.ts transferTo): epochs before `next` were ordered by the group and this replica
   * has their outcome from a signed checkpoint, not from running them. Their instances stay until garbage
   * collection (so nothing we said in any epoch can be said differently); `ids`, the keys
   * of what those epochs put in the log by epoch, leave the queue and enter the de-duplication window (so
   * the queue does not propose them again; the window only keeps the queue clean, delivery does not read
   * it). Then this replica proposes in `next` if it has something to order.
   */
  skipTo(next: number, ids: ReadonlyMap<number, readonly string[]>, time: number): Step<AbDelivery> {
    const step = new Step<AbDelivery>();
    invariant(Number.isSafeInteger(next) && next >= 0, () => `skipTo(${next})`);
    invariant(Number.isSafeInteger(time) && time >= 0, () => `skipTo: time ${time}`);
    if (next > this.epoch) {
      // Epoch next - 1's agreed time, from its signed checkpoint: the next epoch's starts from it.
      this.time = time;
      // Instances of skipped epochs stay until garbage collection drops them as usual: what we said there
      // (our own proposal, echoes, votes) must still be what we answer with if they get messages.
      // The window holds one list per epoch, the newest for epoch this.epoch - 1 (collectGarbage).
      const start = Math.max(this.epoch, next - this.config.dedupEpochs);
      if (start > this.epoch) {
        this.delivered.clear();
        this.deliveredByEpoch.length = 0;
      }
      for (let e = start; e < next; e++) {
        const list = [...(ids.get(e) ?? [])];
        for (const d of list) this.delivered.set(d, e);
        this.deliveredByEpoch.push(list);
      }
      this.epoch = next;
      this.collectGarbage();
    }
    for (const list of ids.values()) for (const d of list) this.removePending(d);
    this.deliverReady(step);
    return step;
  }

  /**
   * No instance runs for epochs up to `through` any more, held or new: a replica that rejoins after lost
   * state (shared/replica/rejoin.ts) may have spoken in them before, and what it would say now could differ.
   * Messages for them are then treated as for collected epochs (serveOld: only relays of certified values).
   */
  silence(through: number): void {
    if (through <= this.silentThrough) return;
    this.silentThrough = through;
    for (const e of [...this.instances.keys()]) {
      if (e > through) continue;
      this.instances.delete(e);
      this.instanceLogs.delete(e);
      this.proposed.delete(e);
    }
  }

  private instance(e: number): CommonSubset | null {
    if (e + this.config.keepEpochs < this.epoch || e <= this.silentThrough) return null;
    let inst = this.instances.get(e);
    if (!inst) {
      inst = new CommonSubset(this.ctx, abEpochTag(this.tag, e), this.batchValidator());
      this.instances.set(e, inst);
    }
    return inst;
  }

  private routeEpoch(step: Step<AbDelivery>, e: number, child: Step<SubsetOutput>): void {
    step.absorb(child, (out) => {
      this.keepFinished(e, out);
      this.deliverReady(step);
    });
  }

  /**
   * Queues a request, a client's or one `from` a peer forwarded. A peer's requests take at most its share of
   * the queue (1/n of its bytes and count): one forwarded message of 1,024 x 8 KB used to fill the whole
   * queue, so two made every client get 503 (issue 13, bug 4). Beyond its share they are not queued here;
   * an honest forwarder sent them to every replica and still proposes them itself. They are also not
   * forwarded again (the forwarder sent them to everyone): no amplification.
   */
  private addPending(request: Uint8Array, from?: number): void {
    // A request that could never fit in a proposal (batch framing: 2 + 4 + length) would block the queue.
    if (BATCH_OVERHEAD + 4 + request.length > this.ctx.maxValueBytes) return;
    const d = this.keyOf(request);
    if (this.pending.has(d) || this.delivered.has(d) || !this.acceptsRequests) return;
    if (from !== undefined) {
      const n = this.ctx.n;
      if (this.forwardedBytes[from]! + request.length > (this.config.maxPendingBytes ?? DEFAULT_MAX_PENDING_BYTES) / n) return;
      if (this.forwardedCount[from]! + 1 > this.config.maxPending / n) return;
      this.forwardedBytes[from]! += request.length;
      this.forwardedCount[from]!++;
    }
    this.pending.set(d, { request, since: this.epoch, forwarded: from !== undefined, ...(from !== undefined ? { from } : {}) });
    this.pendingByteCount += request.length;
  }

  private removePending(d: string): void {
    const p = this.pending.get(d);
    if (!p) return;
    this.pending.delete(d);
    this.pendingByteCount -= p.request.length;
    if (p.from !== undefined) {
      this.forwardedBytes[p.from]! -= p.request.length;
      this.forwardedCount[p.from]!--;
    }
  }

  /**
   * Propose in the current epoch once there is something to order, or on evidence that an honest replica
   * wants the epoch: a delivered proposal that is not empty (it carries a quorum's proof, so honest replicas
   * echoed it, and it orders requests). Any message for the epoch used to start it, even a malformed one,
   * so one Byzantine peer kept an idle group running epochs (issue 13, bug 4). Starting on another's
   * proposal, we tell the others we have it (cbc-have): a Byzantine proposer may have sent its FINAL to us
   * alone, and a replica that lacks the evidence asks us for it, so every honest replica starts too.
   */
  private maybeStart(step: Step<AbDelivery>): void {
    const e = this.epoch;
    if (this.proposed.has(e) || this.finished.has(e)) return;
    const evidence = this.pending.size === 0 ? (this.instances.get(e)?.deliveredProposal() ?? null) : null;
    if (this.pending.size === 0 && evidence === null) return;
    const inst = this.instance(e)!;
    this.proposed.add(e);
    // Batches are capped by count and by bytes: a proposal over maxValueBytes is refused by every honest
    // replica as malformed (found by the simulator: grid seeds 16000119 and others, scab-early).
    const batch: Uint8Array[] = [];
    let bytes = BATCH_OVERHEAD;
    for (const p of this.pending.values()) {
      if (batch.length >= this.config.maxBatch || bytes + 4 + p.request.length > this.ctx.maxValueBytes) break;
      batch.push(p.request);
      bytes += 4 + p.request.length;
    }
    const proposal = encodeBatch(batch, this.clock);
    this.logOf(e).push({ input: proposal });
    this.routeEpoch(step, e, inst.handleInput(proposal));
    if (evidence !== null) step.broadcast({ tag: formatAbTag(this.tag, { kind: 'cbc', epoch: e, proposer: evidence }), body: { t: 'cbc-have' } });
  }

  private deliverReady(step: Step<AbDelivery>): void {
    for (let out = this.finished.get(this.epoch); out; out = this.finished.get(this.epoch)) {
      const e = this.epoch;
      const requests: Uint8Array[] = [];
      const digests: string[] = [];
      const proposers = [...out.keys()].sort((a, b) => a - b);
      // Each request once per epoch; across epochs the replica's log de-duplicates (engine.ts), by a window
      // that is a function of the log alone. Filtering here by the window of earlier deliveries (as before)
      // made the output depend on state that a replica joining by state transfer cannot get verified: the
      // ids of ciphertexts are not in the log, so it would decrypt a re-proposed old ciphertext that every
      // other honest replica skipped, and wait for their shares forever.
      const seen = new Set<string>();
      const readings = new Map<number, number>();
      for (const j of proposers) {
        // Agreed proposals passed the validator (batchValidator), so they decode.
        const proposal = decodeProposal(out.get(j)!.value, this.config.maxBatch, this.config.maxRequestBytes)!;
        readings.set(j, proposal.clock);
        for (const r of proposal.requests) {
          const d = this.keyOf(r);
          if (seen.has(d)) continue;
          seen.add(d);
          this.delivered.set(d, e);
          digests.push(d);
          this.removePending(d);
          // A view into the agreed batch (kept anyway for laggards): no copy per request.
          requests.push(r);
        }
      }
      this.deliveredByEpoch.push(digests);
      this.maxAbaRound = Math.max(this.maxAbaRound, this.instances.get(e)?.maxAbaRound ?? 0);
      this.time = agreedTime(this.ctx.quorum, readings, this.time);
      step.output({ epoch: e, requests, proposers, keys: digests, time: this.time });
      this.epoch = e + 1;
      this.collectGarbage();
      this.forwardStale(step);
    }
    this.maybeStart(step);
  }

  /**
   * One ab-requests message per epoch with the oldest stale requests, capped by count (maxBatch, and the
   * codec's list limit) and by bytes like a proposal (maxValueBytes, which fits a link frame): capped by
   * count alone, 1,024 forwarded 8 KiB requests made a 5 MB message that no frame could carry, and the
   * link behind it blocked for good (issue 13, bug 6). The rest go out with the next epochs.
   */
  private forwardStale(step: Step<AbDelivery>): void {
    const stale: Uint8Array[] = [];
    let bytes = FORWARD_OVERHEAD;
    const maxCount = Math.min(this.config.maxBatch, MAX_FORWARDED);
    for (const p of this.pending.values()) {
      if (p.forwarded || p.since + this.config.forwardAfter > this.epoch) continue;
      if (stale.length >= maxCount || bytes + FORWARD_ITEM_OVERHEAD + p.request.length > this.ctx.maxValueBytes) break;
      p.forwarded = true;
      stale.push(p.request);
      bytes += FORWARD_ITEM_OVERHEAD + p.request.length;
    }
    if (stale.length > 0) step.broadcast({ tag: this.tag, body: { t: 'ab-requests', requests: stale } });
  }

  /**
   * A `cbc-want` for a batch of a garbage-collected epoch, answered from the agreed batches we keep.
   * Why: a Byzantine proposer may send its FINAL only to some replicas; a replica that falls more than
   * `keepEpochs` behind (asynchrony allows any lag) learns from ABA_j's TERMs that j's batch is in the
   * subset and can only get it by cbc-want. Dropping the want (as before) left it stuck in that epoch
   * forever; the honest holders had collected the epoch (found by the deterministic simulator's
   * laggard regression test in test/sim/ab.sim.test.ts). Bounded: `serveEpochs` epochs, one answer per
   * (batch, asker), and only for batches in the agreed subset (the only ones a laggard can need).
   */
  private serveOld(step: Step<AbDelivery>, from: number, msg: Message, id: AbEpochTagId): Step<AbDelivery> {
    // Anything else for a collected epoch changes nothing: acknowledged, not journaled (bug 4 of issue 13:
    // junk for old epochs was journaled without limit, 556 MB in two minutes).
    if (msg.body.t !== 'cbc-want' || id.kind !== 'cbc') return step.ignore();
    const e = id.epoch;
    const j = id.proposer;
    const d = this.finished.get(e)?.get(j);
    if (!d || !Number.isInteger(from) || from < 0 || from >= this.ctx.n) return step.ignore();
    let answered = this.servedTo.get(e);
    if (answered?.has(`${j}/${from}`)) return step.ignore();
    if (!answered) this.servedTo.set(e, (answered = new Set()));
    answered.add(`${j}/${from}`);
    return step.send(from, { tag: formatAbTag(this.tag, id), body: { t: 'cbc-final', value: d.value, signature: d.signature } });
  }

  private collectGarbage(): void {
    for (const e of this.instances.keys()) {
      if (e + this.config.keepEpochs < this.epoch) {
        this.instances.delete(e);
        this.instanceLogs.delete(e);
        this.proposed.delete(e);
      }
    }
    const serve = Math.max(this.config.keepEpochs, this.config.serveEpochs ?? DEFAULT_SERVE_EPOCHS);
    const budget = this.config.serveBytes ?? DEFAULT_SERVE_BYTES;
    // Newest first: keep epochs while they fit the byte budget (the newest keepEpochs always).
    let bytes = 0;
    for (const e of [...this.finished.keys()].sort((a, b) => b - a)) {
      let epochBytes = 0;
      for (const d of this.finished.get(e)!.values()) epochBytes += d.value.length;
      bytes += epochBytes;
      if (e + serve < this.epoch || (bytes > budget && e + this.config.keepEpochs < this.epoch)) {
        this.finishedByteCount -= epochBytes;
        this.finished.delete(e);
        this.servedTo.delete(e);
      }
    }
    const maxDigests = this.config.dedupRequests ?? DEFAULT_DEDUP_REQUESTS;
    while (this.deliveredByEpoch.length > this.config.dedupEpochs || (this.deliveredByEpoch.length > 1 && this.delivered.size > maxDigests)) {
      // One list per delivered epoch, the newest being epoch this.epoch - 1; a digest delivered again later
      // (a Byzantine proposer's replay) stays under its newest epoch.
      const oldest = this.epoch - this.deliveredByEpoch.length;
      for (const d of this.deliveredByEpoch.shift()!) if (this.delivered.get(d) === oldest) this.delivered.delete(d);
    }
  }
}
