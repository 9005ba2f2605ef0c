/**
 * A replica on Node (issue 5): the same ReplicaHost and Hono app as the Durable Object replica
 * (workers/cloudflare/replica-object.ts), with state in a ReplicaStore of this folder (Redis through
 * @upstash/redis, or the local file store), peers reached by HTTP POST to `<base URL>/v1/peer`, and
 * retransmission driven by
 *   - a timer, in a long-running process: the outbox is flushed after every change, and again when the
 *     host says the next retry is due (backoff 100 ms .. 30 s, as on Workers);
 *   - `POST /v1/tick` or `tick()`, on function platforms (AWS Lambda) where nothing runs between
 *     invocations: a scheduler calls it, and each invocation waits a bounded time for its own flush.
 *
 * Storage failures (Redis unreachable, a full disk) never crash the process: the host marks itself stale
 * and rebuilds from storage before the next event; meanwhile every route answers
 * `503 {"error": {"code": "storage-unavailable"}}` (the route handlers would otherwise say 500, or 404
 * for a request the stale host cannot see), and the peers retry their POSTs with backoff. No protocol
 * logic here.
 */
import { Hono } from 'hono';
import type { Context } from 'hono';
import type { Group, ReplicaSecrets } from '../../shared/config/group.ts';
import { replicaApp } from '../core/app.ts';
import { errorBody, jsonAnswer } from '../core/http.ts';
import { earliestWake } from '../../shared/replica/host-core.ts';
import { logLine } from '../core/log.ts';
import type { AdmissionConfig } from '../core/admission.ts';
import type { CorsOrigins } from '../core/cors.ts';
import { ReplicaHost } from '../core/host.ts';
import type { HostOptions, PeerTransport } from '../core/host.ts';
import type { LoadedState, ReplicaStore, StoredEntry, WriteBatch } from '../core/store.ts';
import type { NodeKey } from '../../shared/log/merkle-nodes.ts';
import type { SignedCheckpoint } from '../../shared/log/checkpoint.ts';
import { StoreConflictError, StoreNotDurableError } from './store-errors.ts';
import { beaconServiceFor } from '../core/beacon.ts';
import type { BeaconService } from '../core/beacon.ts';
import { signServiceFor } from '../core/signer.ts';
import { tsaServiceFor } from '../core/tsa.ts';
import { x509ServiceFor } from '../core/x509.ts';
import { CA_APP_NAME } from '../../shared/app/ca-codec.ts';
import { hostSignerLedger } from '../core/signer-routes.ts';
import { MemoryBeaconStore } from '../core/beacon-store.ts';
import type { BeaconStore } from '../core/beacon-store.ts';

/** A store as the Node replica uses it: `ping` checks reachability cheaply, `close` releases it. */
export interface NodeStore extends ReplicaStore {
  ping?(): Promise<void>;
  close?(): Promise<void>;
  /** Where beacon rounds are kept (workers/core/beacon-store.ts); in memory when the store has no place. */
  beacons?(): BeaconStore;
}

const POST_TIMEOUT_MS = 15_000;

/** POST /v1/peer to each peer's base URL (a base URL may carry a path prefix, e.g. an API stage). */
export function httpPeerTransport(peers: readonly (string | null)[], timeoutMs = POST_TIMEOUT_MS): PeerTransport {
  const call = async (to: number, path: string, init: RequestInit) => {
    const base = peers[to];
    if (!base) throw new Error(`no address for replica ${to} (SINTRA_PEERS)`);
    return jsonAnswer(await fetch(`${base.replace(/\/+$/, '')}${path}`, { ...init, signal: AbortSignal.timeout(timeoutMs) }));
  };
  return {
    post: (to, frame) => call(to, '/v1/peer', { method: 'POST', body: frame, headers: { 'content-type': 'application/octet-stream' } }),
    get: (to, path) => call(to, path, {}),
  };
}

/** Forwards to the store and remembers whether its last operation failed (for the 503 answers). */
class StorageMonitor implements ReplicaStore {
  failures = 0;
  healthy = true;
  lastError: unknown = null;

  constructor(
    readonly inner: NodeStore,
    private readonly log: (line: string) => void,
    private readonly replica: string,
  ) {}

  private async watch<T>(f: () => Promise<T>): Promise<T> {
    try {
      const v = await f();
      if (!this.healthy) this.log(logLine('info', this.replica, 'storage-recovered', `storage available again after ${this.failures} failed operations`, { failures: this.failures }));
      this.healthy = true;
      return v;
    } catch (e) {
      // Logged once per outage; clients only get a generic 503 (the error may quote stored data).
      if (this.healthy) this.log(logLine('error', this.replica, 'storage-failed', `storage failed: ${e instanceof Error ? e.message.slice(0, 500) : String(e)}`));
      this.failures++;
      this.healthy = false;
      this.lastError = e;
      throw e;
    }
  }

  load(): Promise<LoadedState> {
    return this.watch(() => this.inner.load());
  }
  commit(b: WriteBatch): Promise<void> {
    return this.watch(() => this.inner.commit(b));
  }
  loadLog(): Promise<{ entries: StoredEntry[]; checkpoints: SignedCheckpoint[] }> {
    return this.watch(() => this.inner.loadLog());
  }
  entries(start: number, end: number): Promise<StoredEntry[]> {
    return this.watch(() => this.inner.entries(start, end));
  }
  indexOfIds(ids: readonly string[]): Promise<Map<string, number>> {
    return this.watch(() => this.inner.indexOfIds(ids));
  }
  readNodes(keys: readonly NodeKey[]): Promise<Map<string, Uint8Array>> {
    return this.watch(() => this.inner.readNodes(keys));
  }
  checkpointCovering(index: number): Promise<SignedCheckpoint | null> {
    return this.watch(() => this.inner.checkpointCovering(index));
  }
  checkpointAt(size: number): Promise<SignedCheckpoint | null> {
    return this.watch(() => this.inner.checkpointAt(size));
  }
  readAppState(app: string, keys: readonly string[]): Promise<Map<string, Uint8Array>> {
    return this.watch(() => this.inner.readAppState(app, keys));
  }
  probe(): Promise<void> {
    return this.watch(async () => {
      if (this.inner.ping) await this.inner.ping();
      else await this.inner.load();
    });
  }
}

export interface NodeReplicaOptions {
  readonly group: Group;
  readonly secrets: ReplicaSecrets;
  readonly store: NodeStore;
  /** Base URLs by replica index (this replica's own entry is not used). */
  readonly peers: readonly (string | null)[];
  /** false on function platforms: no timers; retransmission comes from tick(). Default true. */
  readonly timers?: boolean;
  /**
   * Produce each randomness beacon round when it falls due, on a timer (docs/beacon.md, "Production");
   * false: only when asked (SINTRA_BEACON_TIMERS=off). Default true; nothing without timers or a beacon.
   */
  readonly beaconTimers?: boolean;
  readonly clientRate?: number;
  /** API keys, SINTRA_REQUIRE_API_KEY and a trusted proxy header (workers/core/admission.ts). */
  readonly admission?: AdmissionConfig;
  /** SINTRA_CORS_ORIGINS (workers/core/cors.ts; default `*`). */
  readonly corsOrigins?: CorsOrigins;
  readonly postTimeoutMs?: number;
  readonly host?: HostOptions;
  readonly now?: () => number;
  /** Where JSON log lines go (workers/core/log.ts; default console.log). */
  readonly log?: (line: string) => void;
  /** One `http` log line per request (SINTRA_ACCESS_LOG=1). */
  readonly accessLog?: boolean;
  /** SINTRA_HEALTH_STALL_SECONDS, in ms (workers/core/health.ts; default 60 s). */
  readonly healthStallMs?: number;
  /** Replaces the HTTP transport (tests). */
  readonly transport?: PeerTransport;
}

/**
 * The connecting address as Node saw it: the socket's peer on @hono/node-server (c.env.incoming), the
 * source IP that API Gateway or a function URL reports on Lambda (c.env.event, from hono/aws-lambda).
 */
export function nodeClientAddress(c: Context): string | undefined {
  const env = c.env as
    | { incoming?: { socket?: { remoteAddress?: string } }; event?: { requestContext?: { http?: { sourceIp?: string }; identity?: { sourceIp?: string } } } }
    | undefined;
  return env?.incoming?.socket?.remoteAddress ?? env?.event?.requestContext?.http?.sourceIp ?? env?.event?.requestContext?.identity?.sourceIp;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class NodeReplica {
  readonly host: ReplicaHost;
  /** The HTTP API: replicaApp's routes plus POST /v1/tick, behind the storage gate. */
  readonly app: Hono;
  private readonly monitor: StorageMonitor;
  private readonly now: () => number;
  private readonly log: (line: string) => void;
  private readonly flushes = new Set<Promise<void>>();
  private timer: ReturnType<typeof setTimeout> | null = null;
  private timerAt = 0;
  private readonly beacon: BeaconService | undefined;
  private beaconTimer: ReturnType<typeof setTimeout> | null = null;
  private flushFailures = 0;
  private closed = false;

  constructor(private readonly o: NodeReplicaOptions) {
    this.now = o.now ?? Date.now;
    this.log = o.log ?? ((line) => console.log(line));
    this.monitor = new StorageMonitor(o.store, (line) => this.log(line), o.secrets.id);
    const transport = o.transport ?? httpPeerTransport(o.peers, o.postTimeoutMs);
    this.host = new ReplicaHost(o.group, o.secrets, this.monitor, transport, this.now, { log: this.log, ...o.host });
    const inner = replicaApp(this.host, {
      now: this.now,
      afterChange: () => this.scheduleFlush(),
      clientRate: o.clientRate,
      clientBurst: o.clientRate ? o.clientRate * 2 : undefined,
      ...(o.admission ? { admission: o.admission } : {}),
      ...(o.corsOrigins ? { corsOrigins: o.corsOrigins } : {}),
      clientAddress: nodeClientAddress,
      log: this.log,
      ...(o.accessLog ? { accessLog: true } : {}),
      ...(o.healthStallMs !== undefined ? { healthStallMs: o.healthStallMs } : {}),
      beacon: (this.beacon = beaconServiceFor(o.group, o.secrets, o.store.beacons?.() ?? new MemoryBeaconStore(), transport.get, this.now, this.log)),
      signer: signServiceFor(o.group, o.secrets, hostSignerLedger(this.host), transport.get, this.now, this.log),
      tsa: tsaServiceFor(o.group, o.secrets, (index) => this.host.entryAt(index), transport.get, this.now, this.log),
      x509: x509ServiceFor(o.group, o.secrets, (index) => this.host.entryAt(index), (index) => this.host.responseAt(index, CA_APP_NAME), transport.get, this.now, this.log),
    });
    this.app = this.outerApp(inner);
  }

  get id(): string {
    return this.o.secrets.id;
  }

  private unavailable(c: Context): Response {
    const e = this.monitor.lastError;
    c.header('retry-after', '1');
    if (e instanceof StoreConflictError) return c.json(errorBody('storage-conflict', "this replica stopped: its stored state may be inconsistent (see its log)"), 503);
    if (e instanceof StoreNotDurableError) return c.json(errorBody('storage-not-durable', "this replica's storage does not keep every acknowledged write; it does not run on it (see its log)"), 503);
    return c.json(errorBody('storage-unavailable', "the replica's storage is unavailable; retry later"), 503);
  }

  /**
   * Before serving: the host must have loaded storage (the first request of a cold function instance may
   * be a read, which would not load it), and while storage is failing it is checked again and the host
   * rebuilt; false means 503.
   */
  private async storageReady(): Promise<boolean> {
    if (this.monitor.healthy && this.loaded) return true;
    try {
      if (!this.monitor.healthy) await this.monitor.probe();
      await this.host.init();
      this.loaded = true;
      return true;
    } catch {
      return false;
    }
  }

  private loaded = false;

  private outerApp(inner: Hono): Hono {
    const app = new Hono();
    app.post('/v1/tick', async (c) => {
      if (!(await this.storageReady())) return this.unavailable(c);
      try {
        const next = await this.track(this.host.flush());
        return c.json({ ok: true, replica: this.id, outbox: this.host.outboxSizes(), nextRetryAt: next });
      } catch {
        return this.unavailable(c);
      }
    });
    app.all('*', async (c) => {
      // Health reflects storage too: a load balancer should not send work to a replica that cannot commit.
      if (c.req.method === 'GET' && c.req.path === '/v1/health') {
        try {
          await this.monitor.probe();
        } catch {
          return this.unavailable(c);
        }
      }
      if (!(await this.storageReady())) return this.unavailable(c);
      const failures = this.monitor.failures;
      const res = await inner.fetch(c.req.raw, c.env);
      if (res.status >= 500 && this.monitor.failures !== failures) {
        await res.body?.cancel().catch(() => undefined);
        return this.unavailable(c);
      }
      return res;
    });
    return app;
  }

  /** Loads storage and sends what the outbox holds; a storage failure is logged and retried by the timer. */
  async start(): Promise<void> {
    try {
      await this.host.init();
      this.loaded = true;
    } catch (e) {
      this.log(logLine('warn', this.id, 'storage-not-loaded', `could not load storage yet: ${e instanceof Error ? e.message : String(e)}`));
    }
    this.scheduleFlush();
    if (this.beacon) this.armBeacon(this.beacon.dueAt(this.beacon.currentRound() + 1));
  }

  /** The beacon's timer: at each round's due time, produce it (docs/beacon.md, "Production"). */
  private armBeacon(at: number): void {
    const beacon = this.beacon;
    if (!beacon || this.closed || this.o.timers === false || this.o.beaconTimers === false) return;
    if (this.beaconTimer) clearTimeout(this.beaconTimer);
    this.beaconTimer = setTimeout(() => {
      this.beaconTimer = null;
      void this.track(
        beacon.produceDue().then(
          (r) => this.armBeacon(r.nextAt),
          (e: unknown) => {
            this.log(logLine('warn', this.id, 'beacon-timer-failed', `beacon production failed: ${e instanceof Error ? e.message : String(e)}`));
            this.armBeacon(this.now() + beacon.chain.period * 1000);
          },
        ),
      );
    }, Math.max(0, at - this.now()));
  }

  /** Flushes now in the background; the flush arms the retry timer. */
  scheduleFlush(): void {
    if (this.closed) return;
    void this.track(this.runFlush());
  }

  /** Flushes in progress, so that idle() and close() can wait for them (their acks are commits). */
  private track<T>(p: Promise<T>): Promise<T> {
    const settled = p.then(
      () => undefined,
      () => undefined,
    );
    this.flushes.add(settled);
    void settled.finally(() => this.flushes.delete(settled));
    return p;
  }

  private async runFlush(): Promise<void> {
    try {
      const wake = earliestWake(await this.host.flush(), this.host.nextProbeWake());
      this.flushFailures = 0;
      if (wake !== null) this.arm(Math.max(wake, this.now() + 10));
    } catch (e) {
      this.flushFailures++;
      if (this.flushFailures === 1 || this.flushFailures % 20 === 0) {
        this.log(logLine('warn', this.id, 'flush-failed', `flush failed (${this.flushFailures}x): ${e instanceof Error ? e.message : String(e)}`, { failures: this.flushFailures }));
      }
      this.arm(this.now() + Math.min(10_000, 100 * 2 ** Math.min(this.flushFailures, 10)));
    }
  }

  /** Moves the retry timer earlier, never later (another flush may have computed a later wake). */
  private arm(at: number): void {
    if (this.closed || this.o.timers === false) return;
    if (this.timer && this.timerAt <= at) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.scheduleFlush();
    }, Math.max(0, at - this.now()));
  }

  /**
   * One retransmission pass for function platforms, repeated while retries fall due within `budgetMs`.
   * Returns the outbox sizes and when the next retry is due.
   */
  async tick(budgetMs = 0): Promise<{ outbox: number[]; nextRetryAt: number | null }> {
    const deadline = this.now() + budgetMs;
    let next = await this.track(this.host.flush());
    while (next !== null && next <= deadline && !this.closed) {
      await sleep(Math.max(0, next - this.now()));
      next = await this.track(this.host.flush());
    }
    return { outbox: this.host.outboxSizes(), nextRetryAt: next };
  }

  /** Waits (at most `budgetMs`) for the flushes in progress, e.g. before a function invocation returns. */
  async idle(budgetMs: number): Promise<void> {
    const deadline = this.now() + budgetMs;
    while (this.flushes.size > 0) {
      const left = deadline - this.now();
      if (left <= 0) return;
      await Promise.race([Promise.allSettled([...this.flushes]), sleep(left)]);
    }
  }

  /** Stops the timer, lets flushes in progress finish (bounded), and closes the store. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.beaconTimer) clearTimeout(this.beaconTimer);
    this.beaconTimer = null;
    await this.idle(5000);
    await this.o.store.close?.();
  }
}
