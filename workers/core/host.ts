/**
 * The replica host: runtime-neutral glue between the deterministic engine (shared/replica) and a runtime's
 * storage, transport and clock. It contains no protocol logic; it enforces the rules that make the
 * protocols' assumptions true on real machines:
 *
 * - Persist before send: an event's effects (journal entry, outbox messages, log entries, checkpoints,
 *   inbox ids) are committed in one atomic write before any of its messages may leave. After a restart the
 *   journal is replayed into a fresh engine with sending suppressed (engine.ts explains why that cannot
 *   sign or vote twice differently), and the outbox is reloaded.
 * - Reliable links: outbox messages carry per-link ids and stay until the peer acknowledges them; the peer
 *   drops copies it already applied (inbox ids) and tells which ones it deferred; retries back off.
 * - One event at a time: events are serialized (a promise chain), so the journal order is the engine's order
 *   even on runtimes whose storage writes are asynchronous.
 * - A failed write leaves the in-memory engine ahead of storage: the host marks itself stale and rebuilds
 *   from storage before the next event; nothing of the failed event was sent or acknowledged.
 */
import { toHex } from '../../shared/crypto/bytes.ts';
import { ConfigError } from '../../shared/config/group.ts';
import type { Group, ReplicaSecrets } from '../../shared/config/group.ts';
import type { SignedCheckpoint } from '../../shared/log/checkpoint.ts';
import type { Receipt } from '../../shared/log/checkpoint.ts';
import type { EngineEvent, EngineMetrics, EngineOptions, EngineStep, SubmitRefusal } from '../../shared/replica/engine.ts';
import { ReplicaEngine, requestId } from '../../shared/replica/engine.ts';
import { contextFromConfig, decryptorFromConfig } from '../../shared/replica/from-config.ts';
import type { ThresholdDecryptor } from '../../shared/protocols/crypto-suite.ts';
import { decodeEvent, encodeEvent } from '../../shared/replica/journal.ts';
import { decodeTransport, encodeMessage, encodeTransport, TransportError } from '../../shared/replica/transport.ts';
import type { TransportAck } from '../../shared/replica/transport.ts';
import { checkFrame, decodeFrame, LinkReceiver, LinkSender, linkPeers } from '../../shared/link/index.ts';
import type { LinkPeer } from '../../shared/link/index.ts';
import { standardApps } from '../../shared/app/index.ts';
import type { ReplicatedApp } from '../../shared/app/types.ts';
import type { AppDigest } from '../../shared/app/state.ts';
import { useNativeSha256 } from './native-sha256.ts';
import { emptyBatch } from './store.ts';
import type { InboxState, ReplicaStore, StoredEntry, StoredOutboxMessage } from './store.ts';

export interface PeerTransport {
  /** POSTs a frame to peer `to`; resolves with the HTTP status and JSON body, rejects on network errors. */
  post(to: number, frame: Uint8Array): Promise<{ readonly status: number; readonly body: unknown }>;
}

export interface HostOptions {
  readonly engine?: EngineOptions;
  /**
   * The replicated applications (DESIGN.md section 5), as a factory: the host builds a new engine on every
   * load (start, rebuild after a failed write), and each engine rebuilds its applications' state from the
   * log. Default: shared/app standardApps(group), so that every runtime of a group runs the same list (their
   * digests are signed with each checkpoint); `() => []` runs the plain ordering service.
   */
  readonly apps?: () => readonly ReplicatedApp[];
  /** Concurrent outgoing requests in all (Workers allow 6 connections per event). */
  readonly maxConcurrentPosts?: number;
  /** Largest transport payload per POST. */
  readonly maxPostBytes?: number;
  readonly maxPostMessages?: number;
  /** Retry delays (ms) after a failed POST: doubles from min up to max. */
  readonly retryMinMs?: number;
  readonly retryMaxMs?: number;
  /** Delay before retrying messages the peer deferred. */
  readonly deferRetryMs?: number;
  /** Journal events after which the next epoch delivery writes a snapshot and drops the journal. */
  readonly compactAfter?: number;
  readonly log?: (line: string) => void;
}

export type HostError = { readonly status: number; readonly code: string; readonly message: string };

export type SubmitResult =
  | { readonly ok: true; readonly id: string; readonly status: 'pending' | 'ordered'; readonly index?: number }
  | { readonly ok: false; readonly error: HostError };

/**
 * A request's status by id. For an encrypted request the id is the SHA-256 of its ciphertext: 'pending'
 * (queued), 'decrypting' (its position is fixed, shares are being collected), then the plaintext's status
 * with `plaintextId`, or 'skipped' (valid but not decryptable with the group key: no position).
 */
export type RequestStatus =
  | { readonly id: string; readonly status: 'pending' | 'decrypting' | 'skipped' }
  | {
      readonly id: string;
      readonly status: 'ordered' | 'certified';
      readonly index: number;
      readonly epoch: number;
      readonly checkpoint: SignedCheckpoint | null;
      /** Set when `id` names a ciphertext: the id of its plaintext, the log entry. */
      readonly plaintextId?: string;
    };

/**
 * Storage layout version; written with the first commit, checked on load. 3: values over 1 MB spilled
 * (SqlStore), broadcast values capped at 3 MiB (a journal written under another cap could replay differently).
 * 4: binary agreement's TERM carries its round (wire code 0x35; journals hold the retired 0x34), and the
 * engine handles its own messages after the step that sent them (a journal replays in another order).
 */
const STORAGE_FORMAT = '4';

interface OutboxItem {
  readonly bytes: Uint8Array;
  notBefore: number;
}

interface PeerLinkState {
  inFlight: boolean;
  failures: number;
  retryAt: number;
  lastError: string | null;
  sentFrames: number;
  ackedMessages: number;
}

class InboxWindow {
  floor: number;
  readonly above: Set<number>;
  constructor(s: InboxState = { floor: 0, above: [] }) {
    this.floor = s.floor;
    this.above = new Set(s.above);
  }
  has(id: number): boolean {
    return id <= this.floor || this.above.has(id);
  }
  add(id: number): void {
    if (this.has(id)) return;
    this.above.add(id);
    while (this.above.delete(this.floor + 1)) this.floor++;
  }
  state(): InboxState {
    return { floor: this.floor, above: [...this.above].sort((a, b) => a - b) };
  }
}

export class ReplicaHost {
  private engine!: ReplicaEngine;
  private outbox: Map<number, OutboxItem>[] = [];
  private nextId: number[] = [];
  private inbox: InboxWindow[] = [];
  private readonly links: PeerLinkState[];
  private readonly submitted = new Set<string>();
  private decryptor: ThresholdDecryptor | undefined;
  private formatWritten = false;
  private chain: Promise<unknown> = Promise.resolve();
  private stale = true;
  private replayedEvents = 0;
  private readonly opts: Required<Omit<HostOptions, 'engine' | 'log' | 'apps'>> & Pick<HostOptions, 'engine' | 'log' | 'apps'>;

  constructor(
    readonly group: Group,
    readonly secrets: ReplicaSecrets,
    private readonly store: ReplicaStore,
    private readonly transport: PeerTransport,
    private readonly now: () => number,
    options: HostOptions = {},
  ) {
    // Request ids, log leaves and batch digests are hashed per request: the runtime's SHA-256 is 2-17x faster.
    useNativeSha256();
    this.opts = {
      maxConcurrentPosts: 6,
      maxPostBytes: 1 << 20,
      maxPostMessages: 1024,
      retryMinMs: 100,
      retryMaxMs: 30_000,
      deferRetryMs: 250,
      compactAfter: 2000,
      ...options,
    };
    this.links = group.replicas.map(() => ({ inFlight: false, failures: 0, retryAt: 0, lastError: null, sentFrames: 0, ackedMessages: 0 }));
    this.peers = linkPeers(group, secrets);
  }

  private readonly peers: readonly (LinkPeer | undefined)[];
  private senders: (LinkSender | undefined)[] = [];
  private receivers: (LinkReceiver | undefined)[] = [];

  get me(): number {
    return this.secrets.index;
  }

  get n(): number {
    return this.group.replicas.length;
  }

  /** Whether the in-memory state matches storage (false before the first load and after a failed write). */
  get loaded(): boolean {
    return !this.stale;
  }

  /** Loads storage and replays the journal. Called lazily before the first event, and after a failed write. */
  async init(): Promise<void> {
    await this.serialized(() => this.ensureLoaded());
  }

  private async ensureLoaded(): Promise<void> {
    if (!this.stale) return;
    const t0 = this.now();
    const state = await this.store.load();
    const format = state.meta.get('format');
    if (format !== undefined && format !== STORAGE_FORMAT) {
      throw new Error(`storage holds format ${format}, this release reads ${STORAGE_FORMAT}: start from a new data folder`);
    }
    if (format === undefined && (state.snapshot || state.journal.length > 0)) {
      throw new Error(`storage was written by an older release (no format marker; this release reads format ${STORAGE_FORMAT}): start from a new data folder`);
    }
    this.formatWritten = format !== undefined;
    const ctx = contextFromConfig(this.group, this.secrets);
    // Built once: it caches ciphertext verdicts (8 ms each).
    this.decryptor ??= decryptorFromConfig(this.group, this.secrets);
    let engine: ReplicaEngine;
    // The CA's responses are kept so clients can read the answer to their ordered request (ca-routes.ts).
    const engineOptions: EngineOptions = { keepResponsesOf: ['ca'], ...this.opts.engine, apps: this.appFactory() };
    if (state.snapshot) {
      const { entries, checkpoints } = await this.store.loadLog();
      engine = ReplicaEngine.restore(ctx, engineOptions, state.snapshot, entries, checkpoints, this.decryptor);
    } else {
      engine = new ReplicaEngine(ctx, engineOptions, this.decryptor);
    }
    this.journalLength = state.journal.length;
    this.journalBytes = state.journal.reduce((s, b) => s + b.length, 0);
    this.snapshotBytes = state.snapshot?.length ?? 0;
    this.submitted.clear();
    for (const b of state.journal) {
      const event = decodeEvent(b);
      if (event.kind === 'submit') this.submitted.add(requestId(event.request));
      if (event.kind === 'submit-encrypted') this.submitted.add(requestId(event.ciphertext));
      const step = engine.handle(event);
      if (step.deferred) throw new Error('journal replay: a journaled event was deferred (non-deterministic engine?)');
    }
    this.engine = engine;
    this.replayedEvents = state.journal.length;
    this.outbox = Array.from({ length: this.n }, () => new Map());
    for (const m of state.outbox) this.outbox[m.peer]!.set(m.id, { bytes: m.bytes, notBefore: 0 });
    this.nextId = Array.from({ length: this.n }, (_, j) => Number(state.meta.get(`next-id/${j}`) ?? '1'));
    this.inbox = Array.from({ length: this.n }, (_, j) => new InboxWindow(state.inbox.get(j)));
    this.pendingIds = new Map();
    // Link state: receivers are persisted with the effects of each frame; a sender's next seq only after
    // the peer took the frame, so a seq is never skipped (a gap would stall the peer's window) and a seq
    // reused after a crash is answered 'replay' with the peer's ack, from which the sender resumes.
    this.receivers = this.peers.map((p) => {
      if (!p) return undefined;
      const saved = state.meta.get(`link-rx/${p.peer}`);
      return saved ? LinkReceiver.fromJSON(p.incoming, JSON.parse(saved)) : LinkReceiver.create(p.incoming);
    });
    this.senders = this.peers.map((p) => {
      if (!p) return undefined;
      const saved = state.meta.get(`link-tx/${p.peer}`);
      return saved ? LinkSender.fromJSON(p.outgoing, JSON.parse(saved)) : LinkSender.create(p.outgoing);
    });
    this.stale = false;
    if (state.journal.length > 0) this.opts.log?.(`replica ${this.me}: replayed ${state.journal.length} journal events in ${Math.round(this.now() - t0)} ms`);
  }

  /** Runs `f` after every earlier event; a failure marks the host stale (rebuilt before the next one). */
  private serialized<T>(f: () => Promise<T>): Promise<T> {
    const run = this.chain.then(async () => {
      try {
        await this.ensureLoaded();
        return await f();
      } catch (e) {
        this.stale = true;
        throw e;
      }
    });
    this.chain = run.catch(() => undefined);
    return run;
  }

  // ---- client requests

  submit(request: Uint8Array): Promise<SubmitResult> {
    return this.submitMany([{ bytes: request, encrypted: false }]).then((r) => r[0]!);
  }

  /**
   * Secure causal atomic broadcast: a TDH2 ciphertext of a request. Invalid ciphertexts are refused here
   * (400); the answer's id is the ciphertext's, valid for status and receipt queries.
   */
  submitEncrypted(ciphertext: Uint8Array): Promise<SubmitResult> {
    return this.submitMany([{ bytes: ciphertext, encrypted: true }]).then((r) => r[0]!);
  }

  /**
   * Requests (plain, or TDH2 ciphertexts) in one event and ONE storage write (the per-request cost of the
   * HTTP path is mostly the write and the event, not the protocol): each already in the log is answered
   * with its position, refused ones get their error, and the accepted ones are journaled together. Results
   * are in the order given. submit() and submitEncrypted() are the one-request cases.
   */
  submitMany(items: readonly { readonly bytes: Uint8Array; readonly encrypted: boolean }[]): Promise<SubmitResult[]> {
    return this.serialized(async () => {
      const results: SubmitResult[] = [];
      const events: EngineEvent[] = [];
      const steps: EngineStep[] = [];
      const ids: string[] = [];
      const seen = new Set<string>();
      for (const { bytes, encrypted } of items) {
        const id = requestId(bytes);
        if (seen.has(id)) {
          results.push({ ok: true, id, status: 'pending' });
          continue;
        }
        seen.add(id);
        if (encrypted) {
          const known = this.engine.ciphertextOutcome(id);
          if (known?.state === 'delivered') {
            results.push({ ok: true, id, status: 'ordered', index: known.index });
            continue;
          }
          if (known?.state === 'skipped') {
            results.push({ ok: false, error: { status: 409, code: 'skipped', message: `ciphertext ${id} was ordered before and does not decrypt with the group key` } });
            continue;
          }
          if (known) {
            results.push({ ok: true, id, status: 'pending' });
            continue;
          }
        } else {
          const index = this.engine.indexOf(id);
          if (index !== undefined) {
            results.push({ ok: true, id, status: 'ordered', index });
            continue;
          }
        }
        const refusal = this.engine.refusal(bytes, encrypted);
        if (refusal) {
          results.push({ ok: false, error: refusalError(refusal) });
          continue;
        }
        const event: EngineEvent = encrypted ? { kind: 'submit-encrypted', ciphertext: bytes } : { kind: 'submit', request: bytes };
        steps.push(this.engine.handle(event));
        events.push(event);
        ids.push(id);
        results.push({ ok: true, id, status: 'pending' });
      }
      if (events.length > 0) {
        const batch = emptyBatch();
        for (const e of events) batch.journal.push(encodeEvent(e));
        this.collect(batch, steps);
        this.markFormat(batch);
        const written = this.maybeCompact(batch, steps);
        await this.store.commit(written);
        this.afterCommit(written);
        this.enqueue(batch.outbox);
        for (const id of ids) this.submitted.add(id);
      }
      return results;
    });
  }

  status(id: string): RequestStatus | null {
    if (this.stale) return null;
    let index = this.engine.indexOf(id);
    let plaintextId: string | undefined;
    if (index === undefined) {
      const o = this.engine.ciphertextOutcome(id);
      if (o?.state === 'delivered') {
        index = o.index;
        plaintextId = o.plaintextId;
      } else if (o?.state === 'skipped' || o?.state === 'decrypting') {
        return { id, status: o.state };
      } else {
        return this.submitted.has(id) || this.engine.isPending(id) ? { id, status: 'pending' } : null;
      }
    }
    const checkpoint = this.engine.checkpointCovering(index);
    return { id, status: checkpoint ? 'certified' : 'ordered', index, epoch: this.engine.epochOf(index)!, checkpoint, ...(plaintextId ? { plaintextId } : {}) };
  }

  /** The receipt of a request, by its id or (encrypted requests) its ciphertext's id. */
  async receipt(id: string): Promise<Receipt | null> {
    let index = this.engine.indexOf(id);
    if (index === undefined) {
      const o = this.engine.ciphertextOutcome(id);
      if (o?.state === 'delivered') index = o.index;
    }
    if (index === undefined) return null;
    const checkpoint = this.engine.checkpointCovering(index);
    if (!checkpoint) return null;
    const [e] = await this.store.entries(index, index + 1);
    if (!e) throw new Error(`log entry ${index} is missing from storage`);
    return { entry: e.entry, index, proof: this.engine.log.inclusionProof(index, checkpoint.size), checkpoint };
  }

  /** A replicated application's current state (null while the host is rebuilding). */
  app<A extends ReplicatedApp = ReplicatedApp>(name: string): A | null {
    if (this.stale || !this.engine) return null;
    return this.engine.app<A>(name) ?? null;
  }

  /** Names of the applications this replica runs, in digest order. */
  appNames(): string[] {
    this.names ??= this.appFactory()().map((a) => a.name);
    return [...this.names];
  }

  private appFactory(): () => readonly ReplicatedApp[] {
    return this.opts.apps ?? this.opts.engine?.apps ?? (() => standardApps(this.group));
  }

  /** The app digests bound into the checkpoint of `epoch` (null: not kept, or not delivered here yet). */
  appDigestsAt(epoch: number): AppDigest[] | null {
    return this.stale || !this.engine ? null : this.engine.appDigestsAt(epoch);
  }

  /** An app's kept response to the log entry at `index` (the CA's; see EngineOptions.keepResponsesOf). */
  responseAt(index: number, app: string): Uint8Array | undefined {
    return this.stale || !this.engine ? undefined : this.engine.responseAt(index, app);
  }

  private names: string[] | undefined;

  /** Log index of a delivered request (by its id), if known. */
  indexOf(id: string): number | undefined {
    return this.stale ? undefined : this.engine.indexOf(id);
  }

  /** The receipt of the log entry at `index`, once a signed checkpoint covers it. */
  async receiptAt(index: number): Promise<Receipt | null> {
    if (this.stale || index >= this.engine.log.size) return null;
    const checkpoint = this.engine.checkpointCovering(index);
    if (!checkpoint) return null;
    const [e] = await this.store.entries(index, index + 1);
    if (!e) throw new Error(`log entry ${index} is missing from storage`);
    return { entry: e.entry, index, proof: this.engine.log.inclusionProof(index, checkpoint.size), checkpoint };
  }

  epochOf(index: number): number | undefined {
    return this.stale ? undefined : this.engine.epochOf(index);
  }

  latestCheckpoint(): SignedCheckpoint | null {
    return this.engine?.latestCheckpoint ?? null;
  }

  checkpointAt(size: number): SignedCheckpoint | null {
    return this.engine.checkpointAt(size);
  }

  consistencyProof(first: number, second: number): Uint8Array[] {
    return this.engine.log.consistencyProof(first, second);
  }

  get logSize(): number {
    return this.engine.log.size;
  }

  entries(start: number, end: number): Promise<StoredEntry[]> {
    return this.store.entries(start, Math.min(end, this.engine.log.size));
  }

  // ---- peers

  /**
   * One POST from a peer: authenticate, then apply every message not applied before, in one atomic write.
   * Returns the HTTP status and JSON body for the response.
   */
  receiveFrame(frame: Uint8Array): Promise<{ status: number; body: TransportAck | { error: { code: string; message: string }; ack?: number } }> {
    return this.serialized(async () => {
      const v = checkFrame(frame, this.receivers);
      if (!v.ok) {
        const status = v.code === 'too-large' ? 413 : v.code === 'replay' || v.code === 'ahead' ? 409 : v.code === 'bad-mac' ? 401 : 400;
        // For replay/ahead (authentic frames only) the sender resynchronizes its next seq from our ack.
        const d = decodeFrame(frame);
        const claimed = d.ok ? this.receivers[d.frame.sender] : undefined;
        const ack = (v.code === 'replay' || v.code === 'ahead') && claimed ? { ack: claimed.contiguousAck } : {};
        return { status, body: { error: { code: `link-${v.code}`, message: v.message }, ...ack } };
      }
      if (v.seq === 0) return { status: 400, body: { error: { code: 'bad-payload', message: 'ack-only frames are not used on this link' } } };
      let items: { id: number; msg: import('../../shared/protocols/messages.ts').Message }[];
      try {
        items = decodeTransport(v.payload);
      } catch (e) {
        if (!(e instanceof TransportError)) throw e;
        return { status: 400, body: { error: { code: 'bad-payload', message: e.message } } };
      }
      const from = v.sender;
      const inbox = this.inbox[from]!;
      const accepted: number[] = [];
      const deferred: number[] = [];
      const batch = emptyBatch();
      const steps: EngineStep[] = [];
      for (const { id, msg } of items) {
        if (inbox.has(id)) {
          accepted.push(id);
          continue;
        }
        const event: EngineEvent = { kind: 'peer', from, msg };
        const step = this.engine.handle(event);
        if (step.deferred) {
          deferred.push(id);
          continue;
        }
        inbox.add(id);
        accepted.push(id);
        batch.journal.push(encodeEvent(event));
        steps.push(step);
      }
      const receiver = this.receivers[from]!.commit(v.seq);
      batch.meta.set(`link-rx/${from}`, JSON.stringify(receiver.toJSON()));
      if (batch.journal.length > 0) batch.inbox.set(from, inbox.state());
      this.collect(batch, steps);
      this.markFormat(batch);
      const written = this.maybeCompact(batch, steps);
      await this.store.commit(written);
      this.afterCommit(written);
      this.receivers[from] = receiver;
      this.enqueue(batch.outbox);
      return { status: 200, body: { accepted, deferred } };
    });
  }

  private journalLength = 0;
  /** Bytes journaled since the last snapshot, and that snapshot's size (compaction is amortized by them). */
  private journalBytes = 0;
  private snapshotBytes = 0;

  private markFormat(batch: ReturnType<typeof emptyBatch>): void {
    if (this.formatWritten) return;
    batch.meta.set('format', STORAGE_FORMAT);
    // Set before the commit resolves; a failed commit marks the host stale and the load resets it.
    this.formatWritten = true;
  }

  /**
   * Compaction: once the journal holds `compactAfter` events and an epoch was just delivered (so the
   * snapshot's live instances are few), the batch carries the engine's snapshot instead of its journal
   * entries, and the store replaces the journal with it; storage then grows with the log only.
   * Amortized: also not before the journal since the last snapshot is half that snapshot's size. Under
   * load a snapshot (queue, kept batches, de-duplication window) is tens of megabytes, and 2,000 events
   * come in seconds: encoding it every time was 12% of a loaded Node replica's CPU (docs/benchmarks.md).
   */
  private maybeCompact(batch: ReturnType<typeof emptyBatch>, steps: readonly EngineStep[]): ReturnType<typeof emptyBatch> & { snapshot?: Uint8Array } {
    const delivered = steps.some((s) => s.appended.length > 0 || s.checkpoints.length > 0);
    if (!delivered || this.journalLength + batch.journal.length < this.opts.compactAfter) return batch;
    if (this.journalBytes + batch.journal.reduce((s, b) => s + b.length, 0) < this.snapshotBytes / 2) return batch;
    return { ...batch, journal: [], snapshot: this.engine.snapshot() };
  }

  private afterCommit(batch: { journal: readonly Uint8Array[]; snapshot?: Uint8Array }): void {
    if (batch.snapshot) {
      this.journalLength = 0;
      this.journalBytes = 0;
      this.snapshotBytes = batch.snapshot.length;
      this.compactions++;
    } else {
      this.journalLength += batch.journal.length;
      for (const b of batch.journal) this.journalBytes += b.length;
    }
  }

  private compactions = 0;

  /** Step effects into the write batch: outbox messages get their per-link ids here. */
  private collect(batch: ReturnType<typeof emptyBatch>, steps: readonly EngineStep[]): void {
    const ids = new Map<number, number>();
    for (const s of steps) {
      for (const o of s.outgoing) {
        const id = ids.get(o.to) ?? this.nextId[o.to]!;
        ids.set(o.to, id + 1);
        batch.outbox.push({ peer: o.to, id, bytes: encodeMessage(o.msg) });
      }
      batch.log.push(...s.appended);
      batch.checkpoints.push(...s.checkpoints);
    }
    for (const [peer, next] of ids) batch.meta.set(`next-id/${peer}`, String(next));
    // Only after the commit succeeds do the counters move (enqueue), so a failed write reuses the ids.
    this.pendingIds = ids;
  }

  private pendingIds = new Map<number, number>();

  private enqueue(messages: readonly StoredOutboxMessage[]): void {
    for (const [peer, next] of this.pendingIds) this.nextId[peer] = next;
    this.pendingIds = new Map();
    for (const m of messages) this.outbox[m.peer]!.set(m.id, { bytes: m.bytes, notBefore: 0 });
  }

  /**
   * Sends what is due to every peer whose link is idle (one POST in flight per link, at most
   * `maxConcurrentPosts` in flight in all, across concurrent calls) and returns when the next retry is
   * due (epoch ms), or null if nothing is waiting that this call could start. Calls may overlap: a slow
   * or silent peer only holds up the call that posts to it, never the messages for the other peers (the
   * caller flushes again on every event; the call whose POST finishes looks again at its link).
   */
  async flush(): Promise<number | null> {
    if (this.stale) await this.init();
    const now = this.now();
    let free = this.opts.maxConcurrentPosts - this.links.filter((l) => l.inFlight).length;
    const due: number[] = [];
    for (let k = 0; k < this.n && free > 0; k++) {
      const j = (this.flushFrom + k) % this.n;
      if (j === this.me || this.links[j]!.inFlight || this.links[j]!.retryAt > now) continue;
      for (const item of this.outbox[j]!.values()) {
        if (item.notBefore <= now) {
          due.push(j);
          free--;
          break;
        }
      }
    }
    this.flushFrom = (this.flushFrom + 1) % this.n;
    await Promise.all(due.map((j) => this.postTo(j)));
    return this.nextWake();
  }

  /** Where the next flush starts looking, so that a full set of connections does not starve a peer. */
  private flushFrom = 0;

  private async postTo(j: number): Promise<void> {
    const link = this.links[j]!;
    const now = this.now();
    const picked: { id: number; bytes: Uint8Array }[] = [];
    let bytes = 0;
    for (const [id, item] of [...this.outbox[j]!.entries()].sort((a, b) => a[0] - b[0])) {
      if (item.notBefore > now) continue;
      if (picked.length > 0 && (bytes + item.bytes.length > this.opts.maxPostBytes || picked.length >= this.opts.maxPostMessages)) break;
      picked.push({ id, bytes: item.bytes });
      bytes += item.bytes.length + 12;
    }
    if (picked.length === 0) return;
    link.inFlight = true;
    try {
      const { seq, sender } = this.senders[j]!.allocate();
      const frame = sender.seal(seq, encodeTransport(picked), this.receivers[j]!.contiguousAck);
      const res = await this.transport.post(j, frame);
      if (res.status === 409) {
        const b = res.body as { error?: { code?: unknown }; ack?: unknown } | null;
        if ((b?.error?.code === 'link-replay' || b?.error?.code === 'link-ahead') && Number.isSafeInteger(b?.ack)) {
          const next = Math.max(sender.next, (b!.ack as number) + 1);
          this.senders[j] = LinkSender.fromJSON(this.peers[j]!.outgoing, { next, peerAck: next - 1 });
          throw new Error(`link resynchronized at seq ${next} (${String(b?.error?.code)})`);
        }
      }
      if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${JSON.stringify(res.body).slice(0, 200)}`);
      const acked = sender.acknowledge(seq);
      this.senders[j] = acked.ok ? acked.sender : sender;
      const ack = parseAck(res.body, picked);
      const sent = new Set(picked.map((p) => p.id));
      const accepted = ack.accepted.filter((id) => sent.has(id));
      for (const id of ack.deferred) {
        const item = this.outbox[j]!.get(id);
        if (item && sent.has(id)) item.notBefore = this.now() + this.opts.deferRetryMs;
      }
      await this.serialized(async () => {
        const meta = new Map([[`link-tx/${j}`, JSON.stringify(this.senders[j]!.toJSON())]]);
        await this.store.commit({ ...emptyBatch(), outboxDelete: accepted.length > 0 ? [{ peer: j, ids: accepted }] : [], meta });
        for (const id of accepted) this.outbox[j]!.delete(id);
      });
      link.failures = 0;
      link.retryAt = 0;
      link.lastError = null;
      link.sentFrames++;
      link.ackedMessages += accepted.length;
    } catch (e) {
      link.failures++;
      link.lastError = e instanceof Error ? e.message : String(e);
      link.retryAt = this.now() + Math.min(this.opts.retryMaxMs, this.opts.retryMinMs * 2 ** Math.min(link.failures - 1, 20));
    } finally {
      link.inFlight = false;
    }
  }

  private nextWake(): number | null {
    // Links with a POST in flight are looked at again by the flush that finishes it; with every connection
    // taken, so are the others.
    if (this.links.filter((l) => l.inFlight).length >= this.opts.maxConcurrentPosts) return null;
    let wake: number | null = null;
    for (let j = 0; j < this.n; j++) {
      if (j === this.me || this.links[j]!.inFlight) continue;
      for (const item of this.outbox[j]!.values()) {
        const t = Math.max(item.notBefore, this.links[j]!.retryAt);
        if (wake === null || t < wake) wake = t;
      }
    }
    return wake;
  }

  /** Messages waiting for each peer. */
  outboxSizes(): number[] {
    return this.outbox.map((m) => m.size);
  }

  metrics(): {
    replica: string;
    index: number;
    engine: EngineMetrics;
    outbox: number[];
    links: { peer: number; failures: number; lastError: string | null; sentFrames: number; ackedMessages: number }[];
    replayedEvents: number;
    journalEvents: number;
    compactions: number;
  } {
    return {
      replica: this.secrets.id,
      index: this.me,
      engine: this.engine.metrics(),
      outbox: this.outboxSizes(),
      links: this.links.map((l, peer) => ({ peer, failures: l.failures, lastError: l.lastError, sentFrames: l.sentFrames, ackedMessages: l.ackedMessages })),
      replayedEvents: this.replayedEvents,
      journalEvents: this.journalLength,
      compactions: this.compactions,
    };
  }

  groupIdHex(): string {
    return toHex(this.group.groupId);
  }
}

function parseAck(body: unknown, picked: readonly { id: number }[]): TransportAck {
  const o = body as { accepted?: unknown; deferred?: unknown } | null;
  const ids = (x: unknown) => (Array.isArray(x) && x.every((v) => Number.isSafeInteger(v)) ? (x as number[]) : null);
  const accepted = ids(o?.accepted);
  const deferred = ids(o?.deferred);
  if (!accepted || !deferred) throw new Error(`malformed acknowledgement for ${picked.length} messages`);
  return { accepted, deferred };
}

/**
 * SINTRA_MEMORY_BUDGET_MB (every adapter): the engine's memory budget in MiB (EngineOptions.memoryBudgetBytes;
 * default 64). Submissions are refused with 503 memory-full once the engine's state estimate reaches it.
 */
export function memoryBudgetOption(value: string | undefined): Pick<HostOptions, 'engine'> {
  if (value === undefined || value === '') return {};
  const mb = Number(value);
  if (!Number.isFinite(mb) || mb < 1 || mb > 1 << 20) throw new ConfigError('SINTRA_MEMORY_BUDGET_MB', `expected a number of MiB from 1 to 1048576, got ${JSON.stringify(value)}`);
  return { engine: { memoryBudgetBytes: Math.floor(mb * 2 ** 20) } };
}

function refusalError(r: SubmitRefusal): HostError {
  switch (r.code) {
    case 'too-large':
      return { status: 413, code: 'request-too-large', message: r.message };
    case 'invalid-ciphertext':
      return { status: 400, code: 'invalid-ciphertext', message: r.message };
    case 'overloaded':
      return { status: 503, code: 'overloaded', message: r.message };
    case 'memory-full':
      return { status: 503, code: 'memory-full', message: r.message };
  }
}
