/**
 * `npm run bench [-- options]`: the benchmark harness of issue 7 (docs/benchmarks.md).
 *
 *   --quick                 whole run under two minutes: in-process n=4 and 16, baseline and http n=4 with
 *                           1 and 100 requests per POST, short windows
 *                           (memory, restart, storage: 20000, 10000, 10000 entries, SQLite only)
 *   --json                  print ONE JSON document to stdout ({"machine": {...}, "results": [...], "scale": [...]})
 *   --modes a,b,c           any of in-process, http, baseline, memory, restart, storage (default: the first
 *                           three; the others take minutes each, much longer on a busy machine)
 *   --n 4,7,10,16           replica counts for in-process (default 4,7,10,16; --quick: 4,16)
 *   --http-n 4              replica counts for the local HTTP cluster (default 4)
 *   --cluster separate      which local HTTP clusters: separate (npm start -- --separate: a workerd per
 *                           replica), miniflare (npm start: all replicas in one workerd), mixed (half
 *                           workerd, half Node replica processes), node (one Node process per replica);
 *                           a list runs each (default separate)
 *   --inflight 256,...      closed-loop load sweep at n=4 in-process (default 512,1024,2048,4096,16384; none in --quick)
 *   --max-batch 1024        AbConfig.maxBatch for in-process runs (default: the engine's default)
 *   --batch-sweep 4096,...  more maxBatch values at n=4, 2n batches in flight (default 4096,16384; none in --quick)
 *   --suites a,b            in-process suites: n-sweep, threads, load-sweep, batch-sweep, half-peak, overload,
 *                           wan (default all; --quick: n-sweep at n=4 and threads)
 *   --threads 2             worker threads of the threads suite (the n-sweep's loads on more cores:
 *                           inprocess-threads.ts)
 *   --wan 15,40,75,110      the wan suite: in-process n=4 with replica i that many ms from a common point
 *                           (one-way delay i -> j: the mean of the two), open loop at --wan-rate req/s
 *   --wan-rate R            (default 2000)
 *   --seconds S             measurement window per run (default in-process 10, baseline 15, http 40;
 *                           --quick 2, 4, 14); in-process windows also span whole epochs (at least 3, or 2)
 *   --clients 2             client processes for http and baseline
 *   --concurrency C         concurrent POSTs per client process (default 16 for http, 64 for baseline)
 *   --post-batch 1,100      requests per POST for http and baseline, a list runs each (default 1,100; above 1:
 *                           POST /v1/requests/batch); each result says its requests_per_post
 *   --max-outstanding M     accepted-but-uncertified requests per client process before it waits (default 4000)
 *   --overload              add the flood phase to http mode (default on in full runs, off in --quick)
 *
 * Measurements against log length (scale.ts: each runs a script of this folder as a child process; its JSON
 * lines go to the document's "scale" field; a list of kinds or backends runs each):
 *   memory                  memory-hosts.ts: heap per replica against log length, four replica hosts on
 *                           SQLite with simulator crypto, and replica 0's load time at the end
 *   --memory-total N        log entries (default 1000000; --quick 20000)
 *   --memory-every N        entries between measurements (default a tenth of the total)
 *   --memory-kind K         plain, notary or ca requests (default plain)
 *   restart                 transfer.ts: state-transfer rate and restart time with real threshold crypto
 *   --restart-total N       log entries (default 100000; --quick 10000)
 *   --restart-kind K        plain or notary (default plain)
 *   storage                 storage.ts: bytes per log entry and receipt reads per backend
 *   --storage-total N       log entries (default 100000; --quick 10000)
 *   --storage-backends B    sqlite, redis (default sqlite,redis; --quick sqlite; redis needs redis-server)
 *   --storage-kind K        plain or notary (default plain)
 *
 *   --out DIR               where the results JSON goes (default bench-results/)
 *
 * Every run also writes the JSON document to DIR/<timestamp>.json. Progress goes to stderr.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_AB_CONFIG } from '../../shared/protocols/ab.ts';
import { runBaseline } from './baseline.ts';
import type { BaselineResult } from './baseline.ts';
import { HTTP_CLUSTERS, runHttpChild } from './http.ts';
import type { HttpCluster, HttpResult } from './http.ts';
import { runInProcessChild } from './inprocess.ts';
import type { InProcessOptions, InProcessResult } from './inprocess.ts';
import { runThreaded } from './inprocess-threads.ts';
import type { ThreadedResult } from './inprocess-threads.ts';
import { SCALE_MODES, scaleOptions, scaleRuns, scaleTable } from './scale.ts';
import type { ScaleResult } from './scale.ts';
import { loadavg, machineInfo, pad, round3 } from './stats.ts';
import type { MachineInfo } from './stats.ts';

export type BenchResult = InProcessResult | ThreadedResult | (HttpResult & { ratio_to_baseline?: number }) | BaselineResult;

export interface BenchDocument {
  machine: MachineInfo & { note: string };
  command: string;
  /** The code measured: commit, and files under shared/ and workers/ that differ from it (work in progress). */
  code?: { commit: string; modified: string[] };
  results: BenchResult[];
  /** Measurements against log length: the memory, restart and storage modes (scale.ts), when run. */
  scale?: ScaleResult[];
  /** Runs that failed (the others still count). */
  errors?: BenchError[];
}

export interface BenchError {
  mode: string;
  n: number;
  /** Which run of the mode, where n does not say it (scale modes: "notary, 20000 entries"). */
  config?: string;
  error: string;
}

function codeVersion(): { commit: string; modified: string[] } | undefined {
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const status = execFileSync('git', ['status', '--porcelain', '--', 'shared', 'workers', 'infra/cluster'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return { commit, modified: status.split('\n').filter(Boolean).map((l) => l.slice(3)) };
  } catch {
    return undefined;
  }
}

const list = (s: string | undefined): number[] => (s ? s.split(',').map((x) => Number(x.trim())).filter((x) => Number.isFinite(x) && x > 0) : []);

export async function main(argv: string[]): Promise<BenchDocument> {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      modes: { type: 'string', default: 'in-process,baseline,http' },
      n: { type: 'string' },
      'http-n': { type: 'string', default: '4' },
      cluster: { type: 'string', default: 'separate' },
      inflight: { type: 'string' },
      'max-batch': { type: 'string' },
      'batch-sweep': { type: 'string' },
      suites: { type: 'string' },
      seconds: { type: 'string' },
      clients: { type: 'string', default: '2' },
      'post-batch': { type: 'string', default: '1,100' },
      wan: { type: 'string', default: '15,40,75,110' },
      threads: { type: 'string', default: '2' },
      'wan-rate': { type: 'string', default: '2000' },
      concurrency: { type: 'string' },
      'max-outstanding': { type: 'string' },
      overload: { type: 'boolean' },
      'memory-total': { type: 'string' },
      'memory-every': { type: 'string' },
      'memory-kind': { type: 'string' },
      'restart-total': { type: 'string' },
      'restart-kind': { type: 'string' },
      'storage-total': { type: 'string' },
      'storage-backends': { type: 'string' },
      'storage-kind': { type: 'string' },
      out: { type: 'string', default: 'bench-results' },
    },
  });
  const quick = values.quick!;
  const modes = new Set(values.modes!.split(',').map((m) => m.trim()));
  const allModes: readonly string[] = ['in-process', 'http', 'baseline', ...SCALE_MODES];
  for (const m of modes) if (!allModes.includes(m)) throw new Error(`unknown mode ${m} (${allModes.join(', ')})`);
  // Parsed (and checked) before anything runs, also when no scale mode is selected.
  const scale = scaleOptions(values, quick);
  const ns = list(values.n).length > 0 ? list(values.n) : quick ? [4, 16] : [4, 7, 10, 16];
  const postBatches = list(values['post-batch']);
  for (const b of postBatches) if (!Number.isInteger(b) || b < 1 || b > 1000) throw new Error(`--post-batch: ${b} is not a number of requests per POST from 1 to 1000`);
  const httpNs = list(values['http-n']);
  const clusters = values.cluster!.split(',').map((c) => c.trim()) as HttpCluster[];
  for (const c of clusters) if (!HTTP_CLUSTERS.includes(c)) throw new Error(`unknown cluster ${c} (${HTTP_CLUSTERS.join(', ')})`);
  const sweep = values.inflight !== undefined ? list(values.inflight) : quick ? [] : [512, 1024, 2048, 4096, 16384];
  const maxBatch = values['max-batch'] ? Number(values['max-batch']) : DEFAULT_AB_CONFIG.maxBatch;
  const batchSweep = values['batch-sweep'] !== undefined ? list(values['batch-sweep']) : quick ? [] : [4096, 16384];
  const seconds = values.seconds ? Number(values.seconds) : undefined;
  const clients = Number(values.clients);
  const maxOutstanding = Number(values['max-outstanding'] ?? 4000);
  const overload = values.overload ?? !quick;
  const suites = new Set((values.suites ?? (quick ? 'n-sweep,threads' : 'n-sweep,threads,load-sweep,batch-sweep,half-peak,overload,wan')).split(',').map((x) => x.trim()));
  const threads = Number(values.threads);
  if (!Number.isInteger(threads) || threads < 1 || threads > 64) throw new Error('--threads: a number of worker threads from 1 to 64');
  // Quick: the single-thread reference at n = 4; both n on the threads.
  const singleNs = quick && list(values.n).length === 0 ? [4] : ns;
  const wanMs = list(values.wan);
  const wanRate = Number(values['wan-rate']);
  if (wanMs.length === 0 || wanMs.some((d) => !(d >= 0 && d <= 10_000))) throw new Error(`--wan: one-way distances in ms from 0 to 10000, e.g. 15,40,75,110`);
  if (!(wanRate > 0)) throw new Error(`--wan-rate: a positive number of requests per second`);
  const log = (line: string) => process.stderr.write(`${line}\n`);

  const code = codeVersion();
  const machine = { ...machineInfo(), note: 'shared machine: other jobs were running; see loadavg_start/loadavg_end and each in-process cpu_utilization' };
  const results: BenchResult[] = [];
  const errors: BenchError[] = [];
  const scaleResults: ScaleResult[] = [];
  const doc: BenchDocument = { machine, command: `npm run bench -- ${argv.join(' ')}`.trim(), ...(code ? { code } : {}), results, scale: scaleResults, errors };
  mkdirSync(values.out!, { recursive: true });
  const file = join(values.out!, `${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  /** Written after every run, so an interrupted run keeps what it measured. */
  const save = () => {
    machine.loadavg_end = loadavg();
    writeFileSync(file, JSON.stringify(doc, null, 2) + '\n');
  };
  const attempt = async <T>(mode: string, n: number, f: () => Promise<T>, config?: string): Promise<T | null> => {
    try {
      return await f();
    } catch (e) {
      const error = e instanceof Error ? e.message : String(e);
      log(`  !! ${mode} n=${n}${config ? ` (${config})` : ''} failed: ${error}`);
      errors.push({ mode, n, ...(config ? { config } : {}), error: error.slice(0, 2000) });
      return null;
    } finally {
      save();
    }
  };
  const t0 = performance.now();
  const elapsed = () => `${((performance.now() - t0) / 1000).toFixed(0)} s`;

  if (modes.has('in-process')) {
    const base = (n: number, mb = maxBatch): Omit<InProcessOptions, 'load'> => ({
      n,
      maxBatch: mb,
      warmupMs: quick ? 500 : 3000,
      measureMs: (seconds ?? (quick ? 2 : 10)) * 1000,
      minEpochs: quick ? 1 : n >= 10 ? 2 : 3,
      warmupEpochs: quick || n >= 10 ? 1 : 2,
      maxMeasureMs: quick ? 20_000 : 240_000,
      drain: !quick,
      drainTimeoutMs: 300_000,
    });
    const one = (opts: Omit<InProcessOptions, 'log' | 'inspect'>): Promise<InProcessResult | null> =>
      attempt('in-process', opts.n, async () => {
        const what = opts.load.kind === 'closed' ? `${opts.load.inflight} in flight` : `${opts.load.rate} req/s open loop`;
        log(`[${elapsed()}] in-process n=${opts.n}, ${what}, maxBatch ${opts.maxBatch}`);
        const r = await runInProcessChild(opts, log, 120_000 + (opts.maxMeasureMs ?? 0) + (opts.drainTimeoutMs ?? 0) + 600_000);
        log(`  -> ${r.throughput_rps} req/s, p50 ${r.latency_ms.p50} ms, epoch ${r.epoch_ms} ms, cpu utilization ${r.cpu_utilization}`);
        results.push(r);
        return r;
      });
    // Throughput vs n: two epochs' worth of requests in flight (2 n full batches), so every epoch is full.
    if (suites.has('n-sweep')) for (const n of singleNs) await one({ ...base(n), label: 'n-sweep', load: { kind: 'closed', inflight: 2 * n * maxBatch } });
    // The same loads with the replicas spread over worker threads (both cores: inprocess-threads.ts).
    if (suites.has('threads')) {
      for (const n of ns) {
        await attempt('in-process', n, async () => {
          log(`[${elapsed()}] in-process n=${n} on ${threads} threads, ${2 * n * maxBatch} in flight, maxBatch ${maxBatch}`);
          const r = await runThreaded({ n, threads, inflight: 2 * n * maxBatch, maxBatch, warmupMs: quick ? 3000 : 8000, measureMs: (seconds ?? (quick ? 4 : 15)) * 1000, log });
          log(`  -> ${r.throughput_rps} req/s, p50 ${r.latency_ms.p50} ms, epoch ${r.epoch_ms} ms, cpu utilization ${r.cpu_utilization}`);
          results.push(r);
          return r;
        }, `${threads} threads`);
      }
    }
    // Throughput vs latency at n = 4: closed-loop sweep (default maxBatch), bigger batches, then open loop
    // at half of the best throughput seen at n = 4, with that run's maxBatch.
    const atFour = () => results.filter((r): r is InProcessResult => r.mode === 'in-process' && !('threads' in r) && r.n === 4);
    for (const inflight of suites.has('load-sweep') ? sweep : []) {
      if (atFour().some((r) => r.max_batch === maxBatch && r.load.kind === 'closed' && r.load.inflight === inflight)) continue;
      await one({ ...base(4), label: 'load-sweep', load: { kind: 'closed', inflight } });
    }
    for (const mb of suites.has('batch-sweep') ? batchSweep : []) {
      if (mb === maxBatch) continue;
      await one({ ...base(4, mb), label: 'batch-sweep', load: { kind: 'closed', inflight: 2 * 4 * mb } });
    }
    if (suites.has('half-peak')) {
      const best = atFour().reduce<InProcessResult | null>((a, r) => (!a || r.throughput_rps > a.throughput_rps ? r : a), null);
      if (best && best.throughput_rps > 0) await one({ ...base(4, best.max_batch), label: 'half-peak', load: { kind: 'open', rate: Math.round(best.throughput_rps / 2) } });
    }
    // Overload: offer far more than the group can order, with a small pending bound: submissions beyond it
    // are refused (the HTTP API's 503 'overloaded') and memory stays bounded.
    if (suites.has('overload')) {
      await one({ ...base(4), label: 'overload', maxPending: 5000, load: { kind: 'open', rate: 20_000 } });
    }
    // Four regions: what the one-way delays add to latency (docs/benchmarks.md has the critical path).
    if (suites.has('wan')) await one({ ...base(4), label: 'wan', wanMs, load: { kind: 'open', rate: wanRate } });
  }

  // One baseline per batching, so each HTTP result has its ratio to the same batching.
  const baselines = new Map<number, BaselineResult>();
  if (modes.has('baseline')) for (const postBatch of postBatches) {
    log(`[${elapsed()}] baseline (single server, one BLS key), ${postBatch} request(s) per POST`);
    const baseline = await attempt('baseline', 1, () => runBaseline({
      clients,
      concurrency: values.concurrency ? Number(values.concurrency) : 64,
      postBatch,
      maxOutstanding,
      warmupMs: quick ? 1000 : 3000,
      durationMs: (seconds ?? (quick ? 4 : 15)) * 1000,
      drainMs: quick ? 2000 : 10_000,
      receiptSample: quick ? 2 : 5,
      pollMs: 50,
      log,
    }));
    if (baseline) {
      log(`  -> ${baseline.throughput_rps} req/s certified, p50 ${baseline.latency_ms.p50} ms`);
      results.push(baseline);
      baselines.set(postBatch, baseline);
      save();
    }
  }

  if (modes.has('http')) {
    for (const cluster of clusters) for (const n of httpNs) for (const postBatch of postBatches) {
      log(`[${elapsed()}] http: local ${cluster} cluster, n=${n}, ${postBatch} request(s) per POST`);
      const r: (HttpResult & { ratio_to_baseline?: number }) | null = await attempt('http', n, () => runHttpChild({
        n,
        cluster,
        clients,
        concurrency: values.concurrency ? Number(values.concurrency) : 16,
        postBatch,
        maxOutstanding,
        warmupMs: quick ? 2000 : 15_000,
        durationMs: (seconds ?? (quick ? 14 : 40)) * 1000,
        drainMs: quick ? 3000 : 30_000,
        receiptSample: quick ? 2 : 5,
        pollMs: 50,
        overloadMs: overload ? 8000 : 0,
      }, log));
      if (!r) continue;
      const baseline = baselines.get(postBatch);
      if (baseline && baseline.throughput_rps > 0) r.ratio_to_baseline = round3(r.throughput_rps / baseline.throughput_rps);
      log(`  -> ${r.throughput_rps} req/s certified, p50 ${r.latency_ms.p50} ms${r.ratio_to_baseline !== undefined ? `, ${r.ratio_to_baseline} of the baseline` : ''}`);
      results.push(r);
      save();
    }
  }

  // Memory, restart and storage: one child process per kind (and backend); n is the replicas they run (storage: none).
  for (const run of scaleRuns(modes, scale)) {
    log(`[${elapsed()}] ${run.mode}: ${run.config} (${run.command})`);
    const r = await attempt(run.mode, run.mode === 'storage' ? 1 : 4, () => run.run(log), run.config);
    if (r) {
      scaleResults.push(r);
      save();
    }
  }

  if (scaleResults.length === 0) delete doc.scale;
  if (errors.length === 0) delete doc.errors;
  save();
  log(`[${elapsed()}] results written to ${file}`);
  if (values.json) process.stdout.write(JSON.stringify(doc) + '\n');
  else process.stdout.write(table(doc) + '\n');
  return doc;
}

/** The readable table. */
export function table(doc: BenchDocument): string {
  const m = doc.machine;
  const lines = [
    `machine: ${m.cpus} x ${m.cpu_model}, ${m.memory_gb} GB, node ${m.node}; load average ${m.loadavg_start.join(' ')} -> ${(m.loadavg_end ?? []).join(' ')}`,
    ...(doc.code ? [`code: ${doc.code.commit}${doc.code.modified.length ? ` + uncommitted changes in ${doc.code.modified.join(', ')}` : ''}`] : []),
  ];
  if (doc.results.length > 0) lines.push('', [pad('mode', 10), pad('n', 3), pad('load', 14), pad('req/s', 8), pad('p50 ms', 9), pad('p90 ms', 9), pad('p99 ms', 9), pad('cpu ms/req', 10), pad('msgs/req', 9), pad('bytes/req', 9), pad('epoch ms', 9), pad('req/epoch', 9), pad('heap MB', 8), '  notes'].join(' '));
  for (const r of doc.results) {
    let load: string;
    let notes = '';
    let cpu: number;
    let msgs = '';
    let bytes = '';
    let epoch = '';
    let batch = '';
    let heap = '';
    if (r.mode === 'in-process') {
      load = r.load.kind === 'closed' ? `${r.load.inflight} in flight` : `${r.load.rate}/s open`;
      cpu = r.cpu_ms_per_request;
      msgs = String(r.messages_per_request);
      bytes = String(r.bytes_per_request);
      epoch = String(r.epoch_ms);
      batch = String(r.mean_epoch_requests);
      if ('threads' in r) notes = `${r.threads} worker threads, cpu util ${r.cpu_utilization}, ${r.requests_per_cpu_second} req/cpu-s`;
      else {
        heap = String(r.heap_high_water_mb);
        const c = r.crypto_per_epoch;
        notes = `${r.wan_ms ? `WAN ${r.wan_ms.join('/')} ms, ` : ''}cpu util ${r.cpu_utilization}, ${r.requests_per_cpu_second} req/cpu-s, crypto/epoch sign ${c.sign} verifyShare ${c.verifyShare} combine ${c.combine} verify ${c.verify}${r.refused ? `, ${r.refused} refused (maxPending ${r.max_pending})` : ''}${r.heap_retained_mb_per_replica !== null && r.heap_retained_mb_per_replica !== undefined ? `, ${r.heap_retained_mb_per_replica} MB retained/replica` : ''}${r.all_delivered === false ? ', NOT ALL DELIVERED' : ''}`;
      }
    } else {
      load = `${r.clients}x${r.concurrency_per_client}${r.requests_per_post > 1 ? `x${r.requests_per_post}` : ''} POSTs`;
      if (r.mode === 'http') notes = `${r.cluster ?? 'miniflare'} cluster, `;
      cpu = r.server_cpu_ms_per_request;
      heap = r.server_rss_high_water_mb === null ? '' : `${r.server_rss_high_water_mb} rss`;
      const errs = Object.entries(r.status_counts)
        .filter(([k]) => k !== '202' && k !== '200')
        .map(([k, v]) => `${v}x${k}`)
        .join(' ');
      notes += `${r.overall_certified_rps} req/s over the whole load, POST p50 ${r.post_latency_ms.p50} ms, receipts ${r.receipts_valid}/${r.receipts_checked} valid${r.errors ? `, ${r.errors} socket errors` : ''}${errs ? `, ${errs}` : ''}`;
      if (r.mode === 'http' && 'ratio_to_baseline' in r && r.ratio_to_baseline !== undefined) notes += `, ${r.ratio_to_baseline} x baseline`;
      if (r.mode === 'http' && r.overload) {
        const ov = r.overload;
        notes += `; overload: ${ov.accepted_rps} accepted/s, ${ov.ordered_rps} ordered/s, statuses ${JSON.stringify(ov.status_counts)}, max pending ${ov.max_pending}, workerd rss ${ov.workerd_rss_before_mb}->${ov.workerd_rss_max_mb} MB`;
      }
    }
    lines.push(
      [pad(r.mode, 10), pad(r.n, 3), pad(load, 14), pad(r.throughput_rps, 8), pad(r.latency_ms.p50, 9), pad(r.latency_ms.p90, 9), pad(r.latency_ms.p99, 9), pad(cpu, 10), pad(msgs, 9), pad(bytes, 9), pad(epoch, 9), pad(batch, 9), pad(heap, 8), '  ' + notes].join(' '),
    );
  }
  if (doc.scale?.length) lines.push('', scaleTable(doc.scale));
  if (doc.errors?.length) lines.push('');
  for (const e of doc.errors ?? []) lines.push(`FAILED ${e.mode} n=${e.n}${e.config ? ` (${e.config})` : ''}: ${e.error.split('\n')[0]}`);
  return lines.join('\n');
}

if (process.argv[1]?.endsWith('main.ts')) {
  main(process.argv.slice(2)).then(
    (doc) => process.exit(doc.errors?.length ? 1 : 0),
    (e) => {
      process.stderr.write(`bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exit(1);
    },
  );
}
