/**
 * Baseline mode: the single-server service of baseline-server.ts in its own process, loaded by the same
 * client processes (client.ts) as the replicated cluster, in the same run.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fromHex } from '../../shared/crypto/bytes.ts';
import { decodeG2 } from '../../shared/crypto/curve.ts';
import { receiptFromJson, verifyReceipt } from '../../shared/log/checkpoint.ts';
import type { G2Point } from '../../shared/crypto/curve.ts';
import { forkTs, runClients } from './loadgen.ts';
import type { LoadResult } from './loadgen.ts';
import type { ClientConfig } from './client.ts';
import type { Percentiles } from './stats.ts';
import { round3 } from './stats.ts';

const SERVER = fileURLToPath(new URL('./baseline-server.ts', import.meta.url));

export interface LoadOptions {
  readonly clients: number;
  readonly concurrency: number;
  /** Requests per POST (POST /v1/requests/batch when above 1). */
  readonly postBatch?: number;
  /** Accepted-but-uncertified requests per client process before its workers wait (default concurrency). */
  readonly maxOutstanding?: number;
  readonly warmupMs: number;
  readonly durationMs: number;
  readonly drainMs: number;
  readonly pollMs: number;
  /** Certified requests per client process whose receipts are fetched and verified (default 5). */
  readonly receiptSample?: number;
  readonly log?: (line: string) => void;
}

/** The client processes' configs of a measured load (same for the baseline and the HTTP cluster). */
export function loadClients(o: LoadOptions, urls: readonly string[], followUrl: (client: number) => string): ClientConfig[] {
  return Array.from({ length: o.clients }, (_, k) => ({
    clientId: k,
    urls,
    followUrl: followUrl(k),
    concurrency: o.concurrency,
    ...(o.postBatch && o.postBatch > 1 ? { batch: o.postBatch } : {}),
    ...(o.maxOutstanding ? { maxOutstanding: o.maxOutstanding } : {}),
    warmupMs: o.warmupMs,
    durationMs: o.durationMs,
    drainMs: o.drainMs,
    pollMs: o.pollMs,
    requestBytes: 250,
    sampleIds: o.receiptSample ?? 5,
  }));
}

export interface HttpLikeResult {
  mode: 'http' | 'baseline';
  n: number;
  /** Certified requests per second (all client processes), in the window. */
  throughput_rps: number;
  /** Submit -> certified, observed by following the log (+ up to poll_ms). */
  latency_ms: Percentiles;
  /** Submit -> the POST's 202 (the request is accepted and journaled, not yet ordered). */
  post_latency_ms: Percentiles;
  accepted_rps: number;
  /** Certified requests over the whole load phase (warm-up and drain included): robust for short runs. */
  overall_certified_rps: number;
  clients: number;
  concurrency_per_client: number;
  /** Requests per POST (above 1: POST /v1/requests/batch). */
  requests_per_post: number;
  max_outstanding_per_client: number;
  window_s: number;
  poll_ms: number;
  submitted: number;
  certified: number;
  uncertified_at_end: number;
  status_counts: Record<string, number>;
  errors: number;
  last_error: string | null;
  /** Server-side CPU (workerd, or the baseline process) per certified request, whole load phase. */
  server_cpu_ms_per_request: number;
  client_cpu_ms_per_request: number;
  /** Peak RSS of the server process (workerd holds all n replicas). */
  server_rss_high_water_mb: number | null;
  receipts_checked: number;
  receipts_valid: number;
}

export interface BaselineResult extends HttpLikeResult {
  mode: 'baseline';
  /** Checkpoints signed (one BLS signature each) during the load, and requests per checkpoint. */
  batches: number;
  mean_batch: number;
}

export async function checkReceipts(sample: readonly { id: string; url: string }[], groupKey: G2Point, groupId: Uint8Array): Promise<{ checked: number; valid: number; failures: string[] }> {
  const failures: string[] = [];
  const one = async (s: { id: string; url: string }): Promise<boolean> => {
    try {
      let res: Response;
      try {
        res = await fetch(`${s.url}/v1/receipts/${s.id}`, { signal: AbortSignal.timeout(15_000) });
      } catch {
        res = await fetch(`${s.url}/v1/receipts/${s.id}`, { signal: AbortSignal.timeout(15_000) });
      }
      const j = await res.json();
      if (res.status !== 200) {
        failures.push(`${s.id}: ${res.status} ${JSON.stringify(j).slice(0, 120)}`);
        return false;
      }
      const { groupId: g, receipt } = receiptFromJson(j);
      const v = verifyReceipt(groupKey, groupId, receipt);
      if (v.ok && g.every((x, i) => x === groupId[i])) return true;
      failures.push(`${s.id}: ${v.ok ? 'group id differs' : v.reason}`);
    } catch (e) {
      failures.push(`${s.id}: ${String(e)}`);
    }
    return false;
  };
  const ok = await Promise.all(sample.map(one));
  return { checked: sample.length, valid: ok.filter(Boolean).length, failures };
}

export function loadFields(l: LoadResult, pollMs: number, postBatch = 1): Omit<HttpLikeResult, 'mode' | 'n' | 'server_cpu_ms_per_request' | 'server_rss_high_water_mb' | 'receipts_checked' | 'receipts_valid'> {
  return {
    throughput_rps: l.certified_rps,
    latency_ms: l.latency_ms,
    post_latency_ms: l.post_latency_ms,
    accepted_rps: l.accepted_rps,
    overall_certified_rps: l.overall_certified_rps,
    clients: l.clients,
    concurrency_per_client: l.concurrency_per_client,
    requests_per_post: postBatch,
    max_outstanding_per_client: l.max_outstanding_per_client,
    window_s: l.window_s,
    poll_ms: pollMs,
    submitted: l.submitted,
    certified: l.certified,
    uncertified_at_end: l.uncertified_at_end,
    status_counts: l.status_counts,
    errors: l.errors,
    last_error: l.last_error,
    client_cpu_ms_per_request: l.certified === 0 ? 0 : round3(l.client_cpu_ms / l.certified),
  };
}

export async function runBaseline(o: LoadOptions): Promise<BaselineResult> {
  const dataDir = mkdtempSync(join(tmpdir(), 'sintra-bench-baseline-'));
  const server = forkTs(SERVER, [dataDir]);
  try {
    const info = await new Promise<{ url: string; publicKey: string; groupId: string }>((resolve, reject) => {
      server.once('message', (m: { type: string; url: string; publicKey: string; groupId: string }) => (m.type === 'listening' ? resolve(m) : reject(new Error(JSON.stringify(m)))));
      server.once('exit', (code) => reject(new Error(`baseline server exited with ${code}`)));
    });
    const stats = () =>
      new Promise<{ cpuMs: number; rssMb: number; batches: number }>((resolve) => {
        server.once('message', (m: { cpuMs: number; rssMb: number; batches: number }) => resolve(m));
        server.send({ type: 'stats' });
      });
    o.log?.(`baseline: single server at ${info.url}; ${o.clients} client processes x ${o.concurrency} in flight for ${(o.warmupMs + o.durationMs) / 1000} s`);
    const before = await stats();
    const load = await runClients(
      loadClients(o, [info.url], () => info.url),
      o.warmupMs + o.durationMs + o.drainMs + 60_000,
    );
    const after = await stats();
    const receipts = await checkReceipts(load.sample, decodeG2(fromHex(info.publicKey)), fromHex(info.groupId, 32));
    for (const f of receipts.failures) o.log?.(`baseline receipt: ${f}`);
    const batches = after.batches - before.batches;
    return {
      mode: 'baseline',
      n: 1,
      ...loadFields(load, o.pollMs, o.postBatch),
      server_cpu_ms_per_request: load.certified === 0 ? 0 : round3((after.cpuMs - before.cpuMs) / load.certified),
      server_rss_high_water_mb: after.rssMb,
      receipts_checked: receipts.checked,
      receipts_valid: receipts.valid,
      batches,
      mean_batch: batches === 0 ? 0 : Math.round(load.certified / batches),
    };
  } finally {
    if (server.connected) server.send({ type: 'stop' });
    await new Promise((r) => setTimeout(r, 200));
    if (server.exitCode === null) server.kill();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
