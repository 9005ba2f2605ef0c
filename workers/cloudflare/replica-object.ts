/**
 * One replica = one Durable Object (SQLite-backed) in its own Worker (docs/design.md section 9). Keys come from
 * the Worker's secrets (the dealer's <id>.secrets.json), the public group.json from the SINTRA_GROUP
 * variable, peer addresses from SINTRA_PEERS (base URLs by replica index) or from service bindings
 * PEER_<index> (used by the local Miniflare cluster).
 *
 * The object builds a ReplicaHost (workers/core) over SqlStore, serves the shared Hono app, flushes the
 * outbox after every state change, and retries from alarms with backoff. The clock is used only for
 * retransmission and rate limits, never by a protocol.
 */
import { DurableObject } from 'cloudflare:workers';
import type { Hono } from 'hono';
import { ConfigError, parseGroup, parseReplicaSecrets } from '../../shared/config/group.ts';
import { replicaApp } from '../core/app.ts';
import { errorBody, jsonAnswer } from '../core/http.ts';
import { earliestWake } from '../../shared/replica/host-core.ts';
import { admissionFromEnv } from '../core/admission.ts';
import { corsOriginsFromEnv } from '../core/cors.ts';
import { hostEnvOptions, ReplicaHost } from '../core/host.ts';
import type { PeerTransport } from '../core/host.ts';
import { SqlStore } from '../core/sql-store.ts';
import { beaconServiceFor, beaconTimersOption } from '../core/beacon.ts';
import type { BeaconService } from '../core/beacon.ts';
import { signServiceFor } from '../core/signer.ts';
import { tsaServiceFor } from '../core/tsa.ts';
import { x509ServiceFor } from '../core/x509.ts';
import { CA_APP_NAME } from '../../shared/app/ca-codec.ts';
import { hostSignerLedger } from '../core/signer-routes.ts';
import { SqlBeaconStore } from '../core/beacon-store.ts';
import { accessLogOption, logLine } from '../core/log.ts';
import { healthStallOption } from '../core/health.ts';

export interface ReplicaEnv {
  readonly REPLICA: DurableObjectNamespace;
  readonly SINTRA_GROUP: string;
  readonly SINTRA_PEERS?: string;
  readonly SINTRA_GROUP_ID: string;
  readonly SINTRA_REPLICA_ID: string;
  readonly SINTRA_REPLICA_INDEX: string;
  readonly SINTRA_KEY_SHARES: string;
  readonly SINTRA_LINK_SECRET: string;
  /** Requests per second per client (default 2000). */
  readonly SINTRA_CLIENT_RATE?: string;
  readonly SINTRA_ACCESS_LOG?: string;
  /** Admission (workers/core/admission.ts): API keys as JSON, whether writes need one, a trusted proxy header. */
  readonly SINTRA_API_KEYS?: string;
  readonly SINTRA_REQUIRE_API_KEY?: string;
  readonly SINTRA_TRUSTED_PROXY_HEADER?: string;
  /** Browser origins for the client and read routes: `*` (default), `none`, or a comma-separated list. */
  readonly SINTRA_CORS_ORIGINS?: string;
  /** The engine's memory budget in MiB (default 64): submissions get 503 memory-full past it. */
  readonly SINTRA_MEMORY_BUDGET_MB?: string;
  /** `1` on a new group's first start only: empty storage starts a new log (see workers/core/host.ts). */
  readonly SINTRA_BOOTSTRAP?: string;
  /** Milliseconds added to this replica's clock readings (testing what a wrong clock does; default 0). */
  readonly SINTRA_CLOCK_OFFSET_MS?: string;
  /** Seconds work may wait without a new checkpoint before /v1/health answers 503 stalled (default 60). */
  readonly SINTRA_HEALTH_STALL_SECONDS?: string;
  /** on (default) or off: produce each beacon round at its due time on an alarm (docs/beacon.md). */
  readonly SINTRA_BEACON_TIMERS?: string;
  readonly [binding: string]: unknown;
}

const POST_TIMEOUT_MS = 15_000;

function peerTransport(env: ReplicaEnv, n: number): PeerTransport {
  let urls: unknown[] = [];
  if (env.SINTRA_PEERS) {
    urls = JSON.parse(env.SINTRA_PEERS) as unknown[];
    if (!Array.isArray(urls) || urls.length !== n || !urls.every((u) => typeof u === 'string' || u === null)) {
      throw new ConfigError('SINTRA_PEERS', `expected a JSON array of ${n} base URLs (null for this replica)`);
    }
  }
  const call = async (to: number, path: string, init: RequestInit) => {
    const binding = env[`PEER_${to}`] as Fetcher | undefined;
    let res: Response;
    if (binding && typeof binding.fetch === 'function') res = await binding.fetch(`http://replica${path}`, init);
    else if (typeof urls[to] === 'string') res = await fetch(new URL(path, urls[to] as string), init);
    else throw new Error(`no address for replica ${to} (SINTRA_PEERS or a PEER_${to} binding)`);
    return jsonAnswer(res);
  };
  return {
    post: (to, frame) => call(to, '/v1/peer', { method: 'POST', body: frame, headers: { 'content-type': 'application/octet-stream' }, signal: AbortSignal.timeout(POST_TIMEOUT_MS) }),
    get: (to, path) => call(to, path, { signal: AbortSignal.timeout(POST_TIMEOUT_MS) }),
  };
}

export class ReplicaObject extends DurableObject<ReplicaEnv> {
  private host: ReplicaHost | null = null;
  private app: Hono | null = null;
  private configError: string | null = null;
  private beacon: BeaconService | undefined;
  /** Produce beacon rounds at their due times on the alarm (SINTRA_BEACON_TIMERS, default on). */
  private beaconTimers = true;

  constructor(ctx: DurableObjectState, env: ReplicaEnv) {
    super(ctx, env);
    try {
      this.beaconTimers = beaconTimersOption(env.SINTRA_BEACON_TIMERS).beaconTimers !== false;
      const group = parseGroup(JSON.parse(env.SINTRA_GROUP));
      const secrets = parseReplicaSecrets(
        {
          SINTRA_GROUP_ID: env.SINTRA_GROUP_ID,
          SINTRA_REPLICA_ID: env.SINTRA_REPLICA_ID,
          SINTRA_REPLICA_INDEX: env.SINTRA_REPLICA_INDEX,
          SINTRA_KEY_SHARES: env.SINTRA_KEY_SHARES,
          SINTRA_LINK_SECRET: env.SINTRA_LINK_SECRET,
        },
        group,
      );
      const store = new SqlStore(ctx.storage);
      const transport = peerTransport(env, group.replicas.length);
      this.host = new ReplicaHost(group, secrets, store, transport, () => Date.now(), {
        log: (line) => console.log(line),
        ...hostEnvOptions(env),
      });
      const rate = env.SINTRA_CLIENT_RATE ? Number(env.SINTRA_CLIENT_RATE) : undefined;
      if (rate !== undefined && !(Number.isFinite(rate) && rate > 0)) throw new Error('SINTRA_CLIENT_RATE: expected a positive number');
      this.app = replicaApp(this.host, {
        now: () => Date.now(),
        afterChange: () => this.scheduleFlush(),
        clientRate: rate,
        clientBurst: rate ? rate * 2 : undefined,
        admission: admissionFromEnv(env as unknown as Record<string, string | undefined>),
        corsOrigins: corsOriginsFromEnv(env.SINTRA_CORS_ORIGINS),
        // Cloudflare's edge sets it (a client cannot), and the Worker passes the request on unchanged.
        clientAddress: (c) => c.req.header('cf-connecting-ip'),
        accessLog: accessLogOption(env.SINTRA_ACCESS_LOG),
        ...healthStallOption(env.SINTRA_HEALTH_STALL_SECONDS),
        beacon: (this.beacon = beaconServiceFor(group, secrets, new SqlBeaconStore(ctx.storage), transport.get, () => Date.now(), (line) => console.log(line))),
        signer: signServiceFor(group, secrets, hostSignerLedger(this.host), transport.get, () => Date.now(), (line) => console.log(line)),
        tsa: tsaServiceFor(group, secrets, (index) => this.host!.entryAt(index), transport.get, () => Date.now(), (line) => console.log(line)),
        x509: x509ServiceFor(group, secrets, (index) => this.host!.entryAt(index), (index) => this.host!.responseAt(index, CA_APP_NAME), transport.get, () => Date.now(), (line) => console.log(line)),
      });
      const host = this.host;
      void ctx.blockConcurrencyWhile(async () => {
        await host.init();
        // A restarted object (eviction, deploy) resumes producing beacon rounds without waiting for a request.
        if (this.beacon && this.beaconTimers) await this.armAlarm(this.beacon.dueAt(this.beacon.currentRound() + 1));
      });
    } catch (e) {
      this.configError = e instanceof Error ? e.message : String(e);
      console.error(logLine('error', null, 'config-error', `replica misconfigured: ${this.configError}`));
    }
  }

  override async fetch(request: Request): Promise<Response> {
    if (!this.app) return Response.json(errorBody('misconfigured', this.configError ?? 'not configured'), { status: 503 });
    const res = await this.app.fetch(request);
    return res;
  }

  override async alarm(): Promise<void> {
    await Promise.all([this.runFlush(), this.runBeacon()]);
  }

  /**
   * The beacon's part of the alarm: produce the round that fell due (docs/beacon.md, "Production") and wake
   * again when the next one does. A failure (too few peers answered) is logged by the service; the next
   * round is tried at its time, and the missed one is produced when asked for.
   */
  private async runBeacon(): Promise<void> {
    const beacon = this.beacon;
    if (!beacon || !this.beaconTimers || !this.host) return;
    try {
      const r = await beacon.produceDue();
      await this.armAlarm(r.nextAt);
    } catch (e) {
      console.error(logLine('warn', this.host.secrets.id, 'beacon-timer-failed', `beacon production failed: ${e instanceof Error ? e.message : String(e)}`));
      await this.armAlarm(Date.now() + beacon.chain.period * 1000);
    }
  }

  /** Flush now (in the background of the current event) and arm the alarm for the next retry. */
  private scheduleFlush(): void {
    this.ctx.waitUntil(this.runFlush());
  }

  /**
   * Flushes may overlap (one per event): the host keeps one POST in flight per link, so a peer that is
   * slow to answer (down behind an open port, overloaded, or Byzantine and silent) holds up only the flush
   * that posts to it, not the messages for the other peers. Each flush sends what is due once; the alarm takes the rest.
   */
  private async runFlush(): Promise<void> {
    if (!this.host) return;
    const host = this.host;
    try {
      // One flush per event, then an alarm for what is still due. Looping here while `wake <= Date.now()`
      // could spin forever: inside workerd the clock only advances with I/O, and a flush that skips links
      // with a POST in flight does none (a suspected cause of a 12-minute busy hang in the benchmark).
      const wake = earliestWake(await host.flush(), host.nextProbeWake());
      if (wake !== null) await this.armAlarm(Math.max(wake, Date.now() + 10));
    } catch (e) {
      console.error(logLine('warn', this.host.secrets.id, 'flush-failed', `flush failed: ${e instanceof Error ? e.message : String(e)}`));
      await this.armAlarm(Date.now() + 1000);
    }
  }

  /** Moves the alarm earlier, never later: a flush that finished first may have computed a later wake. */
  private async armAlarm(at: number): Promise<void> {
    const current = await this.ctx.storage.getAlarm();
    if (current === null || at < current || current <= Date.now()) await this.ctx.storage.setAlarm(at);
  }
}
