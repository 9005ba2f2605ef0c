/**
 * The replica engine (docs/design.md section 7): everything a replica does, as one deterministic state machine
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
 * so the journal only holds events from outside, and in FIFO order after the outputs of the step that made
 * them: handled depth-first (as before), a self-message could complete a later epoch whose entries were
 * appended before those of the epoch being delivered (a lagging replica finishing epochs e and e + 1 in
 * one step, e + 1 waiting on its own decryption share), and the log diverged for good.
 *
 * History is not kept here: the engine keeps the Merkle tree's right edge (merkle-nodes.ts) and the ids of
 * the entries of recent epochs (de-duplication), and every step says what storage must add (entries, the
 * Merkle nodes they complete, kept application answers, checkpoints). Queries about the past (a request's
 * position, a receipt, a consistency proof) read storage (history.ts). A request appended again after the
 * de-duplication window (a Byzantine proposer replaying an old one) takes a new position; honest replicas
 * agree on it, since the window is a function of the log.
 *
 * Replicated applications (shared/app, docs/design.md section 11) run in a stage of their own after ordering
 * (execution.ts): with applications, a delivered epoch waits in `awaitingExecution` until the host has
 * applied its entries to the applications' state in storage and handed back their digests as an
 * `executed` event; only then does the checkpoint certifier get the epoch, so a checkpoint's state digest
 * (shared/app/state.ts) binds the log and what the applications made of it. Epochs execute in order. The
 * engine keeps no application state: the digest list of each recent epoch (appDigestsAt) is all, since a
 * statement about app state under a signed checkpoint must carry exactly the list that checkpoint signed.
 */
import { sha256 } from '../crypto/sha256.ts';
import { invariant } from '../invariant/index.ts';
import { bytesEqual, toHex } from '../crypto/bytes.ts';
import type { ProtocolContext } from '../protocols/context.ts';
import { DEFAULT_AB_CONFIG } from '../protocols/ab.ts';
import type { AbConfig, AbSnapshot, AtomicBroadcast } from '../protocols/ab.ts';
import { CheckpointCertifier } from '../protocols/checkpoint.ts';
import type { ThresholdDecryptor } from '../protocols/crypto-suite.ts';
import { ENVELOPE_BYTES, ENVELOPE_CIPHERTEXT, ENVELOPE_PLAIN, SecureCausalBroadcast, envelope } from '../protocols/scab.ts';
import type { ScabDelivery, ScabOptions, ScabSnapshot } from '../protocols/scab.ts';
import type { CertifierState } from '../protocols/checkpoint.ts';
import { ENGINE_PREFIXES, parseInstanceTag } from '../protocols/instance-tag.ts';
import { decodeState, encodeState } from './state-codec.ts';
import type { Message } from '../protocols/messages.ts';
import type { Fault, Step } from '../protocols/step.ts';
import type { SignedCheckpoint } from '../log/checkpoint.ts';
import { checkpointPayload, checkpointTag, EMPTY_TIME_CHAIN, isCheckpointShape, timeChainNext } from '../log/checkpoint.ts';
import { leafHash } from '../log/merkle.ts';
import { MerkleFrontier } from '../log/merkle-nodes.ts';
import type { StoredNode } from '../log/merkle-nodes.ts';
import { DEFAULT_DEDUP_REQUESTS } from '../protocols/ab.ts';
import type { ReplicatedApp } from '../app/types.ts';
import { checkAppNames, computeStateDigest } from '../app/state.ts';
import type { AppDigest } from '../app/state.ts';

export interface LogAppend {
  readonly index: number;
  /** Hex SHA-256 of the request: the id clients use. */
  readonly id: string;
  readonly epoch: number;
  /** The epoch's agreed time (ms since 1970): kept with each entry to serve state transfers (transferTo). */
  readonly time: number;
  readonly entry: Uint8Array;
}

/** What became of an encrypted request (by the hex SHA-256 of its ciphertext). */
export type CiphertextOutcome =
  | { readonly state: 'pending' }
  | { readonly state: 'decrypting' }
  /** Decrypted; its plaintext is at `index` in the log (or was already, when the same plaintext came earlier). */
  | { readonly state: 'delivered'; readonly index: number; readonly plaintextId: string }
  /** Ordered but takes no position: valid yet not decryptable with the group key. */
  | { readonly state: 'skipped' };

export interface EngineStep {
  /** Messages for other replicas, in order. */
  readonly outgoing: { readonly to: number; readonly msg: Message }[];
  readonly appended: LogAppend[];
  /** Merkle nodes completed by the appended entries, for storage (merkle-nodes.ts). */
  readonly nodes: StoredNode[];
  /** Ciphertext ids whose outcome became known (decrypted into the log, or skipped). */
  readonly resolved: string[];
  readonly checkpoints: SignedCheckpoint[];
  readonly faults: Fault[];
  /**
   * The event was not accepted yet (a message for an instance beyond the bounded window): nothing changed,
   * it must not be journaled or acknowledged, and the sender retries it later.
   */
  readonly deferred: boolean;
  /**
   * The event changed nothing (a message for a collected epoch, a repeat of what was taken): it need not be
   * journaled (the host acknowledges it without storing it; replaying without it gives the same state).
   */
  readonly unchanged: boolean;
}

/** A delivered epoch whose entries wait to be applied to the applications (execution.ts). */
export interface AwaitingExecution {
  readonly epoch: number;
  /** The log's size and root after the epoch (what its checkpoint signs). */
  readonly size: number;
  readonly root: Uint8Array;
  /** The epoch's entries are log positions [first, size). */
  readonly first: number;
  /** Whether the certifier gets the epoch once executed (not for epochs taken by state transfer). */
  certify: boolean;
  /** The group-signed state digest the execution must give (the checkpoint a state transfer took). */
  readonly expect?: Uint8Array;
  /** The epoch's agreed time (AppPosition.time of its entries) and the time chain after it. */
  readonly time: number;
  readonly timeChain: Uint8Array;
}

export type EngineEvent =
  | { readonly kind: 'submit'; readonly request: Uint8Array }
  /** The applications' digests after executing the first awaiting epoch (execution.ts). */
  | { readonly kind: 'executed'; readonly epoch: number; readonly digests: readonly AppDigest[] }
  /** A TDH2 ciphertext (encoded) of a request, for secure causal atomic broadcast. */
  | { readonly kind: 'submit-encrypted'; readonly ciphertext: Uint8Array }
  | { readonly kind: 'peer'; readonly from: number; readonly msg: Message }
  /** The runtime's clock (ms since 1970) for the proposals made from now on (AtomicBroadcast.setClock). */
  | { readonly kind: 'clock'; readonly ms: number };

/**
 * 'overloaded': the queue of pending requests is full (it drains as epochs are ordered). 'memory-full': the
 * engine's state (queue, kept batches, windows) is estimated at its memory budget; it is made of recent
 * epochs only (the log and the applications' state are in storage), so it drains as the group orders.
 */
export type SubmitRefusal = { readonly code: 'too-large' | 'overloaded' | 'memory-full' | 'invalid-ciphertext'; readonly message: string };

/**
 * Estimated bytes per id in the engine's window of recent entries (a Map entry keyed by the 64-digit hex
 * id: 129 B measured with node --expose-gc, docs/benchmarks.md), rounded up.
 */
export const RECENT_ID_BYTES = 144;
/** Estimated bytes per digest in atomic broadcast's de-duplication window (a Map entry and a 64-digit string). */
export const DEDUP_ENTRY_BYTES = 144;
/** Estimated bytes per remembered ciphertext outcome (a Map entry keyed by a hex id, and its record). */
export const OUTCOME_ENTRY_BYTES = 160;
/**
 * Default memory budget of one engine (its estimate, retainedBytes). A Durable Object has 128 MB for
 * everything: the isolate, the code, in-flight messages and this; 64 MiB leaves room for the rest.
 */
export const DEFAULT_MEMORY_BUDGET_BYTES = 64 * 1024 * 1024;

export interface EngineOptions {
  /** Atomic broadcast limits; maxRequestBytes is what a client may submit (plain, or a ciphertext). */
  readonly ab?: Partial<AbConfig>;
  /** Epochs for which ciphertext ids stay resolvable to their outcome (status queries). Default 1024. */
  readonly ciphertextEpochs?: number;
  /**
   * Replicated applications (shared/app): a factory (instances hold no state: it is in storage). Every
   * replica of a group must run the same list in the same order: their digests are part of the signed
   * state digest.
   */
  readonly apps?: () => readonly ReplicatedApp[];
  /**
   * How many of the latest delivered epochs keep the app digest list that went into their checkpoint's
   * state digest (appDigestsAt). Default 64. A statement about app state (a CA directory answer) must carry
   * exactly that list, and apps other than the one answering keep no past versions to recompute it from.
   */
  readonly digestEpochs?: number;
  /**
   * Apps whose responses execution keeps in their state (execution.ts responseKey), e.g. ['ca'] so a
   * client can fetch the answer to its ordered request. Default none: the notary's answers are derivable
   * from its state.
   */
  readonly keepResponsesOf?: readonly string[];
  /**
   * Submissions are refused ('memory-full') once retainedBytes() reaches this (default
   * DEFAULT_MEMORY_BUDGET_BYTES). Deliveries are never refused: the group's order is not this replica's
   * to decline, so the budget bounds what this replica lets in, and what its peers let in is bounded by
   * theirs and by the batch limits.
   */
  readonly memoryBudgetBytes?: number;
}

/**
 * Tags (instance-tag.ts): atomic broadcast at `ab` (as before encryption existed), decryption shares at
 * `dec/<epoch>`, checkpoint shares at `ckpt/<epoch>`.
 */
const PREFIXES = ENGINE_PREFIXES;

export interface EngineMetrics {
  readonly epoch: number;
  readonly logSize: number;
  readonly pending: number;
  /** retainedBytes() and the budget at which submissions are refused. */
  readonly memory: { readonly estimatedBytes: number; readonly budgetBytes: number };
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
  /** Its epoch's agreed time (ms since 1970). */
  readonly time: number;
  readonly entry: Uint8Array;
}

export class SnapshotError extends Error {
  override readonly name = 'SnapshotError';
}

/**
 * The engine's decryptor when a group has no encryption key: every ciphertext is invalid (so refused on
 * submit and skipped if a Byzantine proposer orders one), and no share is ever made.
 */
function noDecryptor(ctx: ProtocolContext): ThresholdDecryptor {
  const none = (): never => {
    throw new Error('this replica has no decryption key');
  };
  return { scheme: ctx.crypto.kernel.scheme, isValid: () => false, share: none, verifyShare: () => false, combine: none };
}

export class ReplicaEngine {
  private scab: SecureCausalBroadcast;
  private certifier: CheckpointCertifier;
  private frontier = new MerkleFrontier();
  /**
   * Ids of the entries appended in recent epochs (request id -> index), for de-duplication: the last
   * `dedupEpochs` epochs that appended, at most DEFAULT_DEDUP_REQUESTS ids beyond the newest epoch's
   * (whole epochs leave, oldest first). Atomic broadcast keeps the same window of what it delivered; this
   * one also covers decrypted plaintexts, whose ids atomic broadcast never saw.
   */
  private readonly recentIds = new Map<string, number>();
  private readonly recentByEpoch: [number, string[]][] = [];
  /** The latest signed checkpoint (older ones are in storage). */
  private latest: SignedCheckpoint | null = null;
  private readonly faultCounts = new Map<number, number>();
  /** Ciphertext id -> where its plaintext is in the log, or null (skipped); per epoch for forgetting. */
  private readonly outcomes = new Map<string, { readonly index: number; readonly plaintextId: string } | null>();
  private readonly outcomesByEpoch: [number, string[]][] = [];
  private readonly decryptor: ThresholdDecryptor;
  private readonly scabOptions: ScabOptions;
  private events = 0;
  /** The replicated applications (execution.ts applies the log to them). */
  readonly apps: readonly ReplicatedApp[];
  /**
   * App digests after each recent executed epoch, oldest first: the digests at epoch e are those of the
   * latest record with epoch <= e (epochs whose entries changed nothing share them). In the snapshot.
   */
  private readonly digestLog: { epoch: number; digests: readonly AppDigest[] }[] = [];
  /** Highest epoch whose digests are final here (executed). */
  private digestsKnownTo = -1;
  /** Delivered epochs not executed yet, in epoch order (only with applications). */
  private readonly awaiting: AwaitingExecution[] = [];
  /** Our own messages not yet handled in the current event (FIFO; see the module comment). */
  private readonly selfQueue: Message[] = [];
  /** The last epoch delivered into the log (appended epochs only increase). */
  private deliveredEpoch = -1;
  /** The time chain (checkpoint.ts timeChainNext) after the last delivered epoch. */
  private timeChain: Uint8Array = EMPTY_TIME_CHAIN;

  constructor(
    readonly ctx: ProtocolContext,
    private readonly options: EngineOptions = {},
    decryptor?: ThresholdDecryptor,
  ) {
    const ab = { ...DEFAULT_AB_CONFIG, ...options.ab };
    this.decryptor = decryptor ?? noDecryptor(ctx);
    // The envelope byte is ours, not the client's: the inner limit is one byte larger.
    this.scabOptions = { tag: PREFIXES.dec, abTag: PREFIXES.ab, mixed: true, ab: { ...ab, maxRequestBytes: ab.maxRequestBytes + ENVELOPE_BYTES } };
    this.scab = new SecureCausalBroadcast(ctx, this.decryptor, this.scabOptions);
    this.certifier = new CheckpointCertifier(ctx);
    this.apps = options.apps?.() ?? [];
    checkAppNames(this.apps);
  }

  /** An application by name (routes query their state through this). */
  app<A extends ReplicatedApp = ReplicatedApp>(name: string): A | undefined {
    return this.apps.find((a) => a.name === name) as A | undefined;
  }

  /** Records the app digests as of the end of `epoch` (every entry of epochs <= epoch applied). */
  private recordDigests(epoch: number, digests: readonly AppDigest[]): void {
    if (this.apps.length === 0) return;
    const last = this.digestLog[this.digestLog.length - 1];
    if (last && last.epoch === epoch) last.digests = digests;
    else if (!last || last.epoch < epoch) this.digestLog.push({ epoch, digests });
    if (epoch > this.digestsKnownTo) this.digestsKnownTo = epoch;
    const keep = this.options.digestEpochs ?? 64;
    while (this.digestLog.length > keep) this.digestLog.shift();
  }

  /**
   * The [{name, digest}] list the engine hashed (with the log root) into the state digest of epoch
   * `epoch`'s checkpoint, in app order; null when that epoch is older than the kept window or not
   * delivered here yet. Copies: callers may not alter the record.
   */
  appDigestsAt(epoch: number): AppDigest[] | null {
    if (!Number.isSafeInteger(epoch) || epoch > this.digestsKnownTo || this.apps.length === 0) return null;
    for (let i = this.digestLog.length - 1; i >= 0; i--) {
      const r = this.digestLog[i]!;
      if (r.epoch <= epoch) return r.digests.map((d) => ({ name: d.name, digest: d.digest.slice() }));
    }
    return null;
  }

  /** Delivered epochs waiting for execution, oldest first (execution.ts runs the first). */
  get awaitingExecution(): readonly AwaitingExecution[] {
    return this.awaiting;
  }

  /**
   * The first awaiting epoch executed (journaled like any event, with the storage write of its state
   * changes): its digests are recorded, checked against the signed state digest when a state transfer
   * took the epoch, and the certifier gets the epoch.
   */
  executed(epoch: number, digests: readonly AppDigest[]): EngineStep {
    const job = this.awaiting[0];
    invariant(job !== undefined && job.epoch === epoch, () => `replica ${this.me} executed epoch ${epoch}, and the next awaiting is ${job?.epoch ?? 'none'}`);
    invariant(
      digests.length === this.apps.length && digests.every((d, k) => d.name === this.apps[k]!.name && d.digest instanceof Uint8Array && d.digest.length === 32),
      () => `replica ${this.me}: the digests of epoch ${epoch} do not list its applications in order`,
    );
    this.awaiting.shift();
    const out = emptyStep();
    this.events++;
    this.recordDigests(epoch, digests);
    const stateDigest = computeStateDigest(job.root, digests);
    invariant(
      !job.expect || bytesEqual(stateDigest, job.expect),
      () => `replica ${this.me}: the applications' state after the transferred log differs from the signed state digest of epoch ${epoch} (another application list or version?)`,
    );
    if (job.certify) this.absorbCertifier(out, this.certifier.handleInput({ size: job.size, root: job.root, epoch, stateDigest, time: job.time, timeChain: job.timeChain }));
    this.handleOwnMessages(out);
    return out;
  }

  /** The inner atomic broadcast (queue, epoch, config as the network sees it). */
  get ab(): AtomicBroadcast {
    return this.scab.atomicBroadcast;
  }

  /** Largest request (plain or ciphertext) a client may submit. */
  get maxRequestBytes(): number {
    return this.ab.config.maxRequestBytes - ENVELOPE_BYTES;
  }

  /**
   * The engine's state for compaction, in two kinds of pieces: `main`, what changes from event to event (the
   * ordering layer's live epochs as the events their instances were given, the pending queue, the ordered
   * epochs being decrypted, the certifier, counters, the Merkle tree's right edge, the latest signed
   * checkpoint, the epochs awaiting execution, recent digests), and `parts`, what never changes once made,
   * one per epoch (SNAPSHOT_PART_KINDS: the agreed batches kept for laggards, atomic broadcast's
   * de-duplication lists and the log's recent ids). A store keeps each part once under its key, so a
   * compaction writes the parts of the epochs since the last one: `parts` holds only those whose key is not
   * in `stored`, `keys` every part the state has now (the store deletes the others). The log and the
   * applications' state are not included: storage keeps them.
   */
  snapshotState(stored: ReadonlySet<string> = new Set()): { readonly main: Uint8Array; readonly parts: Map<string, Uint8Array>; readonly keys: ReadonlySet<string> } {
    const scab = this.scab.snapshot();
    const ab = scab.ab;
    const keys = new Set<string>();
    const parts = new Map<string, Uint8Array>();
    const part = (key: string, value: () => unknown): void => {
      keys.add(key);
      if (!stored.has(key)) parts.set(key, encodeState(value()));
    };
    for (const [e, out] of ab.finished) part(`ab-finished/${e}`, () => out);
    // Atomic broadcast's window holds one list per delivered epoch, the newest for epoch ab.epoch - 1.
    const firstListEpoch = ab.epoch - ab.deliveredByEpoch.length;
    ab.deliveredByEpoch.forEach((list, k) => part(`ab-delivered/${firstListEpoch + k}`, () => list));
    for (const [e, ids] of this.recentByEpoch) part(`recent/${e}`, () => ids.map((id) => [id, this.recentIds.get(id)!]));
    const { finished: _f, delivered: _d, deliveredByEpoch: _l, ...abMain } = ab;
    const main = encodeState({
      v: 7,
      timeChain: this.timeChain,
      scab: { ...scab, ab: abMain },
      certifier: this.certifier.snapshot(),
      faults: this.faultCounts,
      outcomes: this.outcomesByEpoch.map(([e, ids]) => [e, ids.map((id) => [id, this.outcomes.get(id) ?? null])]),
      events: this.events,
      logSize: this.frontier.size,
      frontier: this.frontier.toJSON(),
      parts: [...keys],
      latest: this.latest ? { ...this.latest } : null,
      digests: this.digestLog.map((r) => [r.epoch, r.digests.map((d) => [d.name, d.digest])]),
      digestsKnownTo: this.digestsKnownTo,
      awaiting: this.awaiting.map((j) => ({ ...j, ...(j.expect ? { expect: j.expect } : {}) })),
    });
    return { main, parts, keys };
  }

  /** The whole state as one byte string (snapshotState's main and every part): for tests and tools. */
  snapshot(): Uint8Array {
    const { main, parts } = this.snapshotState();
    return encodeState({ main, parts });
  }

  /**
   * An engine in exactly the state captured: `snapshot` is snapshotState's `main` with `parts` the stored
   * parts, or snapshot()'s single byte string without them. Nothing of the stored history is read.
   */
  static restore(ctx: ProtocolContext, options: EngineOptions, snapshot: Uint8Array, decryptor?: ThresholdDecryptor, parts?: ReadonlyMap<string, Uint8Array>): ReplicaEngine {
    let mainBytes = snapshot;
    let partBytes = parts;
    if (!partBytes) {
      const whole = decodeState(snapshot) as { main?: unknown; parts?: unknown };
      if (!(whole.main instanceof Uint8Array) || !(whole.parts instanceof Map)) throw new SnapshotError('not a snapshot of this release (expected its main state and parts)');
      mainBytes = whole.main;
      partBytes = whole.parts as Map<string, Uint8Array>;
    }
    const s = decodeState(mainBytes) as Record<string, unknown>;
    if (s['v'] !== 7) throw new SnapshotError(`snapshot version ${String(s['v'])} is not the current 7 (made by another release)`);
    const partOf = (key: string): unknown => {
      const b = partBytes!.get(key);
      if (!b) throw new SnapshotError(`snapshot part ${key} is missing from storage`);
      return decodeState(b);
    };
    const keys = s['parts'] as string[];
    const scabMain = s['scab'] as unknown as ScabSnapshot;
    const finished = new Map<number, unknown>();
    const delivered: [number, string[]][] = [];
    const recent: [number, [string, number][]][] = [];
    for (const key of keys) {
      const [kind, ep] = key.split('/') as [string, string];
      const epoch = Number(ep);
      if (kind === 'ab-finished') finished.set(epoch, partOf(key));
      else if (kind === 'ab-delivered') delivered.push([epoch, partOf(key) as string[]]);
      else if (kind === 'recent') recent.push([epoch, partOf(key) as [string, number][]]);
      else throw new SnapshotError(`snapshot part ${key} is of no known kind`);
    }
    delivered.sort((x, y) => x[0] - y[0]);
    recent.sort((x, y) => x[0] - y[0]);
    const abMain = scabMain.ab;
    invariant(delivered.every(([ep], k) => ep === abMain.epoch - delivered.length + k), () => 'snapshot: the de-duplication lists are not the epochs before the current one');
    // The map from digest to its newest epoch, rebuilt from the lists in epoch order.
    const deliveredMap = new Map<string, number>();
    for (const [ep, list] of delivered) for (const d of list) deliveredMap.set(d, ep);
    const ab = { ...abMain, finished, delivered: deliveredMap, deliveredByEpoch: delivered.map(([, list]) => list) } as unknown as AbSnapshot;
    const e = new ReplicaEngine(ctx, options, decryptor);
    e.scab = SecureCausalBroadcast.restore(ctx, e.decryptor, e.scabOptions, { ...scabMain, ab });
    e.deliveredEpoch = e.scab.nextEpoch - 1;
    e.timeChain = s['timeChain'] as Uint8Array;
    e.certifier = CheckpointCertifier.restore(ctx, s['certifier'] as unknown as CertifierState);
    e.frontier = MerkleFrontier.fromJSON(s['frontier'] as { size: number; edge: string[] });
    const logSize = s['logSize'] as number;
    invariant(e.frontier.size === logSize, () => `snapshot: frontier of ${e.frontier.size} for a log of ${logSize}`);
    for (const [epoch, pairs] of recent) {
      e.recentByEpoch.push([epoch, pairs.map(([id]) => id)]);
      for (const [id, index] of pairs) e.recentIds.set(id, index);
    }
    e.latest = (s['latest'] as SignedCheckpoint | null) ?? null;
    for (const [epoch, list] of s['digests'] as [number, [string, Uint8Array][]][]) e.digestLog.push({ epoch, digests: list.map(([name, digest]) => ({ name, digest })) });
    e.digestsKnownTo = s['digestsKnownTo'] as number;
    for (const j of s['awaiting'] as AwaitingExecution[]) e.awaiting.push({ ...j });
    invariant(e.apps.length > 0 || e.awaiting.length === 0, () => `snapshot: ${e.awaiting.length} epochs await execution, and the engine runs no application`);
    for (const [peer, count] of s['faults'] as Map<number, number>) e.faultCounts.set(peer, count);
    for (const [epoch, pairs] of s['outcomes'] as [number, [string, { index: number; plaintextId: string } | null][]][]) {
      e.outcomesByEpoch.push([epoch, pairs.map(([id]) => id)]);
      for (const [id, o] of pairs) e.outcomes.set(id, o);
    }
    e.events = s['events'] as number;
    return e;
  }

  /** Whether a request or ciphertext (by id) is waiting in this replica's atomic broadcast queue. */
  isPending(id: string): boolean {
    return this.scab.isPending(id);
  }

  /** What became of an encrypted request, if this replica knows (recent epochs only). */
  ciphertextOutcome(id: string): CiphertextOutcome | undefined {
    const o = this.outcomes.get(id);
    if (o === null) return { state: 'skipped' };
    if (o !== undefined) return { state: 'delivered', ...o };
    if (this.scab.isDecrypting(id)) return { state: 'decrypting' };
    if (this.scab.isPending(id)) return { state: 'pending' };
    return undefined;
  }

  get me(): number {
    return this.ctx.me;
  }

  /** Why a request would be refused now, or null if submit() would take it. */
  refusal(request: Uint8Array, encrypted = false): SubmitRefusal | null {
    if (request.length > this.maxRequestBytes) {
      return { code: 'too-large', message: `${encrypted ? 'ciphertext' : 'request'} of ${request.length} bytes > ${this.maxRequestBytes}` };
    }
    if (encrypted && !this.decryptor.isValid(request)) {
      return { code: 'invalid-ciphertext', message: 'not a valid TDH2 ciphertext for this group (decoding or its validity proof failed)' };
    }
    if (!this.ab.acceptsRequests) {
      return { code: 'overloaded', message: `${this.ab.pendingCount} requests (${mib(this.ab.pendingBytes)}) are pending; try again later` };
    }
    const retained = this.retainedBytes();
    if (retained + request.length > this.memoryBudget) {
      return {
        code: 'memory-full',
        message: `this replica's state is about ${mib(retained)} of its ${mib(this.memoryBudget)} memory budget (${this.frontier.size} log entries); it takes no new requests`,
      };
    }
    return null;
  }

  handle(event: EngineEvent): EngineStep {
    this.selfQueue.length = 0; // left over only if the previous event threw (the adapter then rebuilds)
    if (event.kind === 'submit') return this.submit(event.request);
    if (event.kind === 'submit-encrypted') return this.submitEncrypted(event.ciphertext);
    if (event.kind === 'executed') return this.executed(event.epoch, event.digests);
    if (event.kind === 'clock') return this.setClock(event.ms);
    return this.receive(event.from, event.msg);
  }

  /**
   * The runtime's clock for the proposals made from now on. An event like the others, journaled by the
   * host, so that a replay proposes the same bytes (a different clock in a replayed proposal would be a
   * second proposal for one tag).
   */
  setClock(ms: number): EngineStep {
    // Not counted in `events`: the host takes a clock back that no other event of its batch followed
    // (HostCore.clocked), which must leave the engine exactly as it was.
    this.ab.setClock(ms);
    return emptyStep();
  }

  /** The clock reading the next proposal carries (the last clock event's). */
  get clockReading(): number {
    return this.ab.clockReading;
  }

  submit(request: Uint8Array): EngineStep {
    const out = emptyStep();
    this.events++;
    this.absorbScab(out, this.scab.handleInput(envelope(ENVELOPE_PLAIN, request)));
    this.handleOwnMessages(out);
    return out;
  }

  /** Secure causal atomic broadcast: the ciphertext is ordered first, decrypted after. */
  submitEncrypted(ciphertext: Uint8Array): EngineStep {
    const out = emptyStep();
    this.events++;
    this.absorbScab(out, this.scab.handleInput(envelope(ENVELOPE_CIPHERTEXT, ciphertext)));
    this.handleOwnMessages(out);
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
    if (step?.unchanged) return { ...emptyStep(), unchanged: true };
    this.events++;
    this.handleOwnMessages(out);
    return out;
  }

  /** Our own messages, in the order sent, after the outputs of the steps that sent them. */
  private handleOwnMessages(out: MutableStep): void {
    for (let msg = this.selfQueue.shift(); msg; msg = this.selfQueue.shift()) {
      const s = this.route(this.me, msg, out);
      // Our own messages are for instances we run now (windows are relative to our own position).
      invariant(!s?.deferred, () => `replica ${this.me} deferred its own message ${msg.tag} ${msg.body.t}`);
    }
  }

  /**
   * Routes by the tag's one canonical parse: a tag that names no instance, or names one in another
   * spelling, reaches none of them (instance-tag.ts).
   */
  private route(from: number, msg: Message, out: MutableStep): Step<unknown> | null {
    const id = parseInstanceTag(msg.tag, this.ctx.n, PREFIXES);
    if (id === null) {
      out.faults.push({ peer: from, tag: msg.tag, kind: 'malformed', detail: 'not the canonical tag of an instance' });
      this.countFault(from);
      return null;
    }
    if (id.kind === 'ckpt') {
      const s = this.certifier.handleMessage(from, msg);
      if (s.deferred || s.unchanged) return s;
      this.absorbCertifier(out, s);
      return s;
    }
    const s = this.scab.handleMessage(from, msg);
    if (s.deferred || s.unchanged) return s;
    this.absorbScab(out, s);
    return s;
  }

  private absorbScab(out: MutableStep, s: Step<ScabDelivery>): void {
    this.takeMessagesAndFaults(out, s);
    for (const d of s.outputs) {
      invariant(d.epoch === this.deliveredEpoch + 1, () => `replica ${this.me} delivered epoch ${d.epoch} after epoch ${this.deliveredEpoch}`);
      this.deliveredEpoch = d.epoch;
      const resolved: string[] = [];
      const appendedIds: string[] = [];
      const first = this.frontier.size;
      d.requests.forEach((entry, k) => {
        const id = d.ids[k] ?? requestId(entry);
        // A plaintext that an earlier encrypted request (or a plain one) already put in the log.
        let index = this.recentIds.get(id);
        if (index === undefined) {
          const a = this.frontier.append(leafHash(entry));
          index = a.index;
          out.nodes.push(...a.nodes);
          this.recentIds.set(id, index);
          appendedIds.push(id);
          out.appended.push({ index, id, epoch: d.epoch, time: d.time, entry });
        }
        const source = d.sources[k];
        if (source) {
          this.outcomes.set(source, { index, plaintextId: id });
          resolved.push(source);
        }
      });
      if (appendedIds.length > 0) {
        this.rememberIds(d.epoch, appendedIds);
        this.timeChain = timeChainNext(this.timeChain, d.epoch, d.time);
      }
      for (const id of d.skipped) {
        this.outcomes.set(id, null);
        resolved.push(id);
      }
      if (resolved.length > 0) {
        this.rememberOutcomes(d.epoch, resolved);
        out.resolved.push(...resolved);
      }
      const size = this.frontier.size;
      const root = this.frontier.root();
      // With applications the certifier waits for the epoch's execution (executed()).
      const timeChain = this.timeChain;
      if (this.apps.length > 0) this.awaiting.push({ epoch: d.epoch, size, root, first, certify: true, time: d.time, timeChain });
      else this.absorbCertifier(out, this.certifier.handleInput({ size, root, epoch: d.epoch, stateDigest: root, time: d.time, timeChain }));
    }
  }

  /** Whether a checkpoint carries the group's signature (never throws). */
  checkpointVerifies(checkpoint: SignedCheckpoint): boolean {
    try {
      return isCheckpointShape(checkpoint) && this.ctx.crypto.kernel.verify('checkpoint', checkpointTag(checkpoint.epoch), checkpointPayload(checkpoint), checkpoint.signature);
    } catch {
      return false;
    }
  }

  /**
   * State transfer (docs/design.md section 7a): the replica takes the group's signed checkpoint of an epoch
   * it has not delivered, and the log entries from its own size up to the checkpoint's, instead of running
   * the epochs in between (their messages may be gone from every peer: bounded outboxes, kept batches).
   * Checked before anything changes: the group's signature on the checkpoint, and that the entries extend
   * this replica's log to exactly the signed root; a peer's bad bundle is refused with the reason. Then it
   * is as if the epochs had been delivered: entries appended (and their epochs queued for execution, whose
   * digests must give the signed state digest: executed()), the window of recent ids advanced by the same rule, the
   * checkpoint stored, and the protocols move on to the next epoch (what this replica already holds of
   * later epochs stays, so nothing it said there is said differently).
   *
   * The ordering state after an epoch is a function of the log (atomic broadcast delivers by the epoch's
   * batches alone; the log de-duplicates by the window of recent ids), so a replica that transferred orders
   * every later epoch exactly as the others do. Not known afterwards: the outcome of ciphertexts ordered in
   * the skipped epochs (their ids are not in the log), so status by ciphertext id says nothing of them here.
   */
  transferTo(
    checkpoint: SignedCheckpoint,
    records: readonly LogRecord[],
    /** Rejoining after lost state (rejoin.ts): run nothing of the epochs up to the checkpoint's again (AtomicBroadcast.silence). */
    options: { readonly silent?: boolean } = {},
  ): { readonly ok: true; readonly step: EngineStep } | { readonly ok: false; readonly reason: string } {
    const refuse = (reason: string) => ({ ok: false as const, reason });
    if (!isCheckpointShape(checkpoint)) return refuse('not a checkpoint');
    if (checkpoint.time === undefined || checkpoint.timeChain === undefined) return refuse('a checkpoint without agreed time (payload version 1, an earlier release)');
    const E = checkpoint.epoch;
    if (E <= this.deliveredEpoch) return refuse(`checkpoint of epoch ${E}, and this replica delivered epoch ${this.deliveredEpoch} already`);
    if (checkpoint.size < this.frontier.size) return refuse(`checkpoint of size ${checkpoint.size}, and this replica's log has ${this.frontier.size} entries`);
    const count = checkpoint.size - this.frontier.size;
    if (!Array.isArray(records) || records.length !== count) return refuse(`the checkpoint needs ${count} entries after ${this.frontier.size}, the bundle has ${Array.isArray(records) ? records.length : 'none'}`);
    if (!this.checkpointVerifies(checkpoint)) return refuse(`the group signature on the checkpoint of epoch ${E} does not verify`);
    // Appended to a copy of the tree's edge, which replaces ours once the root is the signed one.
    const trial = MerkleFrontier.fromJSON(this.frontier.toJSON());
    const appended: ReturnType<MerkleFrontier['append']>[] = [];
    const epochRoots = new Map<number, Uint8Array>();
    /** Per epoch of the bundle: its time and the time chain after it. */
    const epochTimes = new Map<number, { time: number; chain: Uint8Array }>();
    let chain = this.timeChain;
    let last = this.deliveredEpoch + 1;
    let lastTime = this.ab.agreedTime;
    for (const [k, r] of records.entries()) {
      const at = this.frontier.size + k;
      if (!(r?.entry instanceof Uint8Array) || !Number.isSafeInteger(r.epoch) || r.epoch < last || r.epoch > E) return refuse(`entry ${at} is malformed or out of epoch order`);
      if (r.id !== requestId(r.entry)) return refuse(`entry ${at}'s id is not its SHA-256`);
      const first = k === 0 || records[k - 1]!.epoch !== r.epoch;
      // Times as the group agreed them: one per epoch, never going back, none past the checkpoint's.
      if (!Number.isSafeInteger(r.time) || r.time < (first ? lastTime : records[k - 1]!.time) || r.time > checkpoint.time || (!first && r.time !== records[k - 1]!.time)) {
        return refuse(`entry ${at}'s time ${String(r.time)} is not its epoch's (one per epoch, never going back, at most the checkpoint's ${checkpoint.time})`);
      }
      last = r.epoch;
      lastTime = r.time;
      appended.push(trial.append(leafHash(r.entry)));
      if (records[k + 1]?.epoch !== r.epoch) {
        chain = timeChainNext(chain, r.epoch, r.time);
        epochTimes.set(r.epoch, { time: r.time, chain });
        // The root after each epoch's last entry: what that epoch's execution hashes its digests with.
        if (this.apps.length > 0) epochRoots.set(r.epoch, trial.root());
      }
    }
    if (!bytesEqual(trial.root(), checkpoint.root)) return refuse(`the entries do not extend this replica's log to the signed root of size ${checkpoint.size}`);
    // Checked before anything runs: an application executes each epoch at its time (AppPosition.time).
    if (!bytesEqual(chain, checkpoint.timeChain)) return refuse(`the entries' epoch times do not give the signed time chain of epoch ${E}`);

    const out = emptyStep();
    this.events++;
    this.frontier = trial;
    const byEpoch = new Map<number, string[]>();
    // Epochs delivered here and not executed yet are past the checkpoint now: the certifier skips them.
    for (const j of this.awaiting) j.certify = false;
    let epochFirst = records.length > 0 ? appended[0]!.index : this.frontier.size;
    records.forEach((r, k) => {
      const a = appended[k]!;
      out.nodes.push(...a.nodes);
      this.recentIds.set(r.id, a.index);
      let ids = byEpoch.get(r.epoch);
      if (!ids) byEpoch.set(r.epoch, (ids = []));
      ids.push(r.id);
      out.appended.push({ index: a.index, id: r.id, epoch: r.epoch, time: r.time, entry: r.entry });
      const next = records[k + 1];
      if (next === undefined || next.epoch !== r.epoch) {
        // As delivery does it, epoch by epoch: the same window; each epoch executes on its own.
        this.rememberIds(r.epoch, ids);
        // The checkpoint's own epoch is pushed below, with the signed digest to check.
        if (this.apps.length > 0 && r.epoch < E) {
          const t = epochTimes.get(r.epoch)!;
          this.awaiting.push({ epoch: r.epoch, size: a.index + 1, root: epochRoots.get(r.epoch)!, first: epochFirst, certify: false, time: t.time, timeChain: t.chain });
          epochFirst = a.index + 1;
        }
      }
    });
    if (this.apps.length > 0) this.awaiting.push({ epoch: E, size: checkpoint.size, root: checkpoint.root, first: epochFirst, certify: false, expect: checkpoint.stateDigest, time: checkpoint.time, timeChain: checkpoint.timeChain });
    else invariant(bytesEqual(this.frontier.root(), checkpoint.stateDigest), () => `replica ${this.me}: the signed state digest of epoch ${E} is not the log root (the group runs applications, this replica none?)`);
    this.deliveredEpoch = E;
    this.timeChain = checkpoint.timeChain;
    if (!this.latest || this.latest.epoch < E) this.latest = checkpoint;
    out.checkpoints.push(checkpoint);
    this.certifier.skipTo(E);
    if (options.silent) this.ab.silence(E);
    this.absorbScab(out, this.scab.skipTo(E + 1, byEpoch, checkpoint.time));
    this.handleOwnMessages(out);
    return { ok: true, step: out };
  }

  /** The window of recent ids (see recentIds): deterministic, since every honest log is the same. */
  private rememberIds(epoch: number, ids: string[]): void {
    this.recentByEpoch.push([epoch, ids]);
    const epochs = this.ab.config.dedupEpochs;
    const maxIds = this.ab.config.dedupRequests ?? DEFAULT_DEDUP_REQUESTS;
    while (this.recentByEpoch.length > 1 && (this.recentByEpoch[0]![0] + epochs <= epoch || this.recentIds.size - this.recentByEpoch[0]![1].length >= maxIds)) {
      for (const id of this.recentByEpoch.shift()![1]) this.recentIds.delete(id);
    }
  }

  private rememberOutcomes(epoch: number, ids: string[]): void {
    this.outcomesByEpoch.push([epoch, ids]);
    const keep = this.options.ciphertextEpochs ?? 1024;
    while (this.outcomesByEpoch.length > 0 && this.outcomesByEpoch[0]![0] + keep < epoch) {
      for (const id of this.outcomesByEpoch.shift()![1]) this.outcomes.delete(id);
    }
  }

  private absorbCertifier(out: MutableStep, s: Step<SignedCheckpoint>): void {
    this.takeMessagesAndFaults(out, s);
    for (const c of s.outputs) {
      this.latest = c;
      out.checkpoints.push(c);
    }
  }

  /** Peers' messages go out; our own wait in the self-queue (handled after this step's outputs). */
  private takeMessagesAndFaults(out: MutableStep, s: Step<unknown>): void {
    for (const f of s.faults) {
      out.faults.push(f);
      this.countFault(f.peer);
    }
    for (const o of s.messages) {
      if (o.to === 'all') {
        for (let j = 0; j < this.ctx.n; j++) if (j !== this.me) out.outgoing.push({ to: j, msg: o.msg });
        this.selfQueue.push(o.msg);
      } else if (o.to === this.me) {
        this.selfQueue.push(o.msg);
      } else {
        out.outgoing.push({ to: o.to, msg: o.msg });
      }
    }
  }

  private countFault(peer: number): void {
    this.faultCounts.set(peer, (this.faultCounts.get(peer) ?? 0) + 1);
  }

  // ---- queries (adapters answer clients from these and from their storage)

  /** The Merkle tree's right edge: the log's size and root (its history is in storage). */
  get log(): MerkleFrontier {
    return this.frontier;
  }

  /** Log position of a request appended in a recent epoch (storage knows the others: history.ts). */
  recentIndexOf(id: string): number | undefined {
    return this.recentIds.get(id);
  }

  /** The last epoch whose entries are in the log here (-1: none yet). */
  get lastDeliveredEpoch(): number {
    return this.deliveredEpoch;
  }

  get latestCheckpoint(): SignedCheckpoint | null {
    return this.latest;
  }

  get memoryBudget(): number {
    return this.options.memoryBudgetBytes ?? DEFAULT_MEMORY_BUDGET_BYTES;
  }

  /**
   * Estimated bytes this engine retains: the pending queue, the agreed batches kept for
   * laggards, the de-duplication windows (atomic broadcast's and recent ids) and ciphertext outcomes. Made of measured per-item costs, not a heap measurement (no runtime gives one to an isolate
   * cheaply); infra/bench/memory.ts compares it with the heap (within about 6%).
   */
  retainedBytes(): number {
    const ab = this.ab;
    return (
      this.recentIds.size * RECENT_ID_BYTES +
      ab.pendingBytes +
      ab.keptBatchBytes +
      ab.dedupSize * DEDUP_ENTRY_BYTES +
      this.outcomes.size * OUTCOME_ENTRY_BYTES
    );
  }

  metrics(): EngineMetrics {
    const last = this.latestCheckpoint;
    return {
      epoch: this.ab.currentEpoch,
      logSize: this.frontier.size,
      pending: this.ab.pendingCount,
      memory: { estimatedBytes: this.retainedBytes(), budgetBytes: this.memoryBudget },
      checkpoint: last ? { epoch: last.epoch, size: last.size } : null,
      maxAbaRound: this.ab.maxAbaRound,
      faultsByPeer: Object.fromEntries(this.faultCounts),
      events: this.events,
    };
  }
}

type MutableStep = { -readonly [K in keyof EngineStep]: EngineStep[K] };

function emptyStep(): MutableStep {
  return { outgoing: [], appended: [], nodes: [], resolved: [], checkpoints: [], faults: [], deferred: false, unchanged: false };
}

function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}
