/**
 * The replica host's I/O-free core: everything a replica does between its storage and its peers, as a
 * deterministic, synchronous state machine. The runtime adapters (workers/core/host.ts: the Durable Object
 * and Node replicas) only do I/O around it (await a store, POST a frame, arm a timer), and the
 * whole-replica simulator (infra/sim/replica) drives exactly this code with seeded faults. It enforces the
 * rules that make the protocols' assumptions true on real machines:
 *
 * - Persist before send: an event's effects (journal entry, outbox messages, log entries, checkpoints,
 *   inbox ids, link state) come out as ONE WriteBatch (storage.ts) with an `apply` to run once it is
 *   written; until then none of its messages may leave and no frame is acknowledged. After a restart the
 *   journal is replayed into a fresh engine with sending suppressed (engine.ts explains why that cannot
 *   sign or vote twice differently), and the outbox is reloaded.
 * - Reliable links: outbox messages carry per-link ids and stay until the peer acknowledges them; the peer
 *   drops copies it already applied (inbox ids) and tells which ones it deferred; retries back off.
 * - A failed write leaves the in-memory state ahead of storage: the adapter must then drop this core and
 *   load a new one from storage (nothing of the failed event was sent or acknowledged).
 *
 * Time comes in as arguments (`now`, in ms), never from a clock. The events that may make a proposal
 * (submit, receiveFrame, transfer) take the runtime's clock reading: it enters the engine as a journaled
 * `clock` event before them (clocked), so the proposal's reading is replayed as it was sent.
 */
import type { Group, ReplicaSecrets } from '../config/group.ts';
import type { SignedCheckpoint } from '../log/checkpoint.ts';
import { isCheckpointShape } from '../log/checkpoint.ts';
import { bytesEqual } from '../crypto/bytes.ts';
import type { ProtocolContext } from '../protocols/context.ts';
import type { ThresholdDecryptor } from '../protocols/crypto-suite.ts';
import type { Message } from '../protocols/messages.ts';
import type { Fault } from '../protocols/step.ts';
import type { ReplicatedApp } from '../app/types.ts';
import { standardApps } from '../app/index.ts';
import { checkFrame, decodeFrame, LinkReceiver, LinkSender, linkPeers } from '../link/index.ts';
import type { LinkPeer } from '../link/index.ts';
import { ReplicaEngine, requestId } from './engine.ts';
import type { EngineEvent, EngineMetrics, EngineOptions, EngineStep, SubmitRefusal } from './engine.ts';
import { contextFromConfig, decryptorFromConfig } from './from-config.ts';
import { decodeEvent, encodeEvent } from './journal.ts';
import { emptyBatch } from './storage.ts';
import { AppValueCache, appValueKey, cacheWrites, Execution } from './execution.ts';
import type { ExecutionResult } from './execution.ts';
import type { AppKey, LoadedValue } from './execution.ts';
import type { AppStateWrite, InboxState, LoadedState, MutableWriteBatch, StoredEntry, WriteBatch } from './storage.ts';
import { decodeTransport, encodeMessage, encodeTransport, MAX_MESSAGE_BYTES, TransportError } from './transport.ts';
import { invariant } from '../invariant/index.ts';
import { peekTag } from '../codec/message-codec.ts';
import { parseInstanceTag } from '../protocols/instance-tag.ts';
import type { TransportAck } from './transport.ts';
import { makeRejoinReport, parseRejoinReport, passiveBound, REJOIN_ID_GAP, REJOIN_NONCE_BYTES, rejoinReportAuthentic, REPORT_CHECKPOINT_LAG } from './rejoin.ts';
import type { RejoinReportJson } from './rejoin.ts';

export interface HostCoreOptions {
  readonly engine?: EngineOptions;
  /**
   * The replicated applications (shared/app), as a factory: every load builds a new engine, and each
   * engine rebuilds its applications' state from the log. Default: standardApps(group), so that every
   * runtime of a group runs the same list (their digests are signed with each checkpoint); `() => []` runs
   * the plain ordering service.
   */
  readonly apps?: () => readonly ReplicatedApp[];
  /** Concurrent outgoing POSTs in all (Workers allow 6 connections per event). */
  readonly maxConcurrentPosts?: number;
  /** Largest transport payload per POST (a single larger message still goes alone). */
  readonly maxPostBytes?: number;
  readonly maxPostMessages?: number;
  /** Retry delays (ms) after a failed POST: doubles from min up to max. */
  readonly retryMinMs?: number;
  readonly retryMaxMs?: number;
  /** Delay before retrying messages the peer deferred. */
  readonly deferRetryMs?: number;
  /** Journal events after which the next epoch delivery writes a snapshot and drops the journal. */
  readonly compactAfter?: number;
  /**
   * State transfer (transfer()): a peer's signed checkpoint this many epochs past the last one this replica
   * delivered is worth taking instead of running the epochs in between (default 32). Outboxes drop the
   * messages of epochs this many before this replica's latest signed checkpoint (trimOutboxes): a peer that
   * needs them is that far behind, and takes a transfer.
   */
  readonly transferAfterEpochs?: number;
  /** And a checkpoint any epochs ahead is taken once this replica delivered nothing for this long (ms; default 10 s). */
  readonly transferStallMs?: number;
  /** Least time between two asks for a peer's checkpoint (probeDue; ms, default 5 s). */
  readonly probeIntervalMs?: number;
  /**
   * The protocol context (who we are, quorum system, threshold crypto). Default: from the group's keys
   * (contextFromConfig); the whole-replica simulator passes its fast test crypto here.
   */
  readonly context?: ProtocolContext;
  /** Sees the faults of every event this core handles (not of journal replay): logs, metrics, the simulator. */
  readonly onFaults?: (faults: readonly Fault[]) => void;
  /**
   * This group has never run: with empty storage, start a new log. Without it a replica with empty storage
   * starts nothing (mode 'not-bootstrapped'), since its keys may have signed a history before and a second
   * one must never exist (issue 13, bug 3). Set it for a new group's first start only.
   */
  readonly bootstrap?: boolean;
}

type Knobs = Omit<HostCoreOptions, 'engine' | 'apps' | 'context' | 'onFaults' | 'bootstrap'>;
export type ResolvedHostCoreOptions = Required<Knobs> & Pick<HostCoreOptions, 'engine' | 'apps' | 'context' | 'onFaults' | 'bootstrap'>;

export const DEFAULT_HOST_OPTIONS: Required<Knobs> = {
  maxConcurrentPosts: 6,
  maxPostBytes: 1 << 20,
  maxPostMessages: 1024,
  retryMinMs: 100,
  retryMaxMs: 30_000,
  deferRetryMs: 250,
  compactAfter: 2000,
  transferAfterEpochs: 32,
  transferStallMs: 10_000,
  probeIntervalMs: 5_000,
};

export type HostError = { readonly status: number; readonly code: string; readonly message: string };

export type SubmitResult =
  | { readonly ok: true; readonly id: string; readonly status: 'pending' | 'ordered'; readonly index?: number }
  | { readonly ok: false; readonly error: HostError };

export type { RequestStatus } from './history.ts';

/** The answer to a peer's POST (HTTP status and JSON body). */
export type FrameResponse = {
  readonly status: number;
  readonly body: TransportAck | { readonly error: { readonly code: string; readonly message: string }; readonly ack?: number };
};

/**
 * Effects to write before anything of them is visible: write `batch` atomically, then call `apply()`. If
 * the write fails, drop the core (its memory is ahead of storage) and load a new one.
 */
export interface PendingCommit {
  readonly batch: WriteBatch;
  apply(): void;
}

/** A frame built for a peer and not yet answered (outgoingFrame -> frameAnswered / frameFailed). */
export interface OutgoingFrame {
  readonly peer: number;
  readonly seq: number;
  readonly bytes: Uint8Array;
  /** Outbox ids it carries. */
  readonly ids: readonly number[];
  /** The link sender after allocating `seq` (adopted once the peer took the frame). */
  readonly sender: LinkSender;
}

/**
 * Storage layout version; written with the first commit, checked on load. 3: values over 1 MB spilled
 * (SqlStore), broadcast values capped at 3 MiB (a journal written under another cap could replay differently).
 * 4: binary agreement's TERM carries its round (wire code 0x35; journals hold the retired 0x34), the
 * engine handles its own messages after the step that sent them (a journal replays in another order), and
 * decryption shares travel in parts (dec-shares 0x51; 0x50 retired).
 * 5: the log's history in storage: Merkle nodes and the request-id index stored, snapshots carry the
 * tree's right edge (engine snapshot version 4).
 * 6: atomic broadcast de-duplicates within an epoch only (the log across epochs), so a journal written under
 * 5 could replay differently; outboxes are trimmed behind signed checkpoints (state transfer).
 * 7: application state in storage and executed after ordering ('executed' journal events, app_state);
 * snapshots in a main part and per-epoch parts (engine snapshot version 6).
 * 8: agreed time: proposals carry the proposer's clock (a journal written under 7 would replay other
 * bytes), the host journals its clock readings ('clock' events, 0x05), log entries and checkpoints keep
 * the epoch's agreed time and the time chain (checkpoint payload version 2; engine snapshot version 7).
 */
export const STORAGE_FORMAT = '8';

/**
 * At most this many epochs, and about this many application writes, go into one write of the execution
 * stage when several epochs wait (execute()); their writes are held in memory until then (some 400 bytes
 * each for a notary stamp, so about 7 MB at most).
 */
export const EXECUTED_PER_COMMIT = 32;
export const WRITES_PER_COMMIT = 16_384;

/** Faults a peer may cause before its frames wait, and how many each delivered epoch gives back. */
export const FAULT_BUDGET = 256;
export const FAULT_REFILL = 64;
/**
 * Messages that change nothing (acknowledged, not journaled) a peer may send before its frames wait, and how
 * many each delivered epoch gives back. An honest peer sends such messages only for epochs we finished
 * before its message came (at most the epochs its outbox keeps: transferAfterEpochs, about 70 messages per
 * epoch at n = 16), so the budget is far above that; a Byzantine peer's junk for collected epochs (556 MB in
 * two minutes, issue 13 bug 4) stops at it and is recorded as its fault.
 */
export const UNCHANGED_BUDGET = 8192;
export const UNCHANGED_REFILL = 1024;

/**
 * What a replica does: 'active' (everything), 'not-bootstrapped' (empty storage and no bootstrap: nothing),
 * 'lost-state' (its peers proved that its storage lost what it had written: it sends nothing and takes no
 * peer messages, persistently, and rejoins (rejoin.ts): it learns from a quorum's reports the last epoch it
 * may have spoken in, takes the group's state by transfer up to a signed checkpoint past that epoch, and
 * is then active again; it never says again what it may have said before).
 */
export type ReplicaMode = 'active' | 'not-bootstrapped' | 'lost-state';

/** Storage this release cannot read; the message says what to do. */
export class StorageFormatError extends Error {
  override readonly name = 'StorageFormatError';
}

interface OutboxItem {
  readonly bytes: Uint8Array;
  notBefore: number;
  /**
   * The epoch the message belongs to (its tag's; for forwarded requests, which name none, the epoch when
   * it was sent or loaded): messages of epochs a signed checkpoint covers may be dropped (trimOutboxes).
   */
  readonly epoch: number;
}

/**
 * A link to resynchronize after a rejoin (persisted as meta 'link-resync'): the lost storage's link state
 * is behind the peer's. `tx`: our next seq is taken from the peer's ack (its ack past what we allocated is
 * then no evidence of loss); `first` is the first seq the peer took from us after the rejoin. `rx`: the
 * peer's next authentic frame sets our window (a seq gap is then no evidence of loss), until a frame of the
 * peer acknowledges `first` (so it was sent after the rejoin, not replayed from before).
 */
interface LinkResync {
  tx: boolean;
  rx: boolean;
  first: number;
}

/** Volatile per-link state (not persisted: a restart starts it afresh). */
interface PeerLinkState {
  inFlight: boolean;
  failures: number;
  retryAt: number;
  lastError: string | null;
  sentFrames: number;
  ackedMessages: number;
  /** The peer refused a frame for good: send one message per frame until the refused one is found. */
  isolating: boolean;
  /** Messages dropped because the peer refused them alone, for good (a bug or a version mismatch). */
  dropped: number;
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
  /**
   * The sender will never send ids up to `floor` again (transport.ts `low`): -1 if the window did not move,
   * else how many ids it skipped that were never taken here (the sender dropped them).
   */
  raise(floor: number): number {
    if (floor <= this.floor) return -1;
    let taken = 0;
    for (const id of this.above) {
      if (id <= floor) {
        this.above.delete(id);
        taken++;
      }
    }
    const skipped = floor - this.floor - taken;
    this.floor = floor;
    while (this.above.delete(this.floor + 1)) this.floor++;
    return skipped;
  }
  state(): InboxState {
    return { floor: this.floor, above: [...this.above].sort((a, b) => a - b) };
  }
}

export interface HostCoreMetrics {
  readonly replica: string;
  readonly index: number;
  readonly mode: ReplicaMode;
  /** Peers whose link state says this replica's storage lost what it had written (see ReplicaMode). */
  readonly lostStateEvidence: Readonly<Record<number, string>>;
  /**
   * Rejoining (mode lost-state): peers whose reports count, the epochs they reported, and the last epoch this
   * replica may have spoken in once a quorum reported (it is active again from a checkpoint of that epoch on).
   */
  readonly rejoin: { readonly reports: Readonly<Record<number, number>>; readonly passiveUntil: number | null } | null;
  /** Times this replica rejoined since it was loaded. */
  readonly rejoins: number;
  readonly engine: EngineMetrics;
  readonly outbox: number[];
  readonly links: {
    peer: number;
    failures: number;
    lastError: string | null;
    sentFrames: number;
    ackedMessages: number;
    dropped: number;
    unchanged: number;
    faultBudget: number;
    unchangedBudget: number;
    throttled: number;
  }[];
  readonly replayedEvents: number;
  readonly journalEvents: number;
  readonly compactions: number;
  /** Outbox messages dropped since load: of epochs a signed checkpoint covers, for a peer that far behind. */
  readonly trimmedMessages: number;
  /** Epochs executed since load (execution.ts), and epochs delivered that wait for it. */
  readonly executions: number;
  readonly awaitingExecution: number;
  /** Requests this replica took that are not in the log yet (remembered to answer `pending`). */
  readonly submitted: number;
}

export class HostCore {
  readonly engine: ReplicaEngine;
  private readonly outbox: Map<number, OutboxItem>[];
  private readonly nextId: number[];
  private readonly inbox: InboxWindow[];
  private readonly links: PeerLinkState[];
  private readonly submitted = new Set<string>();
  private formatWritten: boolean;
  private readonly peers: readonly (LinkPeer | undefined)[];
  private readonly senders: (LinkSender | undefined)[];
  private readonly receivers: (LinkReceiver | undefined)[];
  /** Journal events and bytes since the last snapshot, and that snapshot's size (compaction is amortized by them). */
  private journalLength: number;
  private journalBytes: number;
  private snapshotBytes: number;
  /** Keys of the snapshot parts storage holds (engine.ts snapshotState). */
  private storedParts: Set<string>;
  private compactions = 0;
  /** Outbox messages dropped since load (trimOutboxes). */
  private trimmedMessages = 0;
  /** Per peer: messages acknowledged without journaling because they changed nothing (since load). */
  private readonly unchangedFrom: number[];
  /** Per peer: faults it may still cause before its frames wait (FAULT_BUDGET), and frames refused so. */
  private readonly faultBudget: number[];
  /** Per peer: messages that change nothing it may still send before its frames wait (UNCHANGED_BUDGET). */
  private readonly unchangedBudget: number[];
  private readonly throttled: number[];
  /** The epoch up to which the budgets were refilled. */
  private budgetEpoch: number;
  private mode_: ReplicaMode = 'active';
  /** Peers whose link state shows that this replica's storage lost what it had written, and how. */
  private readonly lostEvidence: Map<number, string>;
  /** Per peer: the highest link seq allocated to it by this core (or before, as storage says). */
  private readonly allocated: number[];
  /** Rejoining: the nonce this core's report requests carry (fresh per core), the epochs reported, the bound. */
  private rejoinNonce: Uint8Array | null = null;
  private readonly rejoinReports = new Map<number, number>();
  private passiveUntil_: number | null;
  private rejoins = 0;
  /** Links still to resynchronize after a rejoin, by peer. */
  private readonly linkResync: Map<number, LinkResync>;
  /** The last epoch delivered and since when (wantsTransfer: behind and stuck). */
  private progress: { epoch: number; at: number } | null = null;
  /** A peer's frame skipped ids we never took (its bounded outbox dropped them): we may need a transfer. */
  private gapSeen = false;
  private nextProbeAt = 0;
  /** Where the next flush starts looking, so that a full set of connections does not starve a peer. */
  private flushFrom = 0;
  readonly replayedEvents: number;
  readonly opts: ResolvedHostCoreOptions;
  private readonly keepResponsesOf: readonly string[];
  /** The execution of the next awaiting epoch, while its entries and keys are being loaded. */
  private execution: Execution | null = null;
  /** Epochs executed and not committed yet (execute()), with their writes by application and key. */
  private executed: { readonly results: ExecutionResult[]; readonly writes: Map<string, AppStateWrite> } | null = null;
  /** Application values known to be in storage (reads and committed writes), bounded. */
  private readonly appCache = new AppValueCache();
  private executions = 0;

  /**
   * Loads a replica from what storage holds (the snapshot, the journal after it, outboxes and link state:
   * nothing of the log's or the applications' history) and replays its journal. Throws StorageFormatError
   * for storage of another release. `decryptor`: pass the same one across loads (it caches ciphertext
   * verdicts, 8 ms each).
   */
  constructor(
    readonly group: Group,
    readonly secrets: ReplicaSecrets,
    state: LoadedState,
    options: HostCoreOptions = {},
    decryptor: ThresholdDecryptor = decryptorFromConfig(group, secrets),
  ) {
    this.opts = { ...DEFAULT_HOST_OPTIONS, ...options };
    const format = state.meta.get('format');
    if (format !== undefined && format !== STORAGE_FORMAT) {
      throw new StorageFormatError(
        `storage holds format ${format}, this release reads ${STORAGE_FORMAT}: run the release that wrote it (a replica must never start a new log with keys that signed before; a new group needs a new deal)`,
      );
    }
    if (format === undefined && (state.snapshot || state.journal.length > 0)) {
      throw new StorageFormatError(
        `storage was written by an older release (no format marker; this release reads format ${STORAGE_FORMAT}): run that release (a replica must never start a new log with keys that signed before; a new group needs a new deal)`,
      );
    }
    this.formatWritten = format !== undefined;
    const lost = state.meta.get('lost-state');
    this.lostEvidence = new Map(lost ? (JSON.parse(lost) as [number, string][]) : []);
    this.mode = lost ? 'lost-state' : format === undefined && !this.opts.bootstrap ? 'not-bootstrapped' : 'active';
    const rejoin = state.meta.get('rejoin');
    this.passiveUntil_ = lost && rejoin ? (JSON.parse(rejoin) as { passiveUntil: number }).passiveUntil : null;
    const resync = state.meta.get('link-resync');
    this.linkResync = new Map(resync ? (JSON.parse(resync) as [number, LinkResync][]) : []);
    const ctx = this.opts.context ?? contextFromConfig(group, secrets);
    // The CA's responses are kept so clients can read the answer to their ordered request (ca-routes.ts).
    const engineOptions: EngineOptions = { keepResponsesOf: ['ca'], ...this.opts.engine, apps: this.appFactory() };
    this.keepResponsesOf = engineOptions.keepResponsesOf ?? [];
    let engine: ReplicaEngine;
    if (state.snapshot) {
      engine = ReplicaEngine.restore(ctx, engineOptions, state.snapshot, decryptor, state.snapshotParts);
    } else {
      engine = new ReplicaEngine(ctx, engineOptions, decryptor);
    }
    this.journalLength = state.journal.length;
    this.journalBytes = state.journal.reduce((s, b) => s + b.length, 0);
    this.snapshotBytes = state.snapshot?.length ?? 0;
    this.storedParts = new Set(state.snapshotParts.keys());
    for (const b of state.journal) {
      const event = decodeEvent(b);
      if (event.kind === 'submit') this.submitted.add(requestId(event.request));
      if (event.kind === 'submit-encrypted') this.submitted.add(requestId(event.ciphertext));
      const step = engine.handle(event);
      if (step.deferred) throw new Error('journal replay: a journaled event was deferred (non-deterministic engine?)');
      this.forgetOrdered(step);
    }
    this.engine = engine;
    this.replayedEvents = state.journal.length;
    const n = group.replicas.length;
    this.outbox = Array.from({ length: n }, () => new Map());
    // In id order: the first id of each outbox is then its smallest (transport `low`).
    for (const m of [...state.outbox].sort((a, b) => a.id - b.id)) this.outbox[m.peer]!.set(m.id, { bytes: m.bytes, notBefore: 0, epoch: this.epochOfTag(peekTag(m.bytes)) });
    this.nextId = Array.from({ length: n }, (_, j) => Number(state.meta.get(`next-id/${j}`) ?? '1'));
    this.inbox = Array.from({ length: n }, (_, j) => new InboxWindow(state.inbox.get(j)));
    this.unchangedFrom = group.replicas.map(() => 0);
    this.faultBudget = group.replicas.map(() => FAULT_BUDGET);
    this.unchangedBudget = group.replicas.map(() => UNCHANGED_BUDGET);
    this.throttled = group.replicas.map(() => 0);
    this.budgetEpoch = engine.ab.currentEpoch;
    this.links = group.replicas.map(() => ({ inFlight: false, failures: 0, retryAt: 0, lastError: null, sentFrames: 0, ackedMessages: 0, isolating: false, dropped: 0 }));
    this.peers = linkPeers(group, secrets);
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
    this.allocated = this.senders.map((x) => (x ? x.next - 1 : 0));
  }

  get me(): number {
    return this.secrets.index;
  }

  /** The epoch a message tag names (OutboxItem.epoch); the current one for tags that name none. */
  private epochOfTag(tag: string | null): number {
    const id = tag === null ? null : parseInstanceTag(tag, this.n);
    return id !== null && 'epoch' in id ? id.epoch : this.engine.ab.currentEpoch;
  }

  get n(): number {
    return this.group.replicas.length;
  }

  get mode(): ReplicaMode {
    return this.mode_;
  }

  private set mode(m: ReplicaMode) {
    this.mode_ = m;
  }

  /** Why this replica does nothing, for the answers it gives (null when active). */
  modeError(): HostError | null {
    if (this.mode === 'active') return null;
    const peers = [...this.lostEvidence.keys()].sort((a, b) => a - b);
    if (this.mode === 'not-bootstrapped') {
      const history = peers.length > 0 ? ` Replicas ${peers.join(', ')} hold history with it: its storage was lost, so restore it.` : '';
      return {
        status: 503,
        code: 'not-bootstrapped',
        message: `replica ${this.me} has empty storage and was not started as a new group (bootstrap), so it starts nothing: its keys may have signed a history before.${history}`,
      };
    }
    const until = this.passiveUntil_ === null ? 'until a quorum of peers reported their epochs' : `until the group signs a checkpoint of epoch ${this.passiveUntil_} or later (it has ${this.engine.lastDeliveredEpoch})`;
    return {
      status: 503,
      code: 'lost-state',
      message: `replica ${this.me}'s storage lost what it had written (replicas ${peers.join(', ')} hold newer link state with it), so it signs nothing while it rejoins: passive ${until}`,
    };
  }

  appFactory(): () => readonly ReplicatedApp[] {
    return this.opts.apps ?? this.opts.engine?.apps ?? (() => standardApps(this.group));
  }

  // ---- client requests

  /**
   * Requests (plain, or TDH2 ciphertexts) in one event and ONE storage write (the per-request cost of the
   * HTTP path is mostly the write and the event, not the protocol): each already in the log is answered
   * with its position, refused ones get their error, and the accepted ones are journaled together. Results
   * are in the order given; they stand once the commit (if any) is written. `inLog`: positions storage
   * holds for some of the plain requests' ids (the engine knows recent epochs' only).
   */
  submit(
    items: readonly { readonly bytes: Uint8Array; readonly encrypted: boolean }[],
    /** The runtime's clock (ms since 1970): what a proposal this makes says the time is. */
    now: number,
    inLog: ReadonlyMap<string, number> = new Map(),
  ): { results: SubmitResult[]; commit: PendingCommit | null } {
    const stopped = this.modeError();
    if (stopped) return { results: items.map(() => ({ ok: false, error: stopped })), commit: null };
    const results: SubmitResult[] = [];
    const clock = this.clocked(now);
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
        const index = this.engine.recentIndexOf(id) ?? inLog.get(id);
        if (index !== undefined && index < this.engine.log.size) {
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
      clock.set();
      steps.push(this.engine.handle(event));
      events.push(event);
      ids.push(id);
      results.push({ ok: true, id, status: 'pending' });
    }
    const clockEvent = clock.settle(events.length > 0);
    if (events.length === 0) return { results, commit: null };
    const batch = emptyBatch();
    if (clockEvent) batch.journal.push(encodeEvent(clockEvent));
    for (const e of events) batch.journal.push(encodeEvent(e));
    const commit = this.commitOf(batch, steps, () => {
      for (const id of ids) this.submitted.add(id);
    });
    return { results, commit };
  }

  /**
   * The runtime's clock for the events of one call: `set()` before the first event reaches the engine (a
   * clock event, if the reading changed), then `settle(journaled)` once the call knows whether it writes
   * any event. Journaled: the clock event goes first in the batch (a replay then proposes the same bytes).
   * Not: the engine's clock goes back to what it was, so nothing changed that storage does not know of.
   */
  private clocked(now: number): { set(): void; settle(journaled: boolean): EngineEvent | null } {
    invariant(Number.isSafeInteger(now) && now >= 0, () => `replica ${this.me}: clock ${now} is not a non-negative safe integer`);
    const before = this.engine.clockReading;
    let event: EngineEvent | null = null;
    return {
      set: () => {
        if (event !== null || now === before) return;
        event = { kind: 'clock', ms: now };
        this.engine.handle(event);
      },
      settle: (journaled) => {
        if (event !== null && !journaled) this.engine.setClock(before);
        return journaled ? event : null;
      },
    };
  }

  /** Requests that reached the log (or, encrypted, an outcome) need no `pending` answer any more. */
  private forgetOrdered(step: EngineStep): void {
    for (const a of step.appended) this.submitted.delete(a.id);
    for (const id of step.resolved) this.submitted.delete(id);
  }

  /** Whether this replica took the request (by id) since it was loaded or in its journal, and it is not in the log yet. */
  wasSubmitted(id: string): boolean {
    return this.submitted.has(id);
  }

  // ---- execution (execution.ts)

  /**
   * The execution stage, one step: what the adapter must read for the next epoch awaiting execution (its
   * entries, then application keys), or the commit that records epochs executed (the applications' state
   * changes, the journaled `executed` events and the checkpoint shares they release, in one write), or null
   * when no epoch waits. The adapter calls it again with what it read, and after each written commit,
   * until null. Reads go to storage as it is plus the writes of epochs executed and not written yet.
   *
   * When several epochs wait (a catch-up, a load after a crash) up to EXECUTED_PER_COMMIT of them, with at
   * most WRITES_PER_COMMIT application writes in all, go into one commit: a random insert into a large
   * SQLite index cost 60 us at 1,500 per transaction and 38 us at 24,000 (1,000,000 rows). The engine sees
   * their `executed` events only when the commit is formed, so nothing but this stage's own memory changes
   * while the reads of the next epochs go on.
   */
  execute(input: { readonly entries?: readonly StoredEntry[]; readonly values?: readonly LoadedValue[] } = {}):
    | { readonly need: 'entries'; readonly start: number; readonly end: number }
    | { readonly need: 'keys'; readonly keys: readonly AppKey[] }
    | { readonly commit: PendingCommit }
    | null {
    const awaiting = this.engine.awaitingExecution;
    const done = this.executed;
    // What was executed ahead must still be the front of the queue (a transfer or rollback may replace it).
    if (done && !done.results.every((r, k) => awaiting[k]?.epoch === r.epoch)) {
      this.executed = null;
      this.execution = null;
      return this.execute();
    }
    let given = input;
    for (;;) {
      const count = this.executed?.results.length ?? 0;
      const job = awaiting[count];
      const full = this.executed !== null && (count >= EXECUTED_PER_COMMIT || this.executed.writes.size >= WRITES_PER_COMMIT);
      if (!job || full) {
        this.execution = null;
        return this.executed ? { commit: this.commitExecuted() } : null;
      }
      if (!this.execution || this.execution.epoch !== job.epoch) {
        const size = job.size - job.first;
        if (size > 0 && !given.entries) return { need: 'entries', start: job.first, end: job.size };
        const entries = size > 0 ? given.entries! : [];
        given = {};
        // Storage holds the epoch's entries (its delivery was written before its execution): anything else is lost storage.
        invariant(
          entries.length === size && entries.every((e, k) => e.index === job.first + k && e.epoch === job.epoch),
          () => `replica ${this.me}: storage holds ${entries.length} entries of epoch ${job.epoch} at ${job.first}, its log ${size}`,
        );
        this.execution = new Execution(this.engine.apps, job.epoch, job.time, entries, this.keepResponsesOf, this.appCache, this.executed?.writes ?? null);
        const prefetch = this.execution.prefetch();
        if (prefetch.length > 0) return { need: 'keys', keys: prefetch };
      }
      const execution = this.execution;
      if (given.values) execution.supply(given.values);
      given = {};
      const r = execution.run();
      if ('missing' in r) return { need: 'keys', keys: [r.missing] };
      if (!this.executed) this.executed = { results: [], writes: new Map() };
      this.executed.results.push(r.done);
      for (const w of r.done.writes) this.executed.writes.set(appValueKey(w.app, w.key), w);
      this.execution = null;
    }
  }

  /** The commit of the epochs executed ahead: their events reach the engine now, in order. */
  private commitExecuted(): PendingCommit {
    const { results, writes } = this.executed!;
    this.executed = null;
    const batch = emptyBatch();
    const steps: EngineStep[] = [];
    for (const r of results) {
      const event: EngineEvent = { kind: 'executed', epoch: r.epoch, digests: r.digests };
      steps.push(this.engine.handle(event));
      batch.journal.push(encodeEvent(event));
    }
    // A key written by several of the epochs is written once, with its last value.
    const last = [...writes.values()];
    batch.app.push(...last);
    return this.commitOf(batch, steps, () => {
      cacheWrites(this.appCache, last);
      this.executions += results.length;
    });
  }

  /** Epochs delivered and not executed yet. */
  get awaitingExecution(): number {
    return this.engine.awaitingExecution.length;
  }

  // ---- state transfer

  /**
   * Whether a peer's signed checkpoint is far enough ahead to be worth a state transfer (the adapter then
   * fetches the entries from this replica's size to the checkpoint's and calls transfer()).
   */
  wantsTransfer(checkpoint: { readonly epoch: number; readonly size: number }, now: number): boolean {
    // Rejoining: every signed checkpoint ahead moves toward the passive bound.
    if (this.mode === 'lost-state') return this.passiveUntil_ !== null && checkpoint.epoch > this.engine.lastDeliveredEpoch && checkpoint.size >= this.engine.log.size;
    if (this.mode !== 'active') return false;
    const delivered = this.sampleProgress(now);
    if (checkpoint.epoch <= delivered || checkpoint.size < this.engine.log.size) return false;
    // Far behind, or behind and stuck: the messages of the epochs we miss may be gone from every outbox.
    return checkpoint.epoch >= delivered + this.opts.transferAfterEpochs || now - this.stalledSince >= this.opts.transferStallMs;
  }

  /** The last delivered epoch, noting when it last changed (progress; the first sample counts as a change). */
  private sampleProgress(now: number): number {
    const delivered = this.engine.lastDeliveredEpoch;
    if (this.progress === null || delivered !== this.progress.epoch) this.progress = { epoch: delivered, at: now };
    return delivered;
  }

  /** Since when nothing was delivered (as last sampled). */
  private get stalledSince(): number {
    return this.progress?.at ?? Number.POSITIVE_INFINITY;
  }

  /**
   * Whether the adapter should ask a peer for its latest signed checkpoint now (then wantsTransfer decides):
   * a peer's frame skipped messages this replica never took (its outbox dropped them: gapSeen), or work
   * waits here and nothing was delivered for transferStallMs (the group may be idle far ahead). At most
   * every probeIntervalMs; the adapter calls probed() when it asked.
   */
  probeDue(now: number): boolean {
    if (this.mode === 'lost-state') return now >= this.nextProbeAt;
    if (this.mode !== 'active' || now < this.nextProbeAt) return false;
    this.sampleProgress(now);
    return this.gapSeen || (this.engine.ab.pendingCount > 0 && now - this.stalledSince >= this.opts.transferStallMs);
  }

  /** The adapter asked a peer (`ahead`: whether that peer's checkpoint was ahead of this replica's log). */
  probed(now: number, ahead: boolean): void {
    this.nextProbeAt = now + this.opts.probeIntervalMs;
    if (!ahead) this.gapSeen = false;
  }

  /**
   * State transfer (engine.ts transferTo): the group's signed checkpoint and the log entries from this
   * replica's size up to it, from any peer (everything is checked; a bad bundle is refused with the
   * reason, and nothing changes). One write holds the entries, their Merkle nodes, the checkpoint and a
   * snapshot of the engine that replaces the journal: the transfer is not an event a replay could redo.
   */
  transfer(
    checkpoint: SignedCheckpoint,
    records: readonly StoredEntry[],
    /** The runtime's clock: a proposal the transfer starts (the next epoch's) says this time. */
    now: number,
  ): { readonly ok: true; readonly commit: PendingCommit } | { readonly ok: false; readonly error: HostError } {
    const stopped = this.modeError();
    if (stopped && (this.mode !== 'lost-state' || this.passiveUntil_ === null)) return { ok: false, error: stopped };
    const size = this.engine.log.size;
    const misplaced = records.findIndex((x, k) => x?.index !== size + k);
    if (misplaced >= 0) return { ok: false, error: { status: 422, code: 'bad-transfer', message: `entry ${misplaced} of the bundle is not at position ${size + misplaced}` } };
    // Checked before the engine moves (a failed transfer leaves it as it was).
    const activate = this.mode === 'lost-state' && isCheckpointShape(checkpoint) && checkpoint.epoch >= this.passiveUntil_!;
    // Rejoining: nothing of the covered epochs runs here again (what the lost state held of them, or what
    // the passive engine started, could say differently what was said before).
    // The commit is a snapshot (no journal), which holds the clock with the rest of the engine's state.
    const clock = this.clocked(now);
    clock.set();
    const r = this.engine.transferTo(checkpoint, records, { silent: this.mode === 'lost-state' });
    clock.settle(r.ok);
    if (!r.ok) return { ok: false, error: { status: 422, code: 'bad-transfer', message: r.reason } };
    if (!activate) return { ok: true, commit: this.commitOf(emptyBatch(), [r.step], () => {}, true) };
    // Past every epoch this replica may have spoken in: active again. What its outbox holds was made by the
    // lost state or while passive (epochs the checkpoint covers): dropped. Outbox ids start far above the
    // stored ones (REJOIN_ID_GAP), and every link resynchronizes from the peer's side. Ids move before
    // the write: if it fails, the adapter drops this core.
    const batch = emptyBatch();
    batch.meta.set('lost-state', '');
    batch.meta.set('rejoin', '');
    const old: { peer: number; ids: number[] }[] = [];
    const resync = new Map<number, LinkResync>();
    for (let j = 0; j < this.n; j++) {
      if (j === this.me) continue;
      const ids = [...this.outbox[j]!.keys()];
      if (ids.length > 0) old.push({ peer: j, ids });
      this.nextId[j] = this.nextId[j]! + REJOIN_ID_GAP;
      batch.meta.set(`next-id/${j}`, String(this.nextId[j]));
      resync.set(j, { tx: true, rx: true, first: 0 });
    }
    batch.outboxDelete.push(...old);
    batch.meta.set('link-resync', JSON.stringify([...resync]));
    const commit = this.commitOf(batch, [r.step], () => {
      for (const o of old) for (const id of o.ids) this.outbox[o.peer]!.delete(id);
      this.mode = 'active';
      this.lostEvidence.clear();
      this.passiveUntil_ = null;
      this.rejoinNonce = null;
      this.rejoinReports.clear();
      this.linkResync.clear();
      for (const [j, x] of resync) this.linkResync.set(j, x);
      for (const l of this.links) {
        l.retryAt = 0;
        l.failures = 0;
      }
      this.rejoins++;
    }, true);
    return { ok: true, commit };
  }

  // ---- rejoining after lost state (rejoin.ts)

  /** The passive bound once known (mode lost-state): this replica is active again from a checkpoint of this epoch on. */
  get passiveUntil(): number | null {
    return this.passiveUntil_;
  }

  /**
   * The nonce for report requests (mode lost-state): `fresh` (16 random bytes from the adapter) unless this
   * core has one already. A report counts only with this core's nonce, so it was made after this replica
   * found out and stopped speaking.
   */
  rejoinNonceFor(fresh: Uint8Array): Uint8Array {
    if (!(fresh instanceof Uint8Array) || fresh.length !== REJOIN_NONCE_BYTES) throw new Error(`a rejoin nonce is ${REJOIN_NONCE_BYTES} bytes`);
    this.rejoinNonce ??= fresh.slice();
    return this.rejoinNonce;
  }

  /** Our report for a peer that rejoins (GET /v1/peer/rejoin-report): our epoch, latest signed checkpoint, MAC'd on our link to it. */
  rejoinReportFor(to: number, nonce: Uint8Array): { readonly ok: true; readonly report: RejoinReportJson } | { readonly ok: false; readonly error: HostError } {
    const stopped = this.modeError();
    if (stopped) return { ok: false, error: stopped };
    const peer = Number.isSafeInteger(to) ? this.peers[to] : undefined;
    if (!peer) return { ok: false, error: { status: 400, code: 'bad-replica', message: `no link from replica ${this.me} to replica ${to}` } };
    if (!(nonce instanceof Uint8Array) || nonce.length !== REJOIN_NONCE_BYTES) return { ok: false, error: { status: 400, code: 'bad-nonce', message: `the nonce must be ${REJOIN_NONCE_BYTES} bytes of hex` } };
    return { ok: true, report: makeRejoinReport(peer.outgoing, nonce, this.engine.ab.currentEpoch, this.engine.latestCheckpoint) };
  }

  /**
   * A peer's report (mode lost-state), as its JSON answer. Counted if authentic on the peer's link to us,
   * with this core's nonce, and with a valid signed checkpoint no more than REPORT_CHECKPOINT_LAG epochs
   * behind the epoch it reports (else the reason; an honest peer whose checkpoints lag is asked again
   * later). Once the reporters and this replica form a quorum, the passive bound is fixed and written.
   */
  takeRejoinReport(peer: number, json: unknown): { readonly ok: true; readonly commit: PendingCommit | null } | { readonly ok: false; readonly reason: string } {
    if (this.mode !== 'lost-state') return { ok: false, reason: 'this replica is not rejoining' };
    if (this.passiveUntil_ !== null) return { ok: true, commit: null };
    const link = this.peers[peer];
    if (!link) return { ok: false, reason: `no link with replica ${peer}` };
    const r = parseRejoinReport(json);
    if (typeof r === 'string') return { ok: false, reason: `malformed report: ${r}` };
    if (this.rejoinNonce === null || !bytesEqual(r.nonce, this.rejoinNonce)) return { ok: false, reason: 'the report is not for this request (nonce)' };
    if (!rejoinReportAuthentic(link.incoming, r)) return { ok: false, reason: `the report's MAC is not replica ${peer}'s` };
    const signedEpoch = r.checkpoint === null ? -1 : r.checkpoint.epoch;
    if (r.checkpoint !== null && !this.engine.checkpointVerifies(r.checkpoint)) return { ok: false, reason: 'the checkpoint in the report does not verify' };
    if (r.epoch > signedEpoch + REPORT_CHECKPOINT_LAG) return { ok: false, reason: `epoch ${r.epoch} reported, and the latest signed checkpoint shown is of epoch ${signedEpoch}: asked again later` };
    this.rejoinReports.set(peer, r.epoch);
    if (!this.group.quorumSystem.isQuorum([this.me, ...this.rejoinReports.keys()])) return { ok: true, commit: null };
    const bound = passiveBound(this.rejoinReports.values(), this.engine.ab.config.epochWindow);
    const batch = emptyBatch();
    batch.meta.set('rejoin', JSON.stringify({ passiveUntil: bound }));
    return { ok: true, commit: { batch, apply: () => (this.passiveUntil_ = bound) } };
  }

  // ---- peers: incoming

  /**
   * One POST from a peer: authenticate, then apply every message not applied before. The response stands
   * once the commit (if any) is written.
   */
  receiveFrame(frame: Uint8Array, now: number): { response: FrameResponse; commit: PendingCommit | null } {
    const receivers = this.resyncedReceivers(frame);
    const v = checkFrame(frame, receivers);
    if (!v.ok) {
      const status = v.code === 'too-large' ? 413 : v.code === 'replay' || v.code === 'ahead' ? 409 : v.code === 'bad-mac' ? 401 : 400;
      // For replay/ahead (authentic frames only) the sender resynchronizes its next seq from our ack.
      const d = decodeFrame(frame);
      const claimed = d.ok ? receivers[d.frame.sender] : undefined;
      const ack = (v.code === 'replay' || v.code === 'ahead') && claimed ? { ack: claimed.contiguousAck } : {};
      return { response: { status, body: { error: { code: `link-${v.code}`, message: v.message }, ...ack } }, commit: null };
    }
    if (v.seq === 0) return { response: { status: 400, body: { error: { code: 'bad-payload', message: 'ack-only frames are not used on this link' } } }, commit: null };
    // Link state that says we lost what we had written: frames we never took were taken, or the peer holds
    // frames of ours we never sent. An honest peer's seqs follow each other (one frame in flight, the same
    // seq again after a failure), and its ack is at most one frame past what we allocated (a crash between
    // its taking a frame and our noting the next seq).
    const rx = receivers[v.sender]!;
    const resync = this.linkResync.get(v.sender);
    const lost =
      v.seq > rx.contiguousAck + 1
        ? `its frame ${v.seq} follows our last taken ${rx.contiguousAck}`
        : v.ack > this.allocated[v.sender]! + 1 && !resync?.tx
          ? `it acknowledges our frame ${v.ack}, and we only sent up to ${this.allocated[v.sender]}`
          : null;
    if (lost !== null) {
      const commit = this.evidenceOfLoss(v.sender, lost);
      const stopped = this.modeError() ?? { status: 503, code: 'link-gap', message: `replica ${v.sender}'s link state does not follow ours (${lost}); not taken` };
      return { response: { status: stopped.status, body: { error: { code: stopped.code, message: stopped.message } } }, commit };
    }
    const stopped = this.modeError();
    if (stopped) return { response: { status: stopped.status, body: { error: { code: stopped.code, message: stopped.message } } }, commit: null };
    const over = this.overBudget(v.sender);
    if (over !== null) {
      // Not taken (its seq stays fresh): the peer retries later, after an epoch or more refilled its budget.
      this.throttled[v.sender]!++;
      this.opts.onFaults?.([{ peer: v.sender, tag: 'link', kind: 'unexpected', detail: `over its budget of ${over}: frame refused (throttled)` }]);
      return { response: { status: 429, body: { error: { code: 'throttled', message: `replica ${v.sender} is over its budget of ${over} here; retry later` } } }, commit: null };
    }
    let items: { id: number; msg: Message }[];
    let low: number;
    try {
      ({ items, low } = decodeTransport(v.payload));
    } catch (e) {
      if (!(e instanceof TransportError)) throw e;
      return { response: { status: 400, body: { error: { code: 'bad-payload', message: e.message } } }, commit: null };
    }
    const from = v.sender;
    const inbox = this.inbox[from]!;
    const accepted: number[] = [];
    const deferred: number[] = [];
    const batch = emptyBatch();
    const steps: EngineStep[] = [];
    // Ids below the sender's `low` will never come (accepted, or dropped from its bounded outbox).
    const skipped = inbox.raise(low - 1);
    if (skipped > 0) this.gapSeen = true;
    let newIds = skipped >= 0 ? 1 : 0;
    const clock = this.clocked(now);
    for (const { id, msg } of items) {
      if (inbox.has(id)) {
        accepted.push(id);
        continue;
      }
      const event: EngineEvent = { kind: 'peer', from, msg };
      clock.set();
      const step = this.engine.handle(event);
      if (step.deferred) {
        deferred.push(id);
        continue;
      }
      inbox.add(id);
      newIds++;
      accepted.push(id);
      for (const f of step.faults) if (f.peer >= 0 && f.peer < this.n) this.faultBudget[f.peer]!--;
      if (step.unchanged) {
        // Acknowledged, not journaled: a peer cannot make us store what changes nothing (and it pays for it).
        this.unchangedFrom[from]!++;
        this.unchangedBudget[from]!--;
        continue;
      }
      batch.journal.push(encodeEvent(event));
      steps.push(step);
    }
    const clockEvent = clock.settle(batch.journal.length > 0);
    if (clockEvent) batch.journal.unshift(encodeEvent(clockEvent));
    const receiver = receivers[from]!.commit(v.seq);
    batch.meta.set(`link-rx/${from}`, JSON.stringify(receiver.toJSON()));
    if (newIds > 0) batch.inbox.set(from, inbox.state());
    // A frame that acknowledges what we sent after the rejoin was sent after it: the window is set.
    const rxSettled = resync?.rx === true && !resync.tx && v.ack >= resync.first;
    if (rxSettled) batch.meta.set('link-resync', this.resyncJSON(from, { ...resync, rx: false }));
    const commit = this.commitOf(batch, steps, () => {
      this.receivers[from] = receiver;
      if (rxSettled) this.settleResync(from, { ...resync, rx: false });
    });
    return { response: { status: 200, body: { accepted, deferred } }, commit };
  }

  /**
   * A peer's link state says this replica lost written state. One peer may lie (it holds our link key and
   * can make any seq or ack), so only a kernel of such peers (one of them honest) proves it: then the
   * replica stops for good (mode 'lost-state', persisted), since it may sign differently what it signed
   * before (issue 13, bug 3: a replica whose storage went back re-signed a different history). Until then
   * the anomalous peer's frames are not taken (a liar only blocks its own link).
   */
  private evidenceOfLoss(peer: number, why: string): PendingCommit | null {
    if (this.lostEvidence.has(peer)) return null;
    this.lostEvidence.set(peer, why);
    if (this.mode === 'lost-state' || !this.group.quorumSystem.isKernel(this.lostEvidence.keys())) return null;
    this.mode = 'lost-state';
    const batch = emptyBatch();
    batch.meta.set('lost-state', JSON.stringify([...this.lostEvidence]));
    if (!this.formatWritten) batch.meta.set('format', STORAGE_FORMAT);
    return { batch, apply: () => (this.formatWritten = true) };
  }

  /**
   * The receivers to check a frame with: ours, except after a rejoin, where an authentic frame from a peer
   * whose link is still resynchronizing, with a seq past our window, sets the window just below it (the
   * peer's frames before it were sent while we were lost or passive, and are not needed: state transfer
   * covered their epochs).
   */
  private resyncedReceivers(frame: Uint8Array): readonly (LinkReceiver | undefined)[] {
    if (this.linkResync.size === 0) return this.receivers;
    const d = decodeFrame(frame);
    if (!d.ok || !this.linkResync.get(d.frame.sender)?.rx) return this.receivers;
    const j = d.frame.sender;
    const current = this.receivers[j];
    if (!current || d.frame.seq <= current.contiguousAck + 1) return this.receivers;
    const rebased = LinkReceiver.fromJSON(this.peers[j]!.incoming, { ack: d.frame.seq - 1, received: [] });
    if (!rebased.checkDecoded(d.frame).ok) return this.receivers;
    const out = this.receivers.slice();
    out[j] = rebased;
    return out;
  }

  /** The persisted form of the links still resynchronizing, with peer j's entry replaced (removed once settled). */
  private resyncJSON(j: number, x: LinkResync): string {
    const m = new Map(this.linkResync);
    if (x.tx || x.rx) m.set(j, x);
    else m.delete(j);
    return JSON.stringify([...m]);
  }

  private settleResync(j: number, x: LinkResync): void {
    if (x.tx || x.rx) this.linkResync.set(j, x);
    else this.linkResync.delete(j);
  }

  /**
   * Whether a peer's faults used up its budget: frames from it then wait (429), so a Byzantine peer's
   * junk costs us a MAC check per frame, not decoding and protocol work (issue 13, bug 4: a flood of small
   * junk messages cut honest throughput by 38%). The budget refills with every epoch delivered; honest
   * peers cause no faults at all (the whole-replica simulator checks that). The same for messages that
   * change nothing (UNCHANGED_BUDGET). Returns which budget is spent, or null.
   */
  private overBudget(peer: number): string | null {
    const epoch = this.engine.ab.currentEpoch;
    if (epoch > this.budgetEpoch) {
      const epochs = epoch - this.budgetEpoch;
      for (let j = 0; j < this.n; j++) {
        this.faultBudget[j] = Math.min(FAULT_BUDGET, this.faultBudget[j]! + epochs * FAULT_REFILL);
        this.unchangedBudget[j] = Math.min(UNCHANGED_BUDGET, this.unchangedBudget[j]! + epochs * UNCHANGED_REFILL);
      }
      this.budgetEpoch = epoch;
    }
    if (this.faultBudget[peer]! <= 0) return `${FAULT_BUDGET} faults`;
    if (this.unchangedBudget[peer]! <= 0) return `${UNCHANGED_BUDGET} messages that change nothing`;
    return null;
  }

  /**
   * Step effects into a write batch (outbox messages get their per-link ids here), compaction decided,
   * format marked; `apply` moves the counters, fills the outbox and then runs `after`.
   */
  private commitOf(batch: MutableWriteBatch, steps: readonly EngineStep[], after: () => void, snapshot = false): PendingCommit {
    const ids = new Map<number, number>();
    /** Parallel to the outbox messages this call adds (after `firstNew`): their epochs (OutboxItem.epoch). */
    const firstNew = batch.outbox.length;
    const epochs: number[] = [];
    // A broadcast is one message object for n - 1 peers in a row: encoded and parsed once.
    let lastMsg: Message | null = null;
    let lastBytes: Uint8Array = new Uint8Array(0);
    let lastEpoch = 0;
    for (const s of steps) {
      if (s.faults.length > 0) this.opts.onFaults?.(s.faults);
      for (const o of s.outgoing) {
        const id = ids.get(o.to) ?? this.nextId[o.to]!;
        ids.set(o.to, id + 1);
        if (o.msg !== lastMsg) {
          const bytes = encodeMessage(o.msg);
          // Every message fits a link frame by construction; one that does not would block its link forever.
          invariant(bytes.length <= MAX_MESSAGE_BYTES, () => `replica ${this.me} made a ${o.msg.body.t} of ${bytes.length} bytes for ${o.msg.tag}, over ${MAX_MESSAGE_BYTES}`);
          lastMsg = o.msg;
          lastBytes = bytes;
          lastEpoch = this.epochOfTag(o.msg.tag);
        }
        batch.outbox.push({ peer: o.to, id, bytes: lastBytes });
        epochs.push(lastEpoch);
      }
      batch.log.push(...s.appended);
      batch.nodes.push(...s.nodes);
      batch.checkpoints.push(...s.checkpoints);
    }
    for (const [peer, next] of ids) batch.meta.set(`next-id/${peer}`, String(next));
    if (!this.formatWritten) batch.meta.set('format', STORAGE_FORMAT);
    const trimmed = this.trimOutboxes(steps);
    batch.outboxDelete.push(...trimmed);
    const written = snapshot ? this.withSnapshot(batch) : this.maybeCompact(batch, steps);
    const partKeys = written.snapshot ? this.nextParts : null;
    return {
      batch: written,
      apply: () => {
        this.formatWritten = true;
        for (const [peer, next] of ids) this.nextId[peer] = next;
        batch.outbox.forEach((m, k) => this.outbox[m.peer]!.set(m.id, { bytes: m.bytes, notBefore: 0, epoch: k >= firstNew ? epochs[k - firstNew]! : this.epochOfTag(peekTag(m.bytes)) }));
        for (const t of trimmed) for (const id of t.ids) this.outbox[t.peer]!.delete(id);
        this.trimmedMessages += trimmed.reduce((a, t) => a + t.ids.length, 0);
        after();
        // After `after` (a submit's ids are added there): what these steps ordered is forgotten.
        for (const s of steps) this.forgetOrdered(s);
        if (written.snapshot) {
          this.journalLength = 0;
          this.journalBytes = 0;
          this.snapshotBytes = written.snapshot.length;
          this.storedParts = new Set(partKeys!);
          this.compactions++;
        } else {
          this.journalLength += written.journal.length;
          for (const b of written.journal) this.journalBytes += b.length;
        }
      },
    };
  }

  /**
   * Bounded outboxes (issue 14): once a step brings a newer signed checkpoint of epoch E, messages of epochs
   * up to E - transferAfterEpochs leave every outbox. A peer that has not taken them is that far behind:
   * it takes a state transfer (any peer's signed checkpoint and entries) instead, so outboxes hold the
   * last epochs' messages, not everything since a peer went down (48 MB per peer after 156 s down at full
   * load before). Frames tell the peer the lowest id left (transport `low`), so gaps do not pile up in
   * its window of applied ids.
   */
  private trimOutboxes(steps: readonly EngineStep[]): { peer: number; ids: number[] }[] {
    let newest = -1;
    for (const s of steps) for (const c of s.checkpoints) newest = Math.max(newest, c.epoch);
    if (newest < 0) return [];
    const cut = newest - this.opts.transferAfterEpochs;
    const out: { peer: number; ids: number[] }[] = [];
    this.outbox.forEach((box, peer) => {
      const ids: number[] = [];
      for (const [id, item] of box) if (item.epoch <= cut) ids.push(id);
      if (ids.length > 0) out.push({ peer, ids });
    });
    return out;
  }

  /**
   * Compaction: once the journal holds `compactAfter` events and an epoch was just delivered (so the
   * snapshot's live instances are few), the batch carries the engine's snapshot instead of its journal
   * entries, and the store replaces the journal with it; storage then grows with the log only.
   * Amortized: also not before the journal since the last snapshot is half that snapshot's size. Under
   * load a snapshot (queue, kept batches, de-duplication window) is tens of megabytes, and 2,000 events
   * come in seconds: encoding it every time was 12% of a loaded Node replica's CPU (docs/benchmarks.md).
   */
  private maybeCompact(batch: MutableWriteBatch, steps: readonly EngineStep[]): MutableWriteBatch {
    const delivered = steps.some((s) => s.appended.length > 0 || s.checkpoints.length > 0);
    if (!delivered || this.journalLength + batch.journal.length < this.opts.compactAfter) return batch;
    if (this.journalBytes + batch.journal.reduce((s, b) => s + b.length, 0) < this.snapshotBytes / 2) return batch;
    return this.withSnapshot(batch);
  }

  /** The keys of the parts of the last snapshot made (stored once its batch is written). */
  private nextParts: ReadonlySet<string> = new Set();

  /**
   * The batch with the engine's snapshot in place of its journal: the main state, the parts storage does not
   * hold yet, and the deletion of the parts the state no longer has (engine.ts snapshotState).
   */
  private withSnapshot(batch: MutableWriteBatch): MutableWriteBatch {
    const s = this.engine.snapshotState(this.storedParts);
    this.nextParts = s.keys;
    return { ...batch, journal: [], snapshot: s.main, snapshotParts: { put: s.parts, delete: [...this.storedParts].filter((k) => !s.keys.has(k)) } };
  }

  // ---- peers: outgoing

  /**
   * The peers to post to now: an outbox message is due, no POST is in flight on the link, its backoff is
   * over, and a connection is free (maxConcurrentPosts in all). Round-robin start, so a full set of
   * connections does not starve a peer.
   */
  duePeers(now: number): number[] {
    if (this.mode !== 'active') return [];
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
    return due;
  }

  /**
   * The next frame for peer j (due outbox messages in id order, up to the POST limits), or null if none is
   * due or a POST is already in flight. The link is then in flight until frameAnswered or frameFailed.
   */
  outgoingFrame(j: number, now: number): OutgoingFrame | null {
    const link = this.links[j]!;
    if (j === this.me || link.inFlight) return null;
    const picked: { id: number; bytes: Uint8Array }[] = [];
    let bytes = 0;
    const maxMessages = link.isolating ? 1 : this.opts.maxPostMessages;
    // The outbox is in id order (loaded sorted, filled in order): no sort per frame.
    for (const [id, item] of this.outbox[j]!) {
      if (item.notBefore > now) continue;
      if (picked.length > 0 && (bytes + item.bytes.length > this.opts.maxPostBytes || picked.length >= maxMessages)) break;
      picked.push({ id, bytes: item.bytes });
      bytes += item.bytes.length + 12;
    }
    if (picked.length === 0) return null;
    const { seq, sender } = this.senders[j]!.allocate();
    const low = this.outbox[j]!.keys().next().value ?? 0;
    const frame = sender.seal(seq, encodeTransport(picked, low), this.receivers[j]!.contiguousAck);
    link.inFlight = true;
    this.allocated[j] = Math.max(this.allocated[j]!, seq);
    return { peer: j, seq, bytes: frame, ids: picked.map((p) => p.id), sender };
  }

  /**
   * The peer's answer to a frame. A 200 acknowledgement returns the commit that deletes what the peer
   * took (and persists the link's next seq); anything else counts as a failure (backoff), after a
   * resynchronization of the link's seq if the peer says replay/ahead.
   */
  frameAnswered(f: OutgoingFrame, res: { readonly status: number; readonly body: unknown }, now: number): PendingCommit | null {
    const j = f.peer;
    if (res.status === 409) {
      const b = res.body as { error?: { code?: unknown }; ack?: unknown } | null;
      if ((b?.error?.code === 'link-replay' || b?.error?.code === 'link-ahead') && Number.isSafeInteger(b?.ack)) {
        const ack = b!.ack as number;
        const resync = this.linkResync.get(j);
        // The peer took frames past the one we just sent: we lost what we had written (or it lies), unless
        // this link resynchronizes after a rejoin.
        if (ack > f.seq && !resync?.tx) {
          this.frameFailed(f, `replica ${j} acknowledges our frame ${ack}, past the ${f.seq} we sent`, now);
          return this.evidenceOfLoss(j, `it acknowledges our frame ${ack}, and we only sent up to ${f.seq}`);
        }
        // Resynchronize, durably: storage must never be behind a seq the peer took (that would look like
        // lost state after a restart), so the new next seq is written before it is used.
        const next = Math.max(f.sender.next, ack + 1);
        const sender = LinkSender.fromJSON(this.peers[j]!.outgoing, { next, peerAck: next - 1 });
        return {
          batch: { ...emptyBatch(), meta: new Map([[`link-tx/${j}`, JSON.stringify(sender.toJSON())]]) },
          apply: () => {
            this.senders[j] = sender;
            this.allocated[j] = Math.max(this.allocated[j]!, next - 1);
            this.frameFailed(f, `link resynchronized at seq ${next} (${String(b?.error?.code)})`, now);
          },
        };
      }
    }
    if (refusedForGood(res)) return this.refused(f, res, now);
    if (res.status !== 200) {
      this.frameFailed(f, `HTTP ${res.status}: ${JSON.stringify(res.body).slice(0, 200)}`, now);
      return null;
    }
    let ack: TransportAck;
    try {
      ack = parseAck(res.body, f.ids.length);
    } catch (e) {
      this.frameFailed(f, e instanceof Error ? e.message : String(e), now);
      return null;
    }
    const acked = f.sender.acknowledge(f.seq);
    const sender = acked.ok ? acked.sender : f.sender;
    const sent = new Set(f.ids);
    const accepted = ack.accepted.filter((id) => sent.has(id));
    const meta = new Map([[`link-tx/${j}`, JSON.stringify(sender.toJSON())]]);
    // After a rejoin: the peer took a frame of ours, so our seqs follow its window again.
    const resync = this.linkResync.get(j);
    const txSettled = resync?.tx ? { ...resync, tx: false, first: f.seq } : null;
    if (txSettled) meta.set('link-resync', this.resyncJSON(j, txSettled));
    // Nothing moves before the write: with the link still in flight, a core whose write failed (and that
    // the adapter is about to replace) sends nothing more on it, so the peer never holds a frame of ours
    // that storage does not know of (it would look like lost state).
    return {
      batch: { ...emptyBatch(), outboxDelete: accepted.length > 0 ? [{ peer: j, ids: accepted }] : [], meta },
      apply: () => {
        this.senders[j] = sender;
        for (const id of accepted) this.outbox[j]!.delete(id);
        for (const id of ack.deferred) {
          const item = this.outbox[j]!.get(id);
          if (item && sent.has(id)) item.notBefore = now + this.opts.deferRetryMs;
        }
        const link = this.links[j]!;
        link.inFlight = false;
        link.failures = 0;
        link.retryAt = 0;
        link.lastError = null;
        link.isolating = false;
        link.sentFrames++;
        link.ackedMessages += accepted.length;
        if (txSettled) this.settleResync(j, txSettled);
      },
    };
  }

  /**
   * The peer refused a frame for what it holds (400 bad-payload, 413), which retrying cannot change: a
   * link must never block forever on one message. Several messages: send them one per frame to find the
   * refused one. One message: drop it (an honest peer refusing an honest message means a bug or a version
   * mismatch, so it is logged as lastError and counted in `dropped`); the rest of the link goes on.
   */
  private refused(f: OutgoingFrame, res: { readonly status: number; readonly body: unknown }, now: number): PendingCommit | null {
    const link = this.links[f.peer]!;
    const why = `HTTP ${res.status}: ${JSON.stringify(res.body).slice(0, 200)}`;
    link.inFlight = false;
    link.retryAt = now;
    if (f.ids.length > 1) {
      link.isolating = true;
      link.lastError = `${why}; sending one message per frame to find the refused one`;
      return null;
    }
    const id = f.ids[0]!;
    link.isolating = false;
    link.dropped++;
    link.lastError = `${why}; message ${id} dropped (refused alone)`;
    return {
      batch: { ...emptyBatch(), outboxDelete: [{ peer: f.peer, ids: [id] }] },
      apply: () => {
        this.outbox[f.peer]!.delete(id);
      },
    };
  }

  /** The POST failed (network error, timeout): back off. */
  frameFailed(f: OutgoingFrame, error: string, now: number): void {
    const link = this.links[f.peer]!;
    link.inFlight = false;
    link.failures++;
    link.lastError = error;
    link.retryAt = now + Math.min(this.opts.retryMaxMs, this.opts.retryMinMs * 2 ** Math.min(link.failures - 1, 20));
  }

  /**
   * When the next POST could be due (epoch ms), or null if nothing waits that a flush could start now
   * (links with a POST in flight are looked at again when it finishes; with every connection taken, so
   * are the others).
   */
  /**
   * When probeDue may turn true (epoch ms): while a gap was seen, or while work waits undelivered; null
   * otherwise. Adapters with timers wake for it too; a function platform's tick does not wait for it
   * (the next tick or event probes).
   */
  nextProbeWake(): number | null {
    if (this.mode === 'lost-state') return this.nextProbeAt;
    if (this.mode !== 'active') return null;
    if (this.gapSeen) return this.nextProbeAt;
    if (this.engine.ab.pendingCount > 0 && this.progress) return Math.max(this.nextProbeAt, this.progress.at + this.opts.transferStallMs);
    return null;
  }

  nextWake(): number | null {
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

  /** Bytes waiting for each peer. */
  outboxBytes(): number[] {
    return this.outbox.map((m) => [...m.values()].reduce((s, i) => s + i.bytes.length, 0));
  }

  metrics(): HostCoreMetrics {
    return {
      replica: this.secrets.id,
      index: this.me,
      mode: this.mode,
      lostStateEvidence: Object.fromEntries(this.lostEvidence),
      rejoin: this.mode === 'lost-state' ? { reports: Object.fromEntries(this.rejoinReports), passiveUntil: this.passiveUntil_ } : null,
      rejoins: this.rejoins,
      engine: this.engine.metrics(),
      outbox: this.outboxSizes(),
      links: this.links.map((l, peer) => ({
        peer,
        failures: l.failures,
        lastError: l.lastError,
        sentFrames: l.sentFrames,
        ackedMessages: l.ackedMessages,
        dropped: l.dropped,
        unchanged: this.unchangedFrom[peer]!,
        faultBudget: this.faultBudget[peer]!,
        unchangedBudget: this.unchangedBudget[peer]!,
        throttled: this.throttled[peer]!,
      })),
      replayedEvents: this.replayedEvents,
      journalEvents: this.journalLength,
      compactions: this.compactions,
      trimmedMessages: this.trimmedMessages,
      executions: this.executions,
      awaitingExecution: this.engine.awaitingExecution.length,
      submitted: this.submitted.size,
    };
  }
}

/** The earlier of two wake times (null: none): nextWake and nextProbeWake, for adapters with timers. */
export function earliestWake(a: number | null, b: number | null): number | null {
  return a === null ? b : b === null ? a : Math.min(a, b);
}

/** An answer that says the frame's contents will never be taken (not the link, not the peer's state). */
function refusedForGood(res: { readonly status: number; readonly body: unknown }): boolean {
  const code = (res.body as { error?: { code?: unknown } } | null)?.error?.code;
  return res.status === 413 || (res.status === 400 && code === 'bad-payload');
}

function parseAck(body: unknown, count: number): TransportAck {
  const o = body as { accepted?: unknown; deferred?: unknown } | null;
  const ids = (x: unknown) => (Array.isArray(x) && x.every((v) => Number.isSafeInteger(v)) ? (x as number[]) : null);
  const accepted = ids(o?.accepted);
  const deferred = ids(o?.deferred);
  if (!accepted || !deferred) throw new Error(`malformed acknowledgement for ${count} messages`);
  return { accepted, deferred };
}

export function refusalError(r: SubmitRefusal): HostError {
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
