/**
 * HTTP mode: the local Miniflare cluster of `npm start` (infra/cluster/local-cluster.ts: n Durable Object
 * replicas in one workerd process, SQLite state on disk, peers over service bindings) started in a temp
 * folder with freshly dealt keys, loaded over loopback by separate client processes (client.ts) that
 * submit round-robin to all replicas and follow one replica's certified log. Receipts of a sample of
 * requests are fetched and verified offline against group.json.
 *
 * Optionally (`overloadMs`) a flood phase afterwards: clients POST as fast as answers come (no waiting for
 * certification) to see how the replicas refuse (429 per client, 503 'overloaded' beyond
 * AbConfig.maxPending) and whether workerd's memory stays bounded.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseGroup } from '../../shared/config/group.ts';
import { startLocalCluster, waitUntilReady } from '../cluster/local-cluster.ts';
import { startMixedCluster } from '../cluster/mixed-cluster.ts';
import { checkReceipts, loadFields } from './baseline.ts';
import { loadClients } from './baseline.ts';
import type { HttpLikeResult, LoadOptions } from './baseline.ts';
import { runClients, runInChild, serveChild } from './loadgen.ts';
import { descendants, processCpuMs, processMemoryMb, round3 } from './stats.ts';
import type { Percentiles } from './stats.ts';

/**
 * Which local cluster: 'miniflare' (`npm start`: every replica a Durable Object in ONE workerd process),
 * 'separate' (`npm start -- --separate`: every replica a Durable Object in its own workerd process, peers
 * over loopback HTTP: infra/cluster/separate-cluster.ts), 'mixed' (`npm start -- --mixed`: the first half
 * in workerd, the rest Node replicas, one process each) or 'node' (every replica a Node replica in its own
 * process, as separate machines would run them).
 */
export type HttpCluster = 'miniflare' | 'separate' | 'mixed' | 'node';
export const HTTP_CLUSTERS: readonly HttpCluster[] = ['miniflare', 'separate', 'mixed', 'node'];

export interface HttpOptions extends LoadOptions {
  readonly n: number;
  /** Default 'miniflare'. */
  readonly cluster?: HttpCluster;
  readonly basePort?: number;
  /** Flood phase after the measurement (ms); 0 = none. */
  readonly overloadMs?: number;
  readonly overloadConcurrency?: number;
}

export interface OverloadResult {
  /** How long the flood ran (until every flood POST was answered). */
  duration_s: number;
  /** Accepted (202) POSTs per second during the flood: the intake rate under saturation. */
  accepted_rps: number;
  status_counts: Record<string, number>;
  socket_errors: number;
  post_latency_ms: Percentiles;
  /** Log entries added from the flood's start until the log stopped growing, and that per second. */
  ordered: number;
  ordered_rps: number;
  /** Largest pending-request count any replica reported (the refusal bound is AbConfig.maxPending). */
  max_pending: number;
  pending_after: number[];
  workerd_rss_before_mb: number | null;
  workerd_rss_max_mb: number | null;
  workerd_rss_after_mb: number | null;
  workerd_rss_high_water_mb: number | null;
}

export interface HttpResult extends HttpLikeResult {
  mode: 'http';
  cluster: HttpCluster;
  cluster_start_s: number;
  replica_metrics: { index: number; logSize: number; epoch: number; pending: number; maxAbaRound: number; outbox: number[] }[];
  overload?: OverloadResult;
}

async function getJson(url: string): Promise<unknown> {
  try {
    return await (await fetch(url, { signal: AbortSignal.timeout(15_000) })).json();
  } catch {
    return (await fetch(url, { signal: AbortSignal.timeout(15_000) })).json();
  }
}

/** n consecutive free loopback ports below Linux's ephemeral range (32768+), so outgoing sockets cannot take them. */
async function freePortBlock(n: number): Promise<number> {
  const free = (port: number) =>
    new Promise<boolean>((resolve) => {
      const srv = createServer();
      srv.once('error', () => resolve(false));
      srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
    });
  for (let i = 0; i < 50; i++) {
    const base = 21_000 + Math.floor(Math.random() * 11_000);
    let ok = true;
    for (let k = 0; k < n && ok; k++) ok = await free(base + k);
    if (ok) return base;
  }
  throw new Error(`no block of ${n} free ports found`);
}

async function fetchRetry(url: string, init?: RequestInit): Promise<Response> {
  try {
    return await fetch(url, { ...init, signal: AbortSignal.timeout(30_000) });
  } catch {
    return fetch(url, { ...init, signal: AbortSignal.timeout(30_000) });
  }
}

/** One request to every replica, then wait (up to 120 s) until the first replica's checkpoint covers them all. */
async function warmUp(urls: readonly string[]): Promise<void> {
  const stamp = `${process.pid}-${performance.now()}`;
  await Promise.all(
    urls.map(async (u, i) => {
      const r = await fetchRetry(`${u}/v1/requests`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: `bench warm-up ${stamp} ${i}` }) });
      await r.arrayBuffer();
    }),
  );
  const deadline = performance.now() + 120_000;
  while (performance.now() < deadline) {
    const r = await fetchRetry(`${urls[0]}/v1/log/checkpoint`);
    if (r.status === 200 && ((await r.json()) as { size: number }).size >= urls.length) return;
    if (r.status !== 200) await r.arrayBuffer();
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error('warm-up requests were not certified within 120 s');
}

/** The server processes (workerd, Node replicas): started before the load, so no client process is among them. */
async function serverPids(): Promise<number[]> {
  return (await descendants(process.pid)).filter((p) => p.comm.startsWith('workerd') || p.comm === 'node').map((p) => p.pid);
}

interface BenchCluster {
  readonly urls: readonly string[];
  readonly groupPath: string;
  dispose(): Promise<void>;
}

/**
 * Memory budget of the benchmarked replicas: the throughput runs order more than the default 64 MiB budget
 * holds (about 290,000 requests), and a replica at its budget refuses everything (503 memory-full), which
 * is its own test (test/unit/engine-memory.test.ts), not what this mode measures.
 */
export const BENCH_MEMORY_BUDGET_MB = 4096;
/** Requests per second per client address in benchmark clusters: far above what they serve. */
export const BENCH_CLIENT_RATE = 1_000_000;

function startCluster(kind: HttpCluster, dataDir: string, n: number, basePort: number, log: (l: string) => void): Promise<BenchCluster> {
  // Every load-generating process connects from 127.0.0.1, which replicas rate-limit as one client.
  const common = { dataDir, n, basePort, log, memoryBudgetMb: BENCH_MEMORY_BUDGET_MB, clientRate: BENCH_CLIENT_RATE };
  if (kind === 'miniflare') return startLocalCluster(common);
  if (kind === 'separate') return startMixedCluster({ ...common, nodeIndices: [], separateWorkers: true });
  return startMixedCluster({ ...common, ...(kind === 'node' ? { nodeIndices: Array.from({ length: n }, (_, i) => i) } : {}) });
}

export async function runHttp(o: HttpOptions): Promise<HttpResult> {
  const dataDir = mkdtempSync(join(tmpdir(), 'sintra-bench-cluster-'));
  const t0 = performance.now();
  const kind = o.cluster ?? 'miniflare';
  let cluster: BenchCluster | undefined;
  for (let attempt = 0; !cluster; attempt++) {
    const basePort = o.basePort ?? (await freePortBlock(o.n));
    try {
      cluster = await startCluster(kind, dataDir, o.n, basePort, (l) => o.log?.(`http: ${l}`));
    } catch (e) {
      // Another process took a port between our check and workerd's bind: try another block.
      if (attempt >= 3 || o.basePort !== undefined || !String(e).includes('ADDRESS_IN_USE')) {
        rmSync(dataDir, { recursive: true, force: true });
        throw e;
      }
      o.log?.(`http: ports taken (${String(e).slice(0, 80)}), trying others`);
    }
  }
  try {
    await waitUntilReady(cluster.urls);
    // Warm the replicas (first event: key decoding, JIT) with one request per replica, certified, before the load.
    const w0 = performance.now();
    await warmUp(cluster.urls);
    o.log?.(`http: warm-up requests certified in ${((performance.now() - w0) / 1000).toFixed(1)} s`);
    const startS = round3((w0 - t0) / 1000);
    const pids = await serverPids();
    const cpuOf = async () => {
      let s = 0;
      for (const p of pids) s += (await processCpuMs(p)) ?? 0;
      return s;
    };
    o.log?.(`http: ${o.n} replicas (${kind}) ready in ${startS} s (server pids ${pids.join(',') || '?'}); ${o.clients} client processes x ${o.concurrency} in flight for ${(o.warmupMs + o.durationMs) / 1000} s`);
    const cpu0 = await cpuOf();
    const load = await runClients(
      loadClients(o, cluster.urls, (k) => cluster.urls[k % cluster.urls.length]!),
      o.warmupMs + o.durationMs + o.drainMs + 120_000,
    );
    const cpu1 = await cpuOf();
    const mems = await Promise.all(pids.map((p) => processMemoryMb(p)));
    const mem = mems.some((m) => m) ? { hwm: mems.reduce((s, m) => s + (m?.hwm ?? 0), 0) } : null;
    const group = parseGroup(JSON.parse(readFileSync(cluster.groupPath, 'utf8')));
    const receipts = await checkReceipts(load.sample, group.kernel.groupKey, group.groupId);
    for (const f of receipts.failures) o.log?.(`http receipt: ${f}`);
    const metrics = async () =>
      Promise.all<{ index: number; logSize: number; epoch: number; pending: number; maxAbaRound: number; outbox: number[] }>(
        cluster.urls.map(async (u, index) => {
          const m = (await getJson(`${u}/v1/metrics`)) as { engine: { logSize: number; epoch: number; pending: number; maxAbaRound: number }; outbox: number[] };
          return { index, logSize: m.engine.logSize, epoch: m.engine.epoch, pending: m.engine.pending, maxAbaRound: m.engine.maxAbaRound, outbox: m.outbox };
        }),
      );
    const result: HttpResult = {
      mode: 'http',
      cluster: kind,
      n: o.n,
      ...loadFields(load, o.pollMs, o.postBatch),
      server_cpu_ms_per_request: load.certified === 0 || pids.length === 0 ? 0 : round3((cpu1 - cpu0) / load.certified),
      server_rss_high_water_mb: mem?.hwm ?? null,
      receipts_checked: receipts.checked,
      receipts_valid: receipts.valid,
      cluster_start_s: startS,
      replica_metrics: await metrics().catch((e: unknown) => {
        o.log?.(`http: /v1/metrics did not answer: ${String(e)}`);
        return [];
      }),
    };
    if (o.overloadMs && o.overloadMs > 0) {
      o.log?.(`http: overload check, ${o.clients} clients x ${o.overloadConcurrency ?? 256} concurrent POSTs for ${o.overloadMs / 1000} s`);
      const before = pids[0] !== undefined ? await processMemoryMb(pids[0]) : null;
      // workerd may still be busy with the measured load's backlog: a metrics timeout is not a failure.
      const size0 = (await metrics().catch(() => null))?.[0]?.logSize ?? result.replica_metrics[0]?.logSize ?? 0;
      const f0 = performance.now();
      // Sample pending requests, the log and workerd's memory while the flood runs and until the backlog is ordered.
      let maxPending = 0;
      let maxRss = before?.rss ?? 0;
      let lastSize = size0;
      let lastGrowth = f0;
      let flooding = true;
      const sample = async () => {
        try {
          const m = await metrics();
          maxPending = Math.max(maxPending, ...m.map((x) => x.pending));
          if (m[0]!.logSize > lastSize) {
            lastSize = m[0]!.logSize;
            lastGrowth = performance.now();
          }
          const mem = pids[0] !== undefined ? await processMemoryMb(pids[0]) : null;
          if (mem) maxRss = Math.max(maxRss, mem.rss);
          return m;
        } catch {
          return null;
        }
      };
      const sampler = (async () => {
        while (flooding) {
          await sample();
          await new Promise((r) => setTimeout(r, 1000));
        }
      })();
      const flood = await runClients(
        Array.from({ length: o.clients }, (_, k) => ({
          clientId: 100 + k,
          urls: cluster.urls,
          followUrl: cluster.urls[0]!,
          concurrency: o.overloadConcurrency ?? 256,
          warmupMs: 0,
          durationMs: o.overloadMs!,
          drainMs: 0,
          pollMs: o.pollMs,
          requestBytes: 250,
          flood: true,
        })),
        o.overloadMs + 120_000,
      );
      const floodS = (performance.now() - f0) / 1000;
      flooding = false;
      await sampler;
      // Let the backlog be ordered (up to 120 s): the ordering capacity under saturation.
      const drainUntil = performance.now() + 120_000;
      for (;;) {
        const m = await sample();
        if (m && m.every((x) => x.pending === 0) && performance.now() - lastGrowth > 3000) break;
        if (performance.now() > drainUntil) break;
        await new Promise((r) => setTimeout(r, 1000));
      }
      const after = pids[0] !== undefined ? await processMemoryMb(pids[0]) : null;
      result.overload = {
        duration_s: round3(floodS),
        accepted_rps: round3(flood.accepted / floodS),
        status_counts: flood.status_counts,
        socket_errors: flood.errors,
        post_latency_ms: flood.post_latency_ms,
        ordered: lastSize - size0,
        ordered_rps: round3((lastSize - size0) / ((lastGrowth - f0) / 1000)),
        max_pending: maxPending,
        pending_after: ((await metrics().catch(() => null)) ?? []).map((m) => m.pending),
        workerd_rss_before_mb: before?.rss ?? null,
        workerd_rss_max_mb: maxRss || null,
        workerd_rss_after_mb: after?.rss ?? null,
        workerd_rss_high_water_mb: after?.hwm ?? null,
      };
    }
    return result;
  } finally {
    await cluster.dispose();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** Runs the http mode in a child process: workerd's output (the replicas' console) then goes to stderr. */
export function runHttpChild(opts: Omit<HttpOptions, 'log'>, log?: (line: string) => void): Promise<HttpResult> {
  // Start, warm-up, load, drain, flood and its drain, plus 3 minutes for everything else.
  const timeoutMs = 120_000 + opts.warmupMs + opts.durationMs + opts.drainMs + (opts.overloadMs ? opts.overloadMs + 240_000 : 0) + 180_000;
  return runInChild<Omit<HttpOptions, 'log'>, HttpResult>(fileURLToPath(import.meta.url), opts, log, timeoutMs);
}

if (process.send && process.argv[1] === fileURLToPath(import.meta.url)) {
  serveChild<HttpOptions, HttpResult>((opts, log) => runHttp({ ...opts, log }));
}
