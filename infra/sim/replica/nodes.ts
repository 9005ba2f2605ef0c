/**
 * The replicas of a whole-replica simulation. An honest replica is the real thing minus the runtime: the
 * I/O-free host core (shared/replica/host-core.ts: engine, outbox, links, journal, compaction, restore) over
 * MemoryStorage, driven the way the adapters drive it (commit, then apply; reload after a failed write).
 * A corrupted replica holds the real keys of its slot and runs an honest engine inside (so it knows what an
 * honest replica would say) whose messages a behaviour rewrites, plus a fuzzer; it speaks the real link
 * protocol (authentic frames, sequence numbers, acknowledgements) so its messages reach honest engines.
 */
import type { Group, ReplicaSecrets } from '../../../shared/config/group.ts';
import { CodecError, encodeMessage } from '../../../shared/codec/message-codec.ts';
import { checkFrame, decodeFrame, LinkReceiver, LinkSender, linkPeers } from '../../../shared/link/index.ts';
import type { LinkPeer } from '../../../shared/link/index.ts';
import type { Message } from '../../../shared/protocols/messages.ts';
import type { Fault } from '../../../shared/protocols/step.ts';
import { ReplicaEngine } from '../../../shared/replica/engine.ts';
import type { EngineOptions } from '../../../shared/replica/engine.ts';
import { HostCore } from '../../../shared/replica/host-core.ts';
import type { FrameResponse, HostCoreOptions, OutgoingFrame, PendingCommit } from '../../../shared/replica/host-core.ts';
import { MemoryStorage } from '../../../shared/replica/storage.ts';
import { decodeTransport, encodeTransport, TransportError } from '../../../shared/replica/transport.ts';
import { makeRejoinReport } from '../../../shared/replica/rejoin.ts';
import type { RejoinReportJson } from '../../../shared/replica/rejoin.ts';
import type { SignedCheckpoint } from '../../../shared/log/checkpoint.ts';
import type { Behaviour } from '../byzantine.ts';
import type { Rng } from '../rng.ts';
import type { Fuzzer } from './fuzz.ts';
import type { SimGroup } from './group.ts';
import { invariant } from '../../../shared/invariant/index.ts';
import { bytesEqual } from '../../../shared/crypto/bytes.ts';

/** A POST's answer as the sender sees it: an HTTP response, or a transport error (refused, reset). */
export type PostAnswer = { readonly status: number; readonly body: unknown } | { readonly error: string };

/** How a storage write ended. */
export type CommitOutcome = 'written' | 'failed' | 'crashed-before' | 'crashed-after';

/** The adversary's storage faults for one commit (decided by the simulation). */
export type CommitFault = 'none' | 'fail' | 'crash-before' | 'crash-after';

export interface NodeHooks {
  /** Decides what happens to the next storage write of this node. */
  commitFault(node: HonestNode): CommitFault;
  /** An exception from the core (a broken invariant, or a bug): a safety violation. */
  threw(node: HonestNode, what: string, e: unknown): void;
  faults(node: HonestNode, faults: readonly Fault[]): void;
  /** Every write, as it lands (the simulation keeps every signed checkpoint ever stored, as clients do). */
  wrote?(node: HonestNode, batch: PendingCommit['batch']): void;
  /** The node's wall clock now (ms since 1970): what its proposals say the time is. */
  clock(node: HonestNode): number;
}

/** An honest replica: storage that survives crashes, and a core that does not. */
export class HonestNode {
  storage = new MemoryStorage();
  /** Copies of storage taken now and then, for a rollback (storage going back in time). */
  private readonly past: MemoryStorage[] = [];
  /** The adversary may roll this replica's storage back once (it then counts as faulty). */
  rollsBack = false;
  rolledBack = false;
  /** It rolled back, found out, and rejoined (active again from a signed checkpoint past its passive bound). */
  rejoined = false;
  /** Its rejoin was refused: its log diverged before it found out (it was faulty then), so no transfer fits it. */
  rejoinRefused = false;
  /** The last epoch it spoke in before it rejoined (the simulation watches what it sends). */
  spokeUpTo = -1;
  private commits = 0;
  core: HostCore | null = null;
  up = true;
  /** Bumped at every crash and reload: answers to POSTs of an earlier core are not for this one. */
  incarnation = 0;
  /** POSTs in flight per peer: the frame and the network's id for it. */
  readonly inFlight = new Map<number, { readonly frame: OutgoingFrame; readonly post: number; readonly incarnation: number }>();
  crashes = 0;
  storageFailures = 0;
  maxRetainedBytes = 0;
  maxOutboxBytes = 0;

  constructor(
    readonly index: number,
    readonly kind: 'honest' | 'twin',
    /** A twin's copy number (0 or 1): which side of the honest replicas it talks to. */
    readonly copy: number,
    readonly sim: SimGroup,
    private readonly options: HostCoreOptions,
    private readonly hooks: NodeHooks,
  ) {}

  get secrets(): ReplicaSecrets {
    return this.sim.secrets[this.index]!;
  }

  /**
   * Whether request `id` (or an encrypted request's ciphertext id) is in the log under a signed
   * checkpoint, as the replica's status route would say: the id's position from the engine's recent window
   * or storage's index (or the ciphertext's outcome), and storage's earliest checkpoint covering it.
   */
  certified(id: string): boolean {
    const core = this.core;
    if (!core) return false;
    let index = core.engine.recentIndexOf(id) ?? this.storage.indexOfId(id);
    if (index === undefined || index >= core.engine.log.size) {
      const o = core.engine.ciphertextOutcome(id);
      if (o?.state !== 'delivered') return false;
      index = o.index;
    }
    return this.storage.checkpointCovering(index) !== null;
  }

  /** The core, loaded from storage if needed (as the adapter does before every event); null if that throws. */
  ensureCore(): HostCore | null {
    if (!this.up) return null;
    if (this.core) return this.core;
    try {
      const state = this.storage.load();
      this.core = new HostCore(this.sim.group, this.secrets, state, {
        ...this.options,
        // Every replica of a simulated group starts as a new group (a restart has storage already).
        bootstrap: true,
        context: this.sim.context(this.index),
        onFaults: (f) => this.hooks.faults(this, f),
      }, this.sim.decryptor(this.index));
      this.incarnation++;
      this.inFlight.clear();
    } catch (e) {
      this.hooks.threw(this, 'load', e);
      return null;
    }
    // Epochs delivered before a crash and not executed then (as the adapters do after a load).
    this.executeAwaiting();
    return this.core;
  }

  /**
   * The execution stage as the adapters run it after every written commit (workers/core/host.ts
   * executeAwaiting): reads from storage what the core asks for, writes each execution's commit with
   * the adversary's fault for it (a crash between an epoch's delivery and its execution, or during it).
   */
  private executeAwaiting(): void {
    let input: Parameters<HostCore['execute']>[0] = {};
    for (;;) {
      const core = this.core;
      if (!core) return;
      let r: ReturnType<HostCore['execute']>;
      try {
        r = core.execute(input);
      } catch (e) {
        this.hooks.threw(this, 'execute', e);
        this.core = null;
        return;
      }
      if (r === null) return;
      if ('commit' in r) {
        if (this.write(r.commit) !== 'written') return;
        input = {};
      } else if (r.need === 'entries') {
        input = { entries: this.storage.entries(r.start, r.end) };
      } else {
        input = { values: this.storage.readAppKeys(r.keys) };
      }
    }
  }

  /**
   * Storage goes back to an older copy (Redis restarted from an older snapshot, an asynchronous failover):
   * what was written since is gone, though peers hold its effects. Only while down.
   */
  rollBack(pick: (n: number) => number): boolean {
    if (this.up || !this.rollsBack || this.rolledBack || this.past.length === 0) return false;
    this.restoreStorage(this.past[pick(this.past.length)]!);
    return true;
  }

  /** Storage replaced by a copy of an older one (while down). */
  restoreStorage(older: MemoryStorage): void {
    this.storage = older.clone();
    this.rolledBack = true;
  }

  crash(): void {
    this.up = false;
    this.core = null;
    this.inFlight.clear();
    this.incarnation++;
    this.crashes++;
  }

  restart(): void {
    this.up = true;
    this.ensureCore();
  }

  /** Writes a pending commit the way an adapter does, with the adversary's fault for it, then executes what it delivered. */
  commit(c: PendingCommit | null): CommitOutcome {
    const outcome = this.write(c);
    if (outcome === 'written' && c) this.executeAwaiting();
    return outcome;
  }

  private write(c: PendingCommit | null): CommitOutcome {
    if (!c) return 'written';
    const fault = this.hooks.commitFault(this);
    if (fault === 'crash-before') {
      // A crash before the write, or during it on a backend that can tear a write (the file store drops a
      // torn last record on load): nothing of it is stored.
      this.crash();
      return 'crashed-before';
    }
    if (fault === 'fail') {
      // The write failed: the adapter marks itself stale and loads a new core before the next event.
      this.storageFailures++;
      this.core = null;
      this.inFlight.clear();
      return 'failed';
    }
    this.storage.commit(c.batch);
    if (c.batch.snapshot) this.checkSnapshotParts();
    this.hooks.wrote?.(this, c.batch);
    if (this.rollsBack && !this.rolledBack && ++this.commits % 10 === 0) {
      this.past.push(this.storage.clone());
      if (this.past.length > 3) this.past.shift();
    }
    if (fault === 'crash-after') {
      this.crash();
      return 'crashed-after';
    }
    c.apply();
    this.observeMemory();
    return 'written';
  }

  /**
   * Compaction writes only the snapshot parts storage does not hold, trusting that a part never changes once
   * made (engine.ts snapshotState): the stored parts must be exactly those a full snapshot makes now.
   */
  private checkSnapshotParts(): void {
    const core = this.core;
    if (!core) return;
    const full = core.engine.snapshotState();
    const stored = this.storage.snapshotParts;
    invariant(stored.size === full.keys.size && [...full.keys].every((k) => stored.has(k)), () => `replica ${this.index}: stored snapshot parts ${[...stored.keys()].join(',')} are not the engine's ${[...full.keys].join(',')}`);
    for (const [k, v] of full.parts) invariant(bytesEqual(stored.get(k)!, v), () => `replica ${this.index}: snapshot part ${k} changed after it was stored`);
  }

  private observeMemory(): void {
    const core = this.core;
    if (!core) return;
    this.maxRetainedBytes = Math.max(this.maxRetainedBytes, core.engine.retainedBytes());
    this.maxOutboxBytes = Math.max(this.maxOutboxBytes, core.outboxBytes().reduce((a, b) => a + b, 0));
  }

  /** A peer's POST: the response to send back, or null if this node crashed on it (the sender times out). */
  receivePost(bytes: Uint8Array): PostAnswer | null {
    const core = this.ensureCore();
    if (!core) return this.up ? { status: 503, body: { error: { code: 'storage-unavailable', message: 'loading' } } } : null;
    let r: { response: FrameResponse; commit: PendingCommit | null };
    try {
      r = core.receiveFrame(bytes, this.hooks.clock(this));
    } catch (e) {
      this.hooks.threw(this, 'receiveFrame', e);
      this.core = null;
      return { status: 500, body: null };
    }
    const outcome = this.commit(r.commit);
    if (outcome === 'written') return r.response;
    if (outcome === 'failed') return { status: 503, body: { error: { code: 'storage-unavailable', message: 'write failed' } } };
    return null;
  }
}

/** A corrupted replica's view of the links: real keys, its own sequence numbers and outboxes. */
export class ByzantineNode {
  readonly up = true;
  readonly engine: ReplicaEngine;
  private readonly peers: readonly (LinkPeer | undefined)[];
  private readonly senders: (LinkSender | undefined)[];
  private readonly receivers: (LinkReceiver | undefined)[];
  /** Per peer: messages (or raw junk bytes) waiting to be sent, in order. */
  readonly outbox: Uint8Array[][];
  private readonly nextId: number[];
  readonly inFlight = new Map<number, { readonly post: number; readonly seq: number; readonly sender: LinkSender }>();
  sent = 0;

  constructor(
    readonly index: number,
    readonly behaviourName: string,
    group: Group,
    secrets: ReplicaSecrets,
    sim: SimGroup,
    engineOptions: EngineOptions,
    readonly behaviour: Behaviour,
    readonly fuzzer: Fuzzer | null,
    private readonly rng: Rng,
    /** Most messages it may send in a run (keeps fuzzing runs bounded). */
    private readonly budget: number,
    /** What its proposals say the time is, for the whole run (a corrupted clock: hours off, or zero). */
    clock: number,
  ) {
    this.engine = new ReplicaEngine(sim.context(index), engineOptions, sim.decryptor(index));
    this.engine.setClock(clock);
    this.peers = linkPeers(group, secrets);
    this.senders = this.peers.map((p) => (p ? LinkSender.create(p.outgoing) : undefined));
    this.receivers = this.peers.map((p) => (p ? LinkReceiver.create(p.incoming) : undefined));
    this.outbox = group.replicas.map(() => []);
    this.nextId = group.replicas.map(() => 1);
  }

  /** A report for a replica that rejoins, MAC'd with this replica's real link key: it may say anything. */
  rejoinReport(to: number, nonce: Uint8Array, epoch: number, checkpoint: SignedCheckpoint | null): RejoinReportJson {
    return makeRejoinReport(this.peers[to]!.outgoing, nonce, epoch, checkpoint);
  }

  get silent(): boolean {
    return this.behaviourName === 'silent';
  }

  /** Queues a message for a peer (encoded; one the codec refuses goes out as junk bytes, so frames carry it raw). */
  enqueue(to: number, msg: Message): void {
    if (to === this.index || to < 0 || to >= this.outbox.length || this.sent >= this.budget) return;
    let bytes: Uint8Array;
    try {
      bytes = encodeMessage(msg);
    } catch (e) {
      if (!(e instanceof CodecError)) throw e;
      bytes = this.rng.bytes(1 + this.rng.int(40));
    }
    this.outbox[to]!.push(bytes);
    this.sent++;
  }

  /** Runs the inner engine on an event and sends (through the behaviour) what an honest replica would. */
  handle(ev: Parameters<ReplicaEngine['handle']>[0]): void {
    let step;
    try {
      step = this.engine.handle(ev);
    } catch {
      return; // the inner engine is only a source of plausible messages
    }
    for (const o of step.outgoing) for (const t of this.behaviour.transform({ to: o.to, msg: o.msg })) this.route(t.to, t.msg);
    if (ev.kind === 'peer') this.fuzzer?.observe(ev.msg);
  }

  private route(to: number | 'all', msg: Message): void {
    if (to === 'all') for (let j = 0; j < this.outbox.length; j++) this.enqueue(j, msg);
    else this.enqueue(to, msg);
  }

  /** Fuzzed messages to a random subset of the peers. */
  fuzz(k: number): void {
    if (!this.fuzzer) return;
    for (let i = 0; i < k; i++) {
      const m = this.fuzzer.message();
      const n = this.outbox.length;
      if (this.rng.chance(0.5)) this.route('all', m);
      else for (const j of this.rng.sample(Array.from({ length: n }, (_, x) => x), 1 + this.rng.int(n))) this.enqueue(j, m);
    }
  }

  /** A POST from an honest replica: the link layer checks it; the messages go to the inner engine. */
  receivePost(bytes: Uint8Array): PostAnswer | null {
    if (this.silent) return null;
    const v = checkFrame(bytes, this.receivers);
    if (!v.ok) {
      // Like an honest receiver: a replayed or early frame gets our ack, so the sender can resynchronize.
      const resync = v.code === 'replay' || v.code === 'ahead';
      const d = decodeFrame(bytes);
      const r = resync && d.ok ? this.receivers[d.frame.sender] : undefined;
      return { status: resync ? 409 : 400, body: { error: { code: `link-${v.code}`, message: v.message }, ...(r ? { ack: r.contiguousAck } : {}) } };
    }
    this.receivers[v.sender] = this.receivers[v.sender]!.commit(v.seq);
    let items: { id: number; msg: Message }[];
    try {
      items = decodeTransport(v.payload).items;
    } catch (e) {
      if (!(e instanceof TransportError)) throw e;
      return { status: 400, body: null };
    }
    for (const { msg } of items) {
      this.behaviour.observe?.(v.sender, msg);
      this.handle({ kind: 'peer', from: v.sender, msg });
    }
    // Usually an honest acknowledgement; sometimes a lie (ids never sent, nothing, junk).
    const ids = items.map((x) => x.id);
    const lie = this.fuzzer && this.rng.chance(0.05);
    if (lie) return this.rng.pick<PostAnswer>([{ status: 200, body: { accepted: [1e9], deferred: ids } }, { status: 200, body: 'junk' }, { status: 500, body: null }]);
    return { status: 200, body: { accepted: ids, deferred: [] } };
  }

  /** The next frame for peer j: up to 64 waiting messages with fresh ids, or null. */
  outgoingFrame(j: number): { bytes: Uint8Array; seq: number; sender: LinkSender } | null {
    const queue = this.outbox[j]!;
    const s = this.senders[j];
    if (!s || queue.length === 0 || this.inFlight.has(j) || !s.windowOpen) return null;
    const picked = queue.splice(0, 64);
    const items = picked.map((bytes) => ({ id: this.nextId[j]!++, bytes }));
    const { seq, sender } = s.allocate();
    return { bytes: sender.seal(seq, encodeTransport(items), this.receivers[j]!.contiguousAck), seq, sender };
  }

  /** The peer's answer to our frame: adopt the sequence number, or resynchronize on replay/ahead. */
  answered(j: number, seq: number, sender: LinkSender, a: PostAnswer): void {
    if ('error' in a) return;
    if (a.status === 200) {
      const r = sender.acknowledge(seq);
      this.senders[j] = r.ok ? r.sender : sender;
      return;
    }
    const b = a.body as { ack?: unknown } | null;
    if (a.status === 409 && Number.isSafeInteger(b?.ack)) {
      const next = Math.max(sender.next, (b!.ack as number) + 1);
      this.senders[j] = LinkSender.fromJSON(this.peers[j]!.outgoing, { next, peerAck: next - 1 });
    }
  }
}
