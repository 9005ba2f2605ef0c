/**
 * The in-process mode on more than one core: the n replica engines spread over `threads` worker threads
 * (replica i on thread i mod threads), each thread a loop like inprocess.ts's, messages between threads
 * posted in batches as encoded bytes (every message crosses the wire codec, as over a real link).
 *
 * Differences from inprocess.ts (one thread, which stays the reference for CPU per request): the window
 * is by time (warm-up, then `measureMs`), not by epoch boundaries; throughput counts replica 0's log;
 * each thread loads its own replicas closed-loop (`inflight / n` requests each) and measures their
 * latency (submit to a checkpoint covering it at the submitter, in that thread's clock); there is no
 * drain and no crypto accounting. CPU is the whole process's (every thread) over the window.
 *
 *   npx tsx infra/bench/inprocess-threads.ts N INFLIGHT SECONDS [MAX_BATCH] [THREADS]
 *   (SINTRA_BENCH_RATE=R: open loop at R requests per second instead of INFLIGHT)
 */
import { MessageChannel, Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { decodeMessage, encodeMessage } from '../../shared/codec/message-codec.ts';
import { DEFAULT_AB_CONFIG } from '../../shared/protocols/ab.ts';
import { ReplicaEngine } from '../../shared/replica/engine.ts';
import type { EngineStep } from '../../shared/replica/engine.ts';
import { contextFromConfig } from '../../shared/replica/from-config.ts';
import { useNativeEd25519 } from '../../workers/core/native-ed25519.ts';
import { useNativeSha256 } from '../../workers/core/native-sha256.ts';
import { REQUEST_BYTES, TRANSPORT_HEADER_BYTES, dealtGroup, makeRequest, requestFiller, seqOf } from './inprocess.ts';
import type { InProcessResult } from './inprocess.ts';
import { percentiles, round1, round3 } from './stats.ts';

export interface ThreadedOptions {
  readonly n: number;
  readonly threads: number;
  readonly inflight: number;
  /** Open loop instead: this many requests per second in all, spread evenly over the replicas. */
  readonly rate?: number;
  readonly maxBatch?: number;
  readonly warmupMs: number;
  readonly measureMs: number;
  readonly seed?: string;
  readonly log?: (line: string) => void;
}

/** The single-thread result's fields that mean the same here, and how many threads ran. */
export type ThreadedResult = Pick<
  InProcessResult,
  | 'mode' | 'n' | 't' | 'max_batch' | 'load' | 'window_s' | 'throughput_rps' | 'latency_ms' | 'epochs_in_window' | 'epoch_ms'
  | 'mean_epoch_requests' | 'cpu_ms_per_request' | 'cpu_utilization' | 'requests_per_cpu_second' | 'messages_per_request' | 'bytes_per_request'
> & { label: 'threads'; threads: number };

interface WorkerInit {
  readonly n: number;
  readonly t: number;
  readonly threads: number;
  readonly me: number;
  readonly maxBatch: number;
  readonly perReplicaInflight: number;
  /** Open loop: requests per second per replica (0: closed loop). */
  readonly perReplicaRate: number;
  readonly seed: string;
}

/** What a thread reports at a mark. */
interface Counters {
  readonly logSize0: number | null;
  readonly epoch0: number | null;
  readonly messages: number;
  readonly bytes: number;
  readonly latencies: number[];
}

type ToWorker = { readonly kind: 'peer'; readonly port: MessagePort; readonly thread: number } | { readonly kind: 'go' } | { readonly kind: 'mark'; readonly window: boolean } | { readonly kind: 'stop' };

export async function runThreaded(o: ThreadedOptions): Promise<ThreadedResult> {
  const n = o.n;
  const t = Math.floor((n - 1) / 3);
  const threads = Math.max(1, Math.min(o.threads, n));
  const maxBatch = o.maxBatch ?? DEFAULT_AB_CONFIG.maxBatch;
  const seed = o.seed ?? `bench-${n}-${t}`;
  const log = o.log ?? (() => {});
  const workers = Array.from({ length: threads }, (_, me) => {
    const init: WorkerInit = { n, t, threads, me, maxBatch, perReplicaInflight: Math.max(1, Math.floor(o.inflight / n)), perReplicaRate: o.rate ? o.rate / n : 0, seed };
    // The thread runs this TypeScript file too, loaded through tsx by thread-boot.mjs.
    return new Worker(fileURLToPath(new URL('./thread-boot.mjs', import.meta.url)), { workerData: { ...init, entry: import.meta.url } });
  });
  const waiting = workers.map(() => [] as ((v: Counters | 'ready') => void)[]);
  workers.forEach((w, k) => {
    w.on('message', (m: Counters | 'ready') => waiting[k]!.shift()?.(m));
    w.on('error', (e) => log(`thread ${k}: ${e.stack ?? e.message}`));
  });
  const ask = (k: number, msg: ToWorker, transfer: MessagePort[] = []): Promise<Counters | 'ready'> =>
    new Promise((resolve) => {
      waiting[k]!.push(resolve);
      workers[k]!.postMessage(msg, transfer);
    });
  try {
    // Every pair of threads gets a channel; each thread is ready once its replicas are built.
    const ready = workers.map((_, k) => new Promise<void>((resolve) => waiting[k]!.push(() => resolve())));
    for (let a = 0; a < threads; a++) {
      for (let b = a + 1; b < threads; b++) {
        const { port1, port2 } = new MessageChannel();
        workers[a]!.postMessage({ kind: 'peer', port: port1, thread: b } satisfies ToWorker, [port1]);
        workers[b]!.postMessage({ kind: 'peer', port: port2, thread: a } satisfies ToWorker, [port2]);
      }
    }
    await Promise.all(ready);
    log(`threads: ${threads} threads ready for n = ${n}`);
    for (const w of workers) w.postMessage({ kind: 'go' } satisfies ToWorker);
    await new Promise((r) => setTimeout(r, o.warmupMs));
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const start = (await Promise.all(workers.map((_, k) => ask(k, { kind: 'mark', window: true })))) as Counters[];
    await new Promise((r) => setTimeout(r, o.measureMs));
    const end = (await Promise.all(workers.map((_, k) => ask(k, { kind: 'mark', window: false })))) as Counters[];
    const windowMs = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    const cpuMs = (cpu.user + cpu.system) / 1000;
    const first = start.find((c) => c.logSize0 !== null)!;
    const last = end.find((c) => c.logSize0 !== null)!;
    const ordered = last.logSize0! - first.logSize0!;
    const epochs = last.epoch0! - first.epoch0!;
    const sum = (cs: Counters[], f: (c: Counters) => number) => cs.reduce((s, c) => s + f(c), 0);
    const messages = sum(end, (c) => c.messages) - sum(start, (c) => c.messages);
    const bytes = sum(end, (c) => c.bytes) - sum(start, (c) => c.bytes);
    const per = (x: number) => (ordered === 0 ? 0 : round3(x / ordered));
    return {
      mode: 'in-process',
      label: 'threads',
      threads,
      n,
      t,
      max_batch: maxBatch,
      load: o.rate ? { kind: 'open', rate: o.rate } : { kind: 'closed', inflight: o.inflight },
      window_s: round3(windowMs / 1000),
      throughput_rps: Math.round((ordered * 1000) / windowMs),
      latency_ms: percentiles(end.flatMap((c) => c.latencies)),
      epochs_in_window: epochs,
      epoch_ms: epochs === 0 ? 0 : round1(windowMs / epochs),
      mean_epoch_requests: epochs === 0 ? 0 : Math.round(ordered / epochs),
      cpu_ms_per_request: per(cpuMs),
      cpu_utilization: round3(cpuMs / windowMs),
      requests_per_cpu_second: cpuMs === 0 ? 0 : Math.round(ordered / (cpuMs / 1000)),
      messages_per_request: per(messages),
      bytes_per_request: Math.round(per(bytes)),
    };
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

// ---------------------------------------------------------------------------------------------------------
// The worker thread: its replicas, a local FIFO, batches of encoded messages to the other threads.

function runWorker(init: WorkerInit): void {
  useNativeSha256();
  useNativeEd25519();
  const { n, threads, me } = init;
  const { group, secrets } = dealtGroup(n, init.t, init.seed);
  const mine = Array.from({ length: n }, (_, i) => i).filter((i) => i % threads === me);
  const engines = new Map<number, ReplicaEngine>();
  for (const i of mine) {
    engines.set(i, new ReplicaEngine(contextFromConfig(group, secrets[i]!), { ab: { maxBatch: init.maxBatch }, memoryBudgetBytes: 2 ** 40 }));
  }
  const ports = new Map<number, MessagePort>();
  /** Local FIFO: [from, to, bytes]. */
  let queue: [number, number, Uint8Array][] = [];
  let head = 0;
  const outgoing = new Map<number, [number, number, Uint8Array][]>();
  let messages = 0;
  let bytes = 0;
  // Per local replica: its own requests not yet covered by a checkpoint (log index, submit time).
  const pendingIdx = new Map<number, number[]>();
  const pendingAt = new Map<number, number[]>();
  const pendingHead = new Map<number, number>();
  const submittedAt = new Map<number, Map<number, number>>(); // replica -> seq -> time (until appended)
  const inflight = new Map<number, number>();
  let latencies: number[] = [];
  let inWindow = false;
  let running = false;
  const counters = new Map<number, number>(); // replica -> next local request number
  const filler = requestFiller();
  for (const i of mine) {
    pendingIdx.set(i, []);
    pendingAt.set(i, []);
    pendingHead.set(i, 0);
    submittedAt.set(i, new Map());
    inflight.set(i, 0);
    counters.set(i, 0);
  }

  const absorb = (r: number, s: EngineStep): void => {
    for (const out of s.outgoing) {
      const enc = encodeMessage(out.msg);
      messages++;
      bytes += enc.length + TRANSPORT_HEADER_BYTES;
      const to = out.to;
      if (engines.has(to)) queue.push([r, to, enc]);
      else {
        const k = to % threads;
        let list = outgoing.get(k);
        if (!list) outgoing.set(k, (list = []));
        list.push([r, to, enc]);
      }
    }
    const sub = submittedAt.get(r)!;
    for (const a of s.appended) {
      if (a.entry.length !== REQUEST_BYTES) continue;
      const seq = seqOf(a.entry);
      const at = sub.get(seq);
      if (at === undefined) continue;
      sub.delete(seq);
      pendingIdx.get(r)!.push(a.index);
      pendingAt.get(r)!.push(at);
    }
    for (const c of s.checkpoints) {
      const idx = pendingIdx.get(r)!;
      const at = pendingAt.get(r)!;
      let h = pendingHead.get(r)!;
      const now = performance.now();
      while (h < idx.length && idx[h]! < c.size) {
        if (inWindow) latencies.push(now - at[h]!);
        inflight.set(r, inflight.get(r)! - 1);
        h++;
      }
      if (h > 4096) {
        idx.splice(0, h);
        at.splice(0, h);
        h = 0;
      }
      pendingHead.set(r, h);
    }
  };

  let startedAt = 0;
  const feed = (): void => {
    const due = init.perReplicaRate > 0 ? Math.floor(((performance.now() - startedAt) * init.perReplicaRate) / 1000) : 0;
    for (const r of mine) {
      const e = engines.get(r)!;
      // Closed loop: keep perReplicaInflight outstanding; open loop: submit what the schedule says is due.
      while (init.perReplicaRate > 0 ? counters.get(r)! < due : inflight.get(r)! < init.perReplicaInflight) {
        const k = counters.get(r)!;
        counters.set(r, k + 1);
        const seq = k * n + r;
        const req = makeRequest(seq, filler);
        if (e.refusal(req)) {
          if (init.perReplicaRate > 0) continue; // open loop: refused and dropped, as over HTTP (503)
          break;
        }
        submittedAt.get(r)!.set(seq, performance.now());
        inflight.set(r, inflight.get(r)! + 1);
        absorb(r, e.submit(req));
      }
    }
  };

  const flushOutgoing = (): void => {
    for (const [k, list] of outgoing) {
      if (list.length === 0) continue;
      ports.get(k)!.postMessage(list, list.map(([, , b]) => b.buffer as ArrayBuffer));
      outgoing.set(k, []);
    }
  };

  let wake: (() => void) | null = null;
  const onPeer = (list: [number, number, Uint8Array][]) => {
    for (const m of list) queue.push(m);
    wake?.();
  };

  const loop = async (): Promise<void> => {
    while (running) {
      feed();
      const until = performance.now() + 4;
      while (head < queue.length && performance.now() < until) {
        for (let j = 0; j < 64 && head < queue.length; j++) {
          const [from, to, enc] = queue[head++]!;
          const s = engines.get(to)!.receive(from, decodeMessage(enc));
          if (s.deferred) queue.push([from, to, enc]);
          else absorb(to, s);
        }
      }
      if (head > 65536 && head * 2 > queue.length) {
        queue = queue.slice(head);
        head = 0;
      }
      flushOutgoing();
      // Let peer batches and marks in; wait for them when there is nothing to do here.
      if (head >= queue.length) await new Promise<void>((r) => ((wake = r), setTimeout(r, 5)));
      else await new Promise<void>((r) => setImmediate(r));
      wake = null;
    }
  };

  parentPort!.on('message', (m: ToWorker) => {
    if (m.kind === 'peer') {
      ports.set(m.thread, m.port);
      m.port.on('message', onPeer);
      if (ports.size === threads - 1) parentPort!.postMessage('ready');
    } else if (m.kind === 'go') {
      running = true;
      startedAt = performance.now();
      void loop();
    } else if (m.kind === 'mark') {
      const e0 = engines.get(0);
      const c: Counters = { logSize0: e0 ? e0.log.size : null, epoch0: e0 ? e0.ab.currentEpoch : null, messages, bytes, latencies: m.window ? [] : latencies };
      if (m.window) {
        latencies = [];
        inWindow = true;
      } else inWindow = false;
      parentPort!.postMessage(c);
    } else running = false;
  });
  if (threads === 1) parentPort!.postMessage('ready');
}

if (!isMainThread && parentPort) {
  runWorker(workerData as WorkerInit);
} else if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const n = Number(process.argv[2] ?? 4);
  const inflight = Number(process.argv[3] ?? 8192);
  const seconds = Number(process.argv[4] ?? 10);
  const maxBatch = process.argv[5] ? Number(process.argv[5]) : undefined;
  const threads = Number(process.argv[6] ?? 2);
  // SINTRA_BENCH_RATE=R: open loop at R requests per second in all.
  const rate = Number(process.env['SINTRA_BENCH_RATE'] ?? 0);
  const r = await runThreaded({ n, threads, inflight, ...(rate > 0 ? { rate } : {}), warmupMs: 4000, measureMs: seconds * 1000, ...(maxBatch ? { maxBatch } : {}), log: (s) => console.error(s) });
  console.log(JSON.stringify(r, null, 2));
}
