/**
 * The replica host: the runtime adapter around the I/O-free core (shared/replica/host-core.ts). It only
 * does I/O: it awaits the store (load, commit), POSTs frames over the transport, and serializes events
 * (a promise chain, so the journal order is the engine's order even on runtimes whose storage writes are
 * asynchronous). Every rule (persist before send, reliable links, compaction, backoff) is in the core,
 * which the whole-replica simulator (infra/sim/replica) drives directly.
 *
 * A failed write leaves the core's memory ahead of storage: the host marks itself stale and loads a new
 * core from storage before the next event; nothing of the failed event was sent or acknowledged.
 */
import { toHex } from '../../shared/crypto/bytes.ts';
import { ConfigError } from '../../shared/config/group.ts';
import type { Group, ReplicaSecrets } from '../../shared/config/group.ts';
import type { SignedCheckpoint } from '../../shared/log/checkpoint.ts';
import type { Receipt } from '../../shared/log/checkpoint.ts';
import type { ThresholdDecryptor } from '../../shared/protocols/crypto-suite.ts';
import { decryptorFromConfig } from '../../shared/replica/from-config.ts';
import { HostCore } from '../../shared/replica/host-core.ts';
import type { FrameResponse, HostCoreMetrics, HostCoreOptions, OutgoingFrame, PendingCommit, RequestStatus, SubmitResult } from '../../shared/replica/host-core.ts';
import { standardApps } from '../../shared/app/index.ts';
import { AppStateMissing } from '../../shared/app/types.ts';
import type { AppState, ReplicatedApp } from '../../shared/app/types.ts';
import { responseKey } from '../../shared/replica/execution.ts';
import type { AppDigest } from '../../shared/app/state.ts';
import { useNativeEd25519 } from './native-ed25519.ts';
import { useNativeSha256 } from './native-sha256.ts';
import { logLine } from './log.ts';
import { consistencyProof, entryIndexOf, logIndexOf, receiptAt, requestStatus } from '../../shared/replica/history.ts';
import { requestId } from '../../shared/replica/engine.ts';
import type { ReplicaStore, StoredEntry } from './store.ts';
import type { NodeKey } from '../../shared/log/merkle-nodes.ts';
import { fetchCheckpoint, fetchTransferChunk } from './state-transfer.ts';

export type { HostError, RequestStatus, SubmitResult } from '../../shared/replica/host-core.ts';

export interface PeerTransport {
  /** POSTs a frame to peer `to`; resolves with the HTTP status and JSON body, rejects on network errors. */
  post(to: number, frame: Uint8Array): Promise<{ readonly status: number; readonly body: unknown }>;
  /**
   * GETs one of peer `to`'s public routes (a path such as /v1/log/checkpoint) as JSON, for state
   * transfer (state-transfer.ts). Without it this replica never transfers state.
   */
  get?(to: number, path: string): Promise<{ readonly status: number; readonly body: unknown }>;
}

type SubmitItem = { readonly bytes: Uint8Array; readonly encrypted: boolean };
type IntakeItem = { readonly items: readonly SubmitItem[]; readonly resolve: (r: SubmitResult[]) => void; readonly reject: (e: unknown) => void };

export interface HostOptions extends HostCoreOptions {
  readonly log?: (line: string) => void;
  /**
   * Added to the clock reading this replica's proposals carry (ms; default 0). For testing what a wrong
   * clock does (SINTRA_CLOCK_OFFSET_MS; docs/operations.md "Clocks"): the group's agreed time stays between
   * honest readings whatever one replica's clock says.
   */
  readonly clockOffsetMs?: number;
}

export class ReplicaHost {
  private core: HostCore | null = null;
  private decryptor: ThresholdDecryptor | undefined;
  private chain: Promise<unknown> = Promise.resolve();
  private stale = true;
  private names: string[] | undefined;
  private apps: readonly ReplicatedApp[] | undefined;
  /** A state transfer is being fetched (one at a time), and the peer asked last (round robin). */
  private transferring = false;
  private probePeer: number;

  constructor(
    readonly group: Group,
    readonly secrets: ReplicaSecrets,
    private readonly store: ReplicaStore,
    private readonly transport: PeerTransport,
    private readonly now: () => number,
    private readonly options: HostOptions = {},
  ) {
    // Request ids, log leaves and batch digests are hashed per request: the runtime's SHA-256 is 2-17x faster.
    useNativeSha256();
    // Consistent-broadcast echoes are Ed25519: natively 37 us to sign and 107 us to verify, noble 0.5 and 1.3 ms.
    useNativeEd25519();
    this.probePeer = secrets.index;
  }

  get me(): number {
    return this.secrets.index;
  }

  get n(): number {
    return this.group.replicas.length;
  }

  /** What this replica's proposals say the time is: the runtime's clock in whole ms (plus clockOffsetMs). */
  private clockReading(): number {
    const t = Math.floor(this.now() + (this.options.clockOffsetMs ?? 0));
    return Number.isSafeInteger(t) && t > 0 ? t : 0;
  }

  /** Whether the in-memory state matches storage (false before the first load and after a failed write). */
  get loaded(): boolean {
    return !this.stale;
  }

  /** Loads storage and replays the journal. Called lazily before the first event, and after a failed write. */
  async init(): Promise<void> {
    await this.serialized(async () => undefined);
  }

  private async ensureLoaded(): Promise<HostCore> {
    if (!this.stale && this.core) return this.core;
    const t0 = this.now();
    const state = await this.store.load();
    // Built once: it caches ciphertext verdicts (8 ms each).
    this.decryptor ??= decryptorFromConfig(this.group, this.secrets);
    const core = new HostCore(this.group, this.secrets, state, this.options, this.decryptor);
    this.core = core;
    this.stale = false;
    this.noteCheckpoint(core);
    const ms = Math.round(this.now() - t0);
    if (state.journal.length > 0) this.options.log?.(logLine('info', this.secrets.id, 'journal-replayed', `replayed ${state.journal.length} journal events in ${ms} ms`, { events: state.journal.length, ms }));
    // Epochs delivered before a crash and not executed then.
    await this.executeAwaiting(core);
    return core;
  }

  /**
   * Runs `f` after every earlier event; a failure marks the host stale (rebuilt before the next one).
   * Client submissions waiting in the intake go first, whatever event comes next (see submitMany).
   */
  private serialized<T>(f: (core: HostCore) => Promise<T>): Promise<T> {
    const run = this.chain.then(async () => {
      let core: HostCore;
      try {
        core = await this.ensureLoaded();
      } catch (e) {
        this.stale = true;
        // Nothing can be submitted without storage: the callers waiting in the intake learn it now.
        this.intakeQueued = false;
        for (const w of this.intake.splice(0)) w.reject(e);
        throw e;
      }
      try {
        if (this.intake.length > 0) {
          this.intakeQueued = false;
          await this.flushIntake(core, this.intake.splice(0));
        }
        return await f(core);
      } catch (e) {
        this.stale = true;
        throw e;
      }
    });
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** Writes a core's pending effects, then lets them take effect (a failure leaves the host stale). */
  private async write(c: PendingCommit | null): Promise<void> {
    if (!c) return;
    await this.commit(c);
    // What the event delivered is executed before the next event (one write per executed epoch).
    if (this.core) await this.executeAwaiting(this.core);
  }

  private async commit(c: PendingCommit): Promise<void> {
    await this.store.commit(c.batch);
    c.apply();
    if (c.batch.checkpoints.length > 0 && this.core) this.noteCheckpoint(this.core);
  }

  /**
   * The execution stage (HostCore.execute): reads what the first awaiting epoch needs (its entries, then
   * application keys, one storage read per request of the core), writes its commit, and goes on until no
   * epoch waits.
   */
  private async executeAwaiting(core: HostCore): Promise<void> {
    let input: Parameters<HostCore['execute']>[0] = {};
    for (;;) {
      const r = core.execute(input);
      if (r === null) return;
      if ('commit' in r) {
        await this.commit(r.commit);
        input = {};
      } else if (r.need === 'entries') {
        input = { entries: await this.store.entries(r.start, r.end) };
      } else {
        input = { values: await this.readKeys(r.keys) };
      }
    }
  }

  private async readKeys(keys: readonly { readonly app: string; readonly key: string }[]): Promise<{ app: string; key: string; value: Uint8Array | null }[]> {
    const byApp = new Map<string, string[]>();
    for (const k of keys) {
      let list = byApp.get(k.app);
      if (!list) byApp.set(k.app, (list = []));
      list.push(k.key);
    }
    const out: { app: string; key: string; value: Uint8Array | null }[] = [];
    for (const [app, list] of byApp) {
      const got = await this.store.readAppState(app, list);
      for (const key of list) out.push({ app, key, value: got.get(key) ?? null });
    }
    return out;
  }

  /**
   * Runs `f` against application `name`'s state in storage (a query: routes read the notary's and the CA's
   * state through this): a read of a key not loaded yet stops `f`, the key is read, and `f` runs again
   * (execution.ts). Null when the replica does not run the application.
   */
  async readApp<T>(name: string, f: (state: AppState, app: ReplicatedApp) => T): Promise<T | null> {
    const app = this.appList().find((a) => a.name === name);
    if (!app) return null;
    const loaded = new Map<string, Uint8Array | null>();
    const state: AppState = {
      get: (key) => {
        const v = loaded.get(key);
        if (v === undefined) throw new AppStateMissing(key);
        return v ?? undefined;
      },
      put: () => {
        throw new Error('a query does not write application state');
      },
      delete: () => {
        throw new Error('a query does not write application state');
      },
    };
    for (let round = 0; ; round++) {
      try {
        return f(state, app);
      } catch (e) {
        if (!(e instanceof AppStateMissing) || round >= 1000) throw e;
        const got = await this.store.readAppState(name, [e.key]);
        loaded.set(e.key, got.get(e.key) ?? null);
      }
    }
  }

  /** When this host first saw its latest signed checkpoint (since load: a load counts as seeing it). */
  private checkpointSeen: { epoch: number; at: number } | null = null;

  private noteCheckpoint(core: HostCore): void {
    const epoch = core.engine.latestCheckpoint?.epoch ?? -1;
    if (this.checkpointSeen?.epoch !== epoch) this.checkpointSeen = { epoch, at: this.now() };
  }

  /**
   * Milliseconds since this replica got its latest signed checkpoint (or since it loaded, if that is later:
   * a restarted replica does not know when its stored one came), null before the first load.
   */
  checkpointAgeMs(): number | null {
    return this.checkpointSeen ? Math.max(0, this.now() - this.checkpointSeen.at) : null;
  }

  /** The loaded core for queries, or null while stale (rebuilding). */
  private get current(): HostCore | null {
    return this.stale ? null : this.core;
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
   * Requests (plain, or TDH2 ciphertexts) in one event and ONE storage write (HostCore.submit), shared with
   * every other submission that arrives while earlier events run: group commit, ahead of the queue. Why:
   * one request per POST made one event and one storage transaction per request, and each POST waited
   * behind every peer frame queued before it, on a thread busy with four replicas' crypto: 350 ms per
   * POST, so 32 POSTs in flight gave 94 requests/s (docs/benchmarks.md). Now the submissions that arrive
   * during an event are taken, all together, at the start of the next event, whichever it is (serialized):
   * their number per write grows with the load, no timer is needed, and a POST waits for at most the
   * event that runs when it comes. Reordering is safe: submissions and peer frames are independent inputs
   * whose order the network could have changed anyway. A failed write fails that group (each caller gets
   * the error, as it would alone).
   */
  submitMany(items: readonly SubmitItem[]): Promise<SubmitResult[]> {
    return new Promise((resolve, reject) => {
      this.intake.push({ items, resolve, reject });
      if (this.intakeQueued) return;
      // An event of its own, for when no other comes first (it finds the intake empty if one did).
      this.intakeQueued = true;
      this.serialized(async () => undefined).catch(() => undefined);
    });
  }

  private intake: IntakeItem[] = [];
  /** An event is queued that will take the intake (or an earlier event takes it first). */
  private intakeQueued = false;

  private async flushIntake(core: HostCore, waiting: readonly IntakeItem[]): Promise<void> {
    try {
      // One submission per distinct id, so that a request two callers sent gets the one answer for both.
      const ids = waiting.map((w) => w.items.map((i) => requestId(i.bytes)));
      const unique = new Map<string, SubmitItem>();
      waiting.forEach((w, k) => w.items.forEach((item, j) => unique.has(ids[k]![j]!) || unique.set(ids[k]![j]!, item)));
      const items = [...unique.values()];
      // Plain requests the engine's recent window does not know may be in the log from long ago: one
      // storage read for all of them.
      const unknown = [...unique].filter(([id, i]) => !i.encrypted && core.engine.recentIndexOf(id) === undefined).map(([id]) => id);
      const inLog = unknown.length > 0 ? await this.store.indexOfIds(unknown) : new Map<string, number>();
      const { results, commit } = core.submit(items, this.clockReading(), inLog);
      await this.write(commit);
      const byId = new Map([...unique.keys()].map((id, i) => [id, results[i]!] as const));
      waiting.forEach((w, k) => w.resolve(ids[k]!.map((id) => byId.get(id)!)));
    } catch (e) {
      for (const w of waiting) w.reject(e);
      throw e;
    }
  }

  /** A request's status (history.ts), or null if this replica does not know it (or is rebuilding). */
  async status(id: string): Promise<RequestStatus | null> {
    const core = this.current;
    return core ? requestStatus(core.engine, this.store, id, core.wasSubmitted(id)) : null;
  }

  /** The receipt of a request, by its id or (encrypted requests) its ciphertext's id. */
  async receipt(id: string): Promise<Receipt | null> {
    const core = this.current;
    const at = core ? await logIndexOf(core.engine, this.store, id) : undefined;
    return at === undefined ? null : this.receiptAt(at.index);
  }


  /** The applications this replica runs (instances hold no state, so one list serves every query). */
  private appList(): readonly ReplicatedApp[] {
    return (this.apps ??= (this.options.apps ?? this.options.engine?.apps ?? (() => standardApps(this.group)))());
  }

  /** Names of the applications this replica runs, in digest order. */
  appNames(): string[] {
    this.names ??= this.appList().map((a) => a.name);
    return [...this.names];
  }

  /** The app digests bound into the checkpoint of `epoch` (null: not kept, or not delivered here yet). */
  appDigestsAt(epoch: number): AppDigest[] | null {
    return this.current?.engine.appDigestsAt(epoch) ?? null;
  }

  /** An app's kept response to the log entry at `index` (the CA's; see EngineOptions.keepResponsesOf). */
  async responseAt(index: number, app: string): Promise<Uint8Array | undefined> {
    const key = responseKey(index);
    return (await this.store.readAppState(app, [key])).get(key);
  }

  /** Log index of a delivered request (by its id), if known. */
  async indexOf(id: string): Promise<number | undefined> {
    const core = this.current;
    return core ? entryIndexOf(core.engine, this.store, id) : undefined;
  }

  /** The receipt of the log entry at `index`, once a signed checkpoint covers it. */
  async receiptAt(index: number): Promise<Receipt | null> {
    const core = this.current;
    return core ? receiptAt(core.engine, this.store, index) : null;
  }

  async epochOf(index: number): Promise<number | undefined> {
    return (await this.entryAt(index))?.epoch;
  }

  /** The log entry at `index`, if this replica's log has it. */
  async entryAt(index: number): Promise<StoredEntry | undefined> {
    const core = this.current;
    if (!core || index >= core.engine.log.size) return undefined;
    const [e] = await this.store.entries(index, index + 1);
    return e;
  }

  /** Log entries below this have been applied to the applications (execution.ts); null while rebuilding. */
  executedSize(): number | null {
    const core = this.current;
    return core ? (core.engine.awaitingExecution[0]?.first ?? core.engine.log.size) : null;
  }

  latestCheckpoint(): SignedCheckpoint | null {
    return this.core?.engine.latestCheckpoint ?? null;
  }

  checkpointAt(size: number): Promise<SignedCheckpoint | null> {
    return this.store.checkpointAt(size);
  }

  /** The earliest signed checkpoint whose size exceeds `index` (what a state transfer's chunk ends at). */
  checkpointCovering(index: number): Promise<SignedCheckpoint | null> {
    return this.store.checkpointCovering(index);
  }

  consistencyProof(first: number, second: number): Promise<Uint8Array[]> {
    return consistencyProof(this.core!.engine, this.store, first, second);
  }

  get logSize(): number {
    return this.core!.engine.log.size;
  }

  entries(start: number, end: number): Promise<StoredEntry[]> {
    return this.store.entries(start, Math.min(end, this.core!.engine.log.size));
  }

  /** Stored Merkle nodes (tiles are made of them). */
  readNodes(keys: readonly NodeKey[]): Promise<Map<string, Uint8Array>> {
    return this.store.readNodes(keys);
  }

  // ---- peers

  /**
   * One POST from a peer: authenticate, then apply every message not applied before, in one atomic write.
   * Returns the HTTP status and JSON body for the response.
   */
  receiveFrame(frame: Uint8Array): Promise<FrameResponse> {
    return this.serialized(async (core) => {
      const { response, commit } = core.receiveFrame(frame, this.clockReading());
      await this.write(commit);
      return response;
    });
  }

  /** Our report for a replica that rejoins (HostCore.rejoinReportFor). */
  rejoinReportFor(to: number, nonce: Uint8Array): ReturnType<HostCore['rejoinReportFor']> {
    const core = this.current;
    if (!core) return { ok: false, error: { status: 503, code: 'storage-unavailable', message: 'storage is failing; the request may be retried' } };
    return core.rejoinReportFor(to, nonce);
  }

  /**
   * Sends what is due to every peer whose link is idle (one POST in flight per link, at most
   * `maxConcurrentPosts` in flight in all, across concurrent calls) and returns when the next retry is
   * due (epoch ms), or null if nothing is waiting that this call could start. Calls may overlap: a slow
   * or silent peer only holds up the call that posts to it, never the messages for the other peers (the
   * caller flushes again on every event; the call whose POST finishes looks again at its link).
   */
  async flush(): Promise<number | null> {
    const core = this.stale || !this.core ? await this.serialized(async (c) => c) : this.core;
    const now = this.now();
    const frames = core.duePeers(now).map((j) => core.outgoingFrame(j, now)).filter((f): f is OutgoingFrame => f !== null);
    const catchUp = this.transport.get && !this.transferring && core.probeDue(now) ? this.catchUp(core, now) : null;
    await Promise.all([...frames.map((f) => this.post(core, f)), catchUp]);
    return core.nextWake();
  }

  /**
   * When to flush again for state transfer (HostCore.nextProbeWake), or null: adapters with timers arm for
   * the earlier of this and flush()'s answer.
   */
  nextProbeWake(): number | null {
    return this.transport.get ? (this.current?.nextProbeWake() ?? null) : null;
  }

  /**
   * State transfer (HostCore.probeDue, wantsTransfer, transfer): asks the next peer for its latest signed
   * checkpoint and, if this replica should take it, fetches the entries up to it chunk by chunk and hands
   * each chunk to the core, which checks it against the group signature and the signed root. Failures
   * (an unreachable peer, a refused bundle) are logged; the next probe asks another peer.
   */
  private async catchUp(core: HostCore, now: number): Promise<void> {
    const get = this.transport.get!;
    this.transferring = true;
    let peer = (this.probePeer + 1) % this.n;
    if (peer === this.me) peer = (peer + 1) % this.n;
    this.probePeer = peer;
    const from = (path: string) => get(peer, path);
    const log = (level: 'info' | 'warn', event: string, msg: string, fields: Record<string, unknown> = {}) =>
      this.options.log?.(logLine(level, this.secrets.id, event, msg, { peer, ...fields }));
    try {
      if (core.mode === 'lost-state' && core.passiveUntil === null) {
        await this.askReports(core, now);
        if (core.passiveUntil === null) return;
      }
      const latest = await fetchCheckpoint(from);
      core.probed(now, latest !== null && latest.epoch > core.engine.lastDeliveredEpoch);
      if (!latest || !core.wantsTransfer(latest, this.now())) return;
      const t0 = this.now();
      const startSize = core.engine.log.size;
      for (;;) {
        const start = core.engine.log.size;
        const { checkpoint, records } = await fetchTransferChunk(from, start, latest);
        const done = await this.serialized(async (c) => {
          // Only onto the state the chunk was fetched for (a write may have failed, or the log moved on).
          if (c !== core || c.engine.log.size !== start) return 'moved' as const;
          const r = c.transfer(checkpoint, records, this.clockReading());
          if (!r.ok) {
            log('warn', 'state-transfer-refused', `replica ${peer}'s state transfer refused: ${r.error.message}`);
            return 'refused' as const;
          }
          await this.write(r.commit);
          return 'taken' as const;
        });
        if (done !== 'taken' || checkpoint.epoch >= latest.epoch) break;
      }
      const ms = Math.round(this.now() - t0);
      if (core.engine.log.size > startSize) {
        log('info', 'state-transfer', `took ${core.engine.log.size - startSize} entries up to epoch ${core.engine.lastDeliveredEpoch} from replica ${peer} in ${ms} ms`, { entries: core.engine.log.size - startSize, epoch: core.engine.lastDeliveredEpoch, ms });
      }
    } catch (e) {
      core.probed(now, true);
      log('warn', 'state-transfer-failed', `state transfer from replica ${peer} failed: ${e instanceof Error ? e.message : String(e)}`);
    } finally {
      this.transferring = false;
    }
  }

  /**
   * Rejoining (HostCore mode lost-state): asks every peer for its report (rejoin.ts) with this core's nonce,
   * and hands each answer to the core, which fixes the passive bound once a quorum's reports count.
   */
  private async askReports(core: HostCore, now: number): Promise<void> {
    const get = this.transport.get!;
    const nonce = core.rejoinNonceFor(crypto.getRandomValues(new Uint8Array(16)));
    core.probed(now, true);
    const peers = this.group.replicas.map((r) => r.index).filter((j) => j !== this.me);
    const answers = await Promise.all(
      peers.map((j) =>
        get(j, `/v1/peer/rejoin-report?to=${this.me}&nonce=${toHex(nonce)}`).then(
          (a) => ({ j, a }),
          (e: unknown) => ({ j, a: { status: 0, body: { error: { message: e instanceof Error ? e.message : String(e) } } } }),
        ),
      ),
    );
    const refused: string[] = [];
    for (const { j, a } of answers) {
      if (a.status !== 200) {
        refused.push(`${j}: HTTP ${a.status}`);
        continue;
      }
      const taken = await this.serialized(async (c) => {
        if (c !== core) return null;
        const r = c.takeRejoinReport(j, a.body);
        if (r.ok) await this.write(r.commit);
        return r;
      });
      if (taken && !taken.ok) refused.push(`${j}: ${taken.reason}`);
    }
    const until = core.passiveUntil;
    this.options.log?.(
      logLine(until === null ? 'warn' : 'info', this.secrets.id, 'rejoin-reports', until === null ? `rejoining: no quorum of reports yet (${refused.join('; ')})` : `rejoining: passive until the group signs epoch ${until}`, { passiveUntil: until }),
    );
  }

  private async post(core: HostCore, f: OutgoingFrame): Promise<void> {
    let res: { readonly status: number; readonly body: unknown };
    try {
      res = await this.transport.post(f.peer, f.bytes);
    } catch (e) {
      core.frameFailed(f, e instanceof Error ? e.message : String(e), this.now());
      return;
    }
    // A core loaded since (after a failed write) has its own view of the link: it resends, and the peer's
    // inbox and link window make that harmless.
    if (core !== this.core) return;
    await this.serialized(async (c) => {
      if (c !== core) return;
      await this.write(core.frameAnswered(f, res, this.now()));
    }).catch(() => undefined);
  }

  /** Messages waiting for each peer. */
  outboxSizes(): number[] {
    return this.core?.outboxSizes() ?? [];
  }

  metrics(): HostCoreMetrics {
    return this.core!.metrics();
  }

  groupIdHex(): string {
    return toHex(this.group.groupId);
  }
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

/**
 * SINTRA_BOOTSTRAP (every adapter): `1` on a new group's first start only: a replica with empty storage
 * then starts a new log (HostCoreOptions.bootstrap). Without it, empty storage starts nothing, since the
 * replica's keys may have signed a history before.
 */
export function bootstrapOption(value: string | undefined): Pick<HostOptions, 'bootstrap'> {
  if (value === undefined || value === '' || value === '0') return {};
  if (value === '1') return { bootstrap: true };
  throw new ConfigError('SINTRA_BOOTSTRAP', `expected 1 (a new group's first start) or 0, got ${JSON.stringify(value)}`);
}

/** Largest |SINTRA_CLOCK_OFFSET_MS|: about 31 years. */
const MAX_CLOCK_OFFSET_MS = 1e12;

/**
 * SINTRA_CLOCK_OFFSET_MS (every adapter): milliseconds added to the clock this replica's proposals carry
 * (HostOptions.clockOffsetMs), to see what a wrong clock does (docs/operations.md "Clocks"). An integer,
 * negative for a clock behind.
 */
export function clockOffsetOption(value: string | undefined): Pick<HostOptions, 'clockOffsetMs'> {
  if (value === undefined || value === '') return {};
  const ms = /^-?(0|[1-9][0-9]*)$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(ms) || Math.abs(ms) > MAX_CLOCK_OFFSET_MS) throw new ConfigError('SINTRA_CLOCK_OFFSET_MS', `expected an integer number of ms from -${MAX_CLOCK_OFFSET_MS} to ${MAX_CLOCK_OFFSET_MS}, got ${JSON.stringify(value)}`);
  return ms === 0 ? {} : { clockOffsetMs: ms };
}

/** The host options every adapter reads from its environment (SINTRA_MEMORY_BUDGET_MB, SINTRA_BOOTSTRAP, SINTRA_CLOCK_OFFSET_MS). */
export function hostEnvOptions(env: Readonly<Record<string, unknown>>): HostOptions {
  const str = (k: string) => (typeof env[k] === 'string' ? (env[k] as string) : undefined);
  return { ...memoryBudgetOption(str('SINTRA_MEMORY_BUDGET_MB')), ...bootstrapOption(str('SINTRA_BOOTSTRAP')), ...clockOffsetOption(str('SINTRA_CLOCK_OFFSET_MS')) };
}
