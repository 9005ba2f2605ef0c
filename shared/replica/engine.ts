/**
 * The replica engine (DESIGN.md section 3): everything a replica does, as one deterministic state machine
 * that runtime adapters (workers/) drive. It owns the protocol instances (atomic broadcast for ordering,
 * the checkpoint certifier), the append-only Merkle log and the request index, and it turns each event
 * (a client request, or one authenticated peer message) into an EngineStep: messages for peers, log
 * entries appended, checkpoints certified, faults observed.
 *
 * Determinism is what makes persistence simple: the engine's state is a function of the sequence of
 * accepted events, so an adapter persists each accepted event in its journal in the same atomic write as
 * the step's outgoing messages (persist before send), and after a restart replays the journal with
 * sending suppressed. Replayed steps regenerate exactly the messages already in the outbox (threshold
 * signature shares and decryption shares are deterministic), so a restarted replica never signs, votes or
 * proposes twice differently for one tag; `replay` also checks that the log comes out identical.
 *
 * Messages a replica addresses to itself ('all' includes the sender) are handled inside the same event,
 * so the journal only holds events from outside.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { toHex } from '../crypto/bytes.ts';
import type { ProtocolContext } from '../protocols/context.ts';
import { AtomicBroadcast, DEFAULT_AB_CONFIG } from '../protocols/ab.ts';
import type { AbConfig, AbDelivery } from '../protocols/ab.ts';
import { CheckpointCertifier } from '../protocols/checkpoint.ts';
import type { CertifierState } from '../protocols/checkpoint.ts';
import { decodeState, encodeState } from './state-codec.ts';
import type { Message } from '../protocols/messages.ts';
import type { Fault, Step } from '../protocols/step.ts';
import type { SignedCheckpoint } from '../log/checkpoint.ts';
import { leafHash } from '../log/merkle.ts';
import { MerkleLog } from '../log/merkle-log.ts';

export interface LogAppend {
  readonly index: number;
  /** Hex SHA-256 of the request: the id clients use. */
  readonly id: string;
  readonly epoch: number;
  readonly entry: Uint8Array;
}

export interface EngineStep {
  /** Messages for other replicas, in order. */
  readonly outgoing: { readonly to: number; readonly msg: Message }[];
  readonly appended: LogAppend[];
  readonly checkpoints: SignedCheckpoint[];
  readonly faults: Fault[];
  /**
   * The event was not accepted yet (a message for an instance beyond the bounded window): nothing changed,
   * it must not be journaled or acknowledged, and the sender retries it later.
   */
  readonly deferred: boolean;
}

export type EngineEvent = { readonly kind: 'submit'; readonly request: Uint8Array } | { readonly kind: 'peer'; readonly from: number; readonly msg: Message };

export type SubmitRefusal = { readonly code: 'too-large'; readonly message: string } | { readonly code: 'overloaded'; readonly message: string };

export interface EngineOptions {
  readonly ab?: Partial<AbConfig>;
}

export interface EngineMetrics {
  readonly epoch: number;
  readonly logSize: number;
  readonly pending: number;
  readonly checkpoint: { readonly epoch: number; readonly size: number } | null;
  readonly maxAbaRound: number;
  readonly faultsByPeer: Readonly<Record<number, number>>;
  readonly events: number;
}

export function requestId(request: Uint8Array): string {
  return toHex(sha256(request));
}

/** A log entry as storage keeps it (restoring from a snapshot rebuilds the Merkle log from these). */
export interface LogRecord {
  readonly id: string;
  readonly epoch: number;
  readonly entry: Uint8Array;
}

export class SnapshotError extends Error {
  override readonly name = 'SnapshotError';
}

export class ReplicaEngine {
  private abInstance: AtomicBroadcast;
  private certifier: CheckpointCertifier;
  readonly log = new MerkleLog();
  private readonly index = new Map<string, number>();
  private readonly epochOfIndex: number[] = [];
  /** Signed checkpoints by epoch, in order; the last one is the latest. */
  private readonly signed: SignedCheckpoint[] = [];
  private readonly faultCounts = new Map<number, number>();
  private events = 0;

  constructor(
    readonly ctx: ProtocolContext,
    options: EngineOptions = {},
  ) {
    this.abInstance = new AtomicBroadcast(ctx, 'ab', { ...DEFAULT_AB_CONFIG, ...options.ab });
    this.certifier = new CheckpointCertifier(ctx);
  }

  get ab(): AtomicBroadcast {
    return this.abInstance;
  }

  /**
   * The engine's state as bytes (compaction): atomic broadcast (its inter-epoch state and the live epochs'
   * inputs and messages, from which their instances are rebuilt), the checkpoint certifier, counters. The
   * log itself is not included: storage keeps it, and restore() rebuilds the Merkle tree from it.
   */
  snapshot(): Uint8Array {
    return encodeState({
      v: 1,
      ab: this.abInstance.snapshot(),
      certifier: this.certifier.snapshot(),
      faults: this.faultCounts,
      events: this.events,
      logSize: this.log.size,
    });
  }

  /** An engine in exactly the state snapshot() captured, given the log and checkpoints storage kept. */
  static restore(ctx: ProtocolContext, options: EngineOptions, snapshot: Uint8Array, log: readonly LogRecord[], checkpoints: readonly SignedCheckpoint[]): ReplicaEngine {
    const s = decodeState(snapshot) as Record<string, unknown>;
    if (s['v'] !== 1) throw new SnapshotError(`unknown snapshot version ${String(s['v'])}`);
    const e = new ReplicaEngine(ctx, options);
    e.abInstance = AtomicBroadcast.restore(ctx, 'ab', e.abInstance.config, s['ab'] as never);
    e.certifier = CheckpointCertifier.restore(ctx, s['certifier'] as unknown as CertifierState);
    if (log.length < (s['logSize'] as number)) throw new SnapshotError(`the snapshot needs ${String(s['logSize'])} log entries, storage has ${log.length}`);
    for (const r of log.slice(0, s['logSize'] as number)) {
      const index = e.log.append(leafHash(r.entry));
      e.index.set(r.id, index);
      e.epochOfIndex.push(r.epoch);
    }
    e.signed.push(...[...checkpoints].filter((c) => c.size <= e.log.size).sort((a, b) => a.epoch - b.epoch));
    for (const [peer, count] of s['faults'] as Map<number, number>) e.faultCounts.set(peer, count);
    e.events = s['events'] as number;
    return e;
  }

  /** Whether a request (by id) is waiting in this replica's atomic broadcast queue. */
  isPending(id: string): boolean {
    return this.abInstance.isPending(id);
  }

  get me(): number {
    return this.ctx.me;
  }

  /** Why a request would be refused now, or null if submit() would take it. */
  refusal(request: Uint8Array): SubmitRefusal | null {
    if (request.length > this.ab.config.maxRequestBytes) {
      return { code: 'too-large', message: `request of ${request.length} bytes > ${this.ab.config.maxRequestBytes}` };
    }
    if (!this.ab.acceptsRequests) return { code: 'overloaded', message: `${this.ab.pendingCount} requests are pending; try again later` };
    return null;
  }

  handle(event: EngineEvent): EngineStep {
    return event.kind === 'submit' ? this.submit(event.request) : this.receive(event.from, event.msg);
  }

  submit(request: Uint8Array): EngineStep {
    const out = emptyStep();
    this.events++;
    this.absorbAb(out, this.abInstance.handleInput(request));
    return out;
  }

  receive(from: number, msg: Message): EngineStep {
    const out = emptyStep();
    if (from === this.me || !Number.isInteger(from) || from < 0 || from >= this.ctx.n) {
      out.faults.push({ peer: from, tag: msg.tag, kind: 'unexpected', detail: 'sender is not a peer' });
      return out;
    }
    const step = this.route(from, msg, out);
    if (step?.deferred) return { ...emptyStep(), deferred: true };
    this.events++;
    return out;
  }

  private route(from: number, msg: Message, out: MutableStep): Step<unknown> | null {
    const tag = msg.tag;
    if (tag === 'ab' || tag.startsWith('ab/')) {
      const s = this.abInstance.handleMessage(from, msg);
      if (s.deferred) return s;
      this.absorbAb(out, s);
      return s;
    }
    if (tag.startsWith('ckpt/')) {
      const s = this.certifier.handleMessage(from, msg);
      if (s.deferred) return s;
      this.absorbCertifier(out, s);
      return s;
    }
    out.faults.push({ peer: from, tag, kind: 'malformed', detail: 'tag of no protocol' });
    this.countFault(from);
    return null;
  }

  private absorbAb(out: MutableStep, s: Step<AbDelivery>): void {
    this.takeMessagesAndFaults(out, s);
    for (const d of s.outputs) {
      for (const entry of d.requests) {
        const id = requestId(entry);
        // Atomic broadcast forgets delivered requests after its de-duplication window; the log does not.
        if (this.index.has(id)) continue;
        const index = this.log.append(leafHash(entry));
        this.index.set(id, index);
        this.epochOfIndex.push(d.epoch);
        out.appended.push({ index, id, epoch: d.epoch, entry });
      }
      const size = this.log.size;
      const root = this.log.root();
      this.absorbCertifier(out, this.certifier.handleInput({ size, root, epoch: d.epoch, stateDigest: root }));
    }
  }

  private absorbCertifier(out: MutableStep, s: Step<SignedCheckpoint>): void {
    this.takeMessagesAndFaults(out, s);
    for (const c of s.outputs) {
      this.signed.push(c);
      out.checkpoints.push(c);
    }
  }

  /** Peers' messages go out; our own are handled right away, in order. */
  private takeMessagesAndFaults(out: MutableStep, s: Step<unknown>): void {
    for (const f of s.faults) {
      out.faults.push(f);
      this.countFault(f.peer);
    }
    for (const o of s.messages) {
      if (o.to === 'all') {
        for (let j = 0; j < this.ctx.n; j++) if (j !== this.me) out.outgoing.push({ to: j, msg: o.msg });
        this.route(this.me, o.msg, out);
      } else if (o.to === this.me) {
        this.route(this.me, o.msg, out);
      } else {
        out.outgoing.push({ to: o.to, msg: o.msg });
      }
    }
  }

  private countFault(peer: number): void {
    this.faultCounts.set(peer, (this.faultCounts.get(peer) ?? 0) + 1);
  }

  // ---- queries (adapters answer clients from these and from their storage)

  /** Log position of a delivered request. */
  indexOf(id: string): number | undefined {
    return this.index.get(id);
  }

  epochOf(index: number): number | undefined {
    return this.epochOfIndex[index];
  }

  get latestCheckpoint(): SignedCheckpoint | null {
    return this.signed[this.signed.length - 1] ?? null;
  }

  /** The earliest signed checkpoint that covers log position `index`. */
  checkpointCovering(index: number): SignedCheckpoint | null {
    let lo = 0;
    let hi = this.signed.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.signed[mid]!.size > index) hi = mid;
      else lo = mid + 1;
    }
    return this.signed[lo] ?? null;
  }

  checkpointAt(size: number): SignedCheckpoint | null {
    return this.signed.find((c) => c.size === size) ?? null;
  }

  metrics(): EngineMetrics {
    const last = this.latestCheckpoint;
    return {
      epoch: this.ab.currentEpoch,
      logSize: this.log.size,
      pending: this.ab.pendingCount,
      checkpoint: last ? { epoch: last.epoch, size: last.size } : null,
      maxAbaRound: this.ab.maxAbaRound,
      faultsByPeer: Object.fromEntries(this.faultCounts),
      events: this.events,
    };
  }
}

type MutableStep = { -readonly [K in keyof EngineStep]: EngineStep[K] };

function emptyStep(): MutableStep {
  return { outgoing: [], appended: [], checkpoints: [], faults: [], deferred: false };
}
