/**
 * Atomic broadcast: Cachin-Kursawe-Petzold-Shoup, "Secure and Efficient Asynchronous Broadcast Protocols",
 * CRYPTO 2001, section 5 (atomic broadcast from validated agreement), with the agreement step of acs.ts.
 * Epoch e: every replica consistently broadcasts a batch of its pending requests (tag ab/e/cbc/j); the
 * replicas agree on a quorum of those batches with their proofs (ab/e/aba/j); every honest replica
 * delivers the union in one deterministic order (by proposer, then position), each request once.
 *
 * - Batches grow with load up to `maxBatch` requests; an idle group runs no epochs: a replica starts the
 *   next epoch when it has pending requests or a peer has started it (then it proposes, maybe nothing,
 *   because the common subset needs every honest proposer).
 * - Fairness ("a request submitted to any honest replica is eventually delivered"): a request still
 *   pending `forwardAfter` epochs after it arrived is handed to every replica (ab-requests), so soon every
 *   honest replica proposes it, and any quorum of batches contains an honest one.
 * - Bounded memory: instances are created only for epochs inside [current - keep, current + window];
 *   messages beyond the window are deferred; finished epochs are dropped after `keep` epochs; pending
 *   requests are capped (submit() refuses beyond it, so the adapter can answer 503).
 * Epochs run one after another here; pipelining is left to the runtime (docs/protocols.md).
 */
import { sha256 } from '@noble/hashes/sha2.js';
import type { ProtocolContext } from './context.ts';
import { hexKey, isBytes } from './context.ts';
import { CommonSubset } from './acs.ts';
import type { SubsetOutput } from './acs.ts';
import { decodeBatch, encodeBatch } from './batch.ts';
import type { Message } from './messages.ts';
import { Step } from './step.ts';
import type { Protocol } from './step.ts';

export interface AbConfig {
  readonly maxBatch: number;
  readonly maxRequestBytes: number;
  readonly maxPending: number;
  readonly epochWindow: number;
  readonly keepEpochs: number;
  readonly forwardAfter: number;
  /** Epochs for which delivered request digests are remembered for de-duplication. */
  readonly dedupEpochs: number;
}

export const DEFAULT_AB_CONFIG: AbConfig = {
  maxBatch: 1024,
  maxRequestBytes: 64 * 1024,
  maxPending: 100_000,
  epochWindow: 8,
  keepEpochs: 4,
  forwardAfter: 2,
  dedupEpochs: 256,
};

export interface AbDelivery {
  readonly epoch: number;
  /** Requests in delivery order, each delivered once. */
  readonly requests: readonly Uint8Array[];
  /** Replicas whose batches are in this epoch's subset. */
  readonly proposers: readonly number[];
}

interface Pending {
  readonly request: Uint8Array;
  readonly since: number;
  forwarded: boolean;
}

export class AtomicBroadcast implements Protocol<Uint8Array, AbDelivery> {
  private epoch = 0;
  private readonly instances = new Map<number, CommonSubset>();
  private readonly proposed = new Set<number>();
  private readonly finished = new Map<number, SubsetOutput>();
  private readonly pending = new Map<string, Pending>();
  private readonly delivered = new Map<string, number>();
  private readonly deliveredByEpoch: string[][] = [];
  /** Highest ABA round reached in any epoch (metrics). */
  maxAbaRound = 0;

  constructor(
    private readonly ctx: ProtocolContext,
    readonly tag: string = 'ab',
    readonly config: AbConfig = DEFAULT_AB_CONFIG,
  ) {}

  get terminated(): boolean {
    return false;
  }

  get currentEpoch(): number {
    return this.epoch;
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  /** Whether a new request would be accepted now (for the adapter's 503). */
  get acceptsRequests(): boolean {
    return this.pending.size < this.config.maxPending;
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
    if (msg.tag === this.tag) {
      if (msg.body.t !== 'ab-requests') return step.fault(from, msg.tag, 'unexpected', `message ${msg.body.t} at ${this.tag}`);
      const reqs = msg.body.requests;
      if (!Array.isArray(reqs) || reqs.length > this.config.maxBatch) return step.fault(from, msg.tag, 'malformed', 'forwarded requests');
      for (const r of reqs) {
        if (!isBytes(r) || r.length > this.config.maxRequestBytes) return step.fault(from, msg.tag, 'malformed', 'forwarded request');
      }
      for (const r of reqs) this.addPending(r);
      this.maybeStart(step);
      return step;
    }
    const parts = msg.tag.slice(this.tag.length + 1).split('/');
    if (!msg.tag.startsWith(this.tag + '/') || parts.length < 2 || !/^\d{1,9}$/.test(parts[0]!)) {
      return step.fault(from, msg.tag, 'malformed', 'tag outside atomic broadcast');
    }
    const e = Number(parts[0]);
    if (e > this.epoch + this.config.epochWindow) {
      step.deferred = true;
      return step;
    }
    const inst = this.instance(e);
    if (!inst) return step; // garbage-collected epoch: everyone still running it has our messages
    this.routeEpoch(step, e, inst.handleMessage(from, msg));
    this.maybeStart(step);
    return step;
  }

  private instance(e: number): CommonSubset | null {
    if (e + this.config.keepEpochs < this.epoch) return null;
    let inst = this.instances.get(e);
    if (!inst) {
      const validate = (v: Uint8Array) => decodeBatch(v, this.config.maxBatch, this.config.maxRequestBytes) !== null;
      inst = new CommonSubset(this.ctx, `${this.tag}/${e}`, validate);
      this.instances.set(e, inst);
    }
    return inst;
  }

  private routeEpoch(step: Step<AbDelivery>, e: number, child: Step<SubsetOutput>): void {
    step.absorb(child, (out) => {
      this.finished.set(e, out);
      this.deliverReady(step);
    });
  }

  private addPending(request: Uint8Array): void {
    const d = hexKey(sha256(request));
    if (this.pending.has(d) || this.delivered.has(d) || this.pending.size >= this.config.maxPending) return;
    this.pending.set(d, { request, since: this.epoch, forwarded: false });
  }

  /** Propose in the current epoch once there is something to order or a peer has started it. */
  private maybeStart(step: Step<AbDelivery>): void {
    const e = this.epoch;
    if (this.proposed.has(e) || this.finished.has(e)) return;
    if (this.pending.size === 0 && !this.instances.has(e)) return;
    const inst = this.instance(e)!;
    this.proposed.add(e);
    const batch: Uint8Array[] = [];
    for (const p of this.pending.values()) {
      if (batch.length >= this.config.maxBatch) break;
      batch.push(p.request);
    }
    this.routeEpoch(step, e, inst.handleInput(encodeBatch(batch)));
  }

  private deliverReady(step: Step<AbDelivery>): void {
    for (let out = this.finished.get(this.epoch); out; out = this.finished.get(this.epoch)) {
      const e = this.epoch;
      const requests: Uint8Array[] = [];
      const digests: string[] = [];
      const proposers = [...out.keys()].sort((a, b) => a - b);
      for (const j of proposers) {
        for (const r of decodeBatch(out.get(j)!.value, this.config.maxBatch, this.config.maxRequestBytes) ?? []) {
          const d = hexKey(sha256(r));
          if (this.delivered.has(d)) continue;
          this.delivered.set(d, e);
          digests.push(d);
          this.pending.delete(d);
          requests.push(r.slice());
        }
      }
      this.deliveredByEpoch.push(digests);
      this.maxAbaRound = Math.max(this.maxAbaRound, this.instances.get(e)?.maxAbaRound ?? 0);
      step.output({ epoch: e, requests, proposers });
      this.epoch = e + 1;
      this.collectGarbage();
      this.forwardStale(step);
    }
    this.maybeStart(step);
  }

  private forwardStale(step: Step<AbDelivery>): void {
    const stale: Uint8Array[] = [];
    for (const p of this.pending.values()) {
      if (!p.forwarded && p.since + this.config.forwardAfter <= this.epoch) {
        p.forwarded = true;
        stale.push(p.request);
        if (stale.length >= this.config.maxBatch) break;
      }
    }
    if (stale.length > 0) step.broadcast({ tag: this.tag, body: { t: 'ab-requests', requests: stale } });
  }

  private collectGarbage(): void {
    for (const e of this.instances.keys()) {
      if (e + this.config.keepEpochs < this.epoch) {
        this.instances.delete(e);
        this.finished.delete(e);
        this.proposed.delete(e);
      }
    }
    while (this.deliveredByEpoch.length > this.config.dedupEpochs) {
      for (const d of this.deliveredByEpoch.shift()!) this.delivered.delete(d);
    }
  }
}
