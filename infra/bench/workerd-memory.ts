/**
 * What the Workers runtime itself holds for a Durable Object replica as its log grows with application
 * entries (not only the engine's estimate; memory-hosts.ts measures the same on Node): a local group of 4
 * replicas, each a Worker with its SQLite-backed Durable Object in a Miniflare instance of its own, hence
 * its own workerd process (infra/cluster/mixed-cluster.ts with no Node replicas and `separateWorkers`;
 * peers over HTTP on loopback, as deployed Workers reach each other), freshly dealt keys in a temp folder.
 * `total` notary stamps of random digests (encodeStampEntry: each one a registration in the notary's state,
 * which lives in storage) are POSTed through /v1/requests/batch, `perPost` per POST, each batch to a kernel
 * of replicas (the SDK's rule: the first replicas that form a kernel; here the starting replica rotates so
 * that every replica takes requests), a bounded number of batches in flight; answers 429/503 (and items
 * refused inside a 200) are sent again after their Retry-After.
 *
 * At the start and after every `every` certified entries (replica 0's signed checkpoint), and once more
 * when the load is certified and the replicas idle, each replica is sampled:
 * - its workerd process (found by the port it serves on, among this process's children): VmRSS, RssAnon
 *   and RssFile from /proc/<pid>/status, and RssAnon split by /proc/<pid>/smaps into what lies inside V8's
 *   reservations (mappings of 1 GiB or more) and the rest (anonSplitMb);
 * - the V8 heap of its isolate as workerd's inspector reports it (Runtime.getHeapUsage after
 *   HeapProfiler.collectGarbage): workerd is started through a wrapper (MINIFLARE_WORKERD_PATH) that adds
 *   `--inspector-addr=127.0.0.1:0`, and the inspector's port is found the same way as the pid. Pass `noheap`
 *   as a fourth argument to run workerd without the inspector (RSS only);
 * - its /v1/metrics: engine.memory.estimatedBytes (what the memory budget checks), logSize, pending;
 * - its Durable Object's files in the data folder (DATA/do/<replica id>: SQLite database and WAL).
 * At most 20 POSTs' worth of stamps are uncertified at any time (as the loadgen's maxOutstanding), so that
 * the samples measure the log rather than a queue of everything submitted. At the end, with the inspector,
 * a heap snapshot of replica 0 counts what getHeapUsage leaves out (ArrayBuffer backing stores).
 * The replicas run with the HTTP benchmark's memory budget and client rate (http.ts), so no refusal is a
 * budget's or a rate limit's: the point is to see whether what workerd holds grows with the log.
 *
 *   node --import tsx infra/bench/workerd-memory.ts [total=100000] [perPost=500] [every=10000] [heap|noheap]
 *
 * One JSON line per sample on stdout; progress and a table on stderr.
 */
import { chmodSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeStampEntry } from '../../shared/app/notary.ts';
import { parseGroup } from '../../shared/config/group.ts';
import { waitUntilReady } from '../cluster/local-cluster.ts';
import { startMixedCluster } from '../cluster/mixed-cluster.ts';
import type { MixedCluster } from '../cluster/mixed-cluster.ts';
import { BENCH_CLIENT_RATE, BENCH_MEMORY_BUDGET_MB } from './http.ts';
import { descendants, pad, round1 } from './stats.ts';

const total = Number(process.argv[2] ?? 100_000);
const perPost = Number(process.argv[3] ?? 500);
const every = Number(process.argv[4] ?? 10_000);
const heapMode = process.argv[5] ?? 'heap';
if (![total, perPost, every].every((x) => Number.isInteger(x) && x > 0)) throw new Error('total, perPost and every must be positive integers');
if (perPost > 1000) throw new Error('perPost: at most 1000 requests per POST (MAX_BATCH_REQUESTS)');
if (heapMode !== 'heap' && heapMode !== 'noheap') throw new Error(`fourth argument: heap or noheap, not ${heapMode}`);
const N = 4;
/** Batches under way at once (each one POSTed to a kernel: two replicas here). */
const IN_FLIGHT = 4;
/**
 * Stamps submitted and not yet certified, at most (the loadgen's maxOutstanding): the replicas take a batch
 * in one storage write, far faster than they order, so without it every stamp would be pending at once and
 * each sample would measure the queue rather than the log.
 */
const MAX_AHEAD = 20 * perPost;

const log = (line: string) => process.stderr.write(`${line}\n`);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const MB = 2 ** 20;

// ---- workerd through a wrapper that opens its inspector (on a port of its choosing)

const work = mkdtempSync(join(tmpdir(), 'sintra-workerd-memory-'));
const dataDir = join(work, 'data');
if (heapMode === 'heap') {
  const real = process.env['MINIFLARE_WORKERD_PATH'] ?? (createRequire(createRequire(import.meta.url).resolve('miniflare'))('workerd') as { default: string }).default;
  const wrapper = join(work, 'workerd-inspect.sh');
  writeFileSync(wrapper, `#!/bin/sh\nexec '${real.replace(/'/g, `'\\''`)}' "$@" --inspector-addr=127.0.0.1:0\n`);
  chmodSync(wrapper, 0o755);
  process.env['MINIFLARE_WORKERD_PATH'] = wrapper;
}

// ---- processes, ports, files

/** TCP ports a process listens on (its socket inodes matched against /proc/net/tcp{,6}). */
function listeningPorts(pid: number): number[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const l = readlinkSync(`/proc/${pid}/fd/${fd}`);
      if (l.startsWith('socket:[')) inodes.add(l.slice(8, -1));
    } catch {
      // closed meanwhile
    }
  }
  const ports: number[] = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f[3] === '0A' && f[9] !== undefined && inodes.has(f[9])) ports.push(parseInt(f[1]!.split(':')[1]!, 16));
    }
  }
  return ports;
}

interface Runtime {
  readonly pid: number;
  /** The inspector's WebSocket URL of this replica's isolate, or null (noheap, or not found). */
  readonly inspector: string | null;
}

/** Each replica's workerd process (the one serving its port) and its isolate's inspector endpoint. */
async function findRuntimes(basePort: number): Promise<Runtime[]> {
  const pids = (await descendants(process.pid)).filter((p) => p.comm.startsWith('workerd')).map((p) => p.pid);
  const out: Runtime[] = [];
  for (let i = 0; i < N; i++) {
    const pid = pids.find((p) => listeningPorts(p).includes(basePort + i));
    if (pid === undefined) throw new Error(`no workerd process among ${pids.join(', ') || 'none'} listens on ${basePort + i} (replica ${i})`);
    let inspector: string | null = null;
    if (heapMode === 'heap') {
      for (const port of listeningPorts(pid).filter((p) => p !== basePort + i)) {
        try {
          const r = await fetch(`http://127.0.0.1:${port}/json/list`, { signal: AbortSignal.timeout(5000) });
          const list = (await r.json()) as { id?: string; webSocketDebuggerUrl?: string }[];
          const mine = Array.isArray(list) ? list.find((t) => t.id === `core:user:replica-${i}`) : undefined;
          if (mine?.webSocketDebuggerUrl) inspector = mine.webSocketDebuggerUrl;
        } catch {
          // not the inspector (Miniflare's entry socket)
        }
        if (inspector) break;
      }
      if (!inspector) log(`replica ${i}: workerd ${pid} has no inspector endpoint; heap not sampled`);
    }
    out.push({ pid, inspector });
  }
  return out;
}

function procStatusMb(pid: number): { rss: number; anon: number; file: number; hwm: number } | null {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? NaN) / 1024;
    return { rss: round1(kb('VmRSS')), anon: round1(kb('RssAnon')), file: round1(kb('RssFile')), hwm: round1(kb('VmHWM')) };
  } catch {
    return null;
  }
}

/**
 * Where a workerd's anonymous memory lies (/proc/<pid>/smaps): resident bytes inside runs of adjacent
 * anonymous mappings spanning at least 1 GiB of address space, which only V8 reserves (its pointer-compression
 * cage and sandbox, holding the JavaScript heap and, with the sandbox, ArrayBuffer backing stores; committing
 * pages splits a reservation into many mappings, hence the runs), and resident bytes of all other anonymous
 * mappings (the allocator's heap, tcmalloc here: SQLite's page cache, the runtime's buffers, and whatever V8
 * allocates outside its reservations), MB.
 */
function anonSplitMb(pid: number): { v8Reserved: number; other: number } | null {
  try {
    const text = readFileSync(`/proc/${pid}/smaps`, 'utf8');
    const runs: { start: bigint; end: bigint; kb: number }[] = [];
    let current: { start: bigint; end: bigint; kb: number } | null = null;
    let anonymous = false;
    for (const line of text.split('\n')) {
      const head = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ (\d+)\s*(.*)$/.exec(line);
      if (head) {
        const start = BigInt(`0x${head[1]}`);
        const end = BigInt(`0x${head[2]}`);
        const name = head[4] ?? '';
        anonymous = head[3] === '0' && (name === '' || name.startsWith('[anon'));
        if (!anonymous) current = null;
        else if (current && current.end === start) current.end = end;
        else runs.push((current = { start, end, kb: 0 }));
        continue;
      }
      const rss = /^Rss:\s+(\d+) kB/.exec(line);
      if (rss && anonymous && current) current.kb += Number(rss[1]);
    }
    let v8Reserved = 0;
    let other = 0;
    for (const r of runs) {
      if (r.end - r.start >= 2n ** 30n) v8Reserved += r.kb;
      else other += r.kb;
    }
    return { v8Reserved: round1(v8Reserved / 1024), other: round1(other / 1024) };
  } catch {
    return null;
  }
}

/** Bytes of the files under a folder: SQLite databases (*.sqlite), their write-ahead logs (*.sqlite-wal), the rest. */
function folderBytes(dir: string, into = { db: 0, wal: 0, other: 0 }): { db: number; wal: number; other: number } {
  let names: string[] = [];
  try {
    names = readdirSync(dir);
  } catch {
    return into;
  }
  for (const name of names) {
    const p = join(dir, name);
    const st = statSync(p, { throwIfNoEntry: false });
    if (!st) continue;
    if (st.isDirectory()) folderBytes(p, into);
    else if (name.endsWith('.sqlite')) into.db += st.size;
    else if (name.endsWith('.sqlite-wal')) into.wal += st.size;
    else into.other += st.size;
  }
  return into;
}

// ---- a minimal DevTools-protocol client (Node 20 has no WebSocket client)

interface Cdp {
  send(method: string, params?: object): Promise<unknown>;
  /** Calls `f` with the params of every event `method`. */
  on(method: string, f: (params: Record<string, unknown>) => void): void;
  close(): void;
}

function cdp(wsUrl: string): Promise<Cdp> {
  const u = new URL(wsUrl);
  return new Promise((resolve, reject) => {
    const req = httpRequest({
      host: u.hostname,
      port: u.port,
      path: u.pathname,
      headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': randomBytes(16).toString('base64') },
    });
    req.setTimeout(10_000, () => req.destroy(new Error('inspector: no upgrade within 10 s')));
    req.on('error', reject);
    req.on('response', (r) => reject(new Error(`inspector: HTTP ${r.statusCode}, no upgrade`)));
    req.on('upgrade', (_res, socket, head: Buffer) => {
      let buf = head;
      let frags: Buffer[] = [];
      let next = 0;
      const waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
      const listeners = new Map<string, (params: Record<string, unknown>) => void>();
      const failAll = (e: Error) => {
        for (const w of waiting.values()) w.reject(e);
        waiting.clear();
      };
      socket.on('error', (e) => failAll(e));
      socket.on('close', () => failAll(new Error('inspector: connection closed')));
      socket.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        for (;;) {
          if (buf.length < 2) return;
          const fin = (buf[0]! & 0x80) !== 0;
          const op = buf[0]! & 0x0f;
          let len = buf[1]! & 0x7f;
          let off = 2;
          if (len === 126) {
            if (buf.length < 4) return;
            len = buf.readUInt16BE(2);
            off = 4;
          } else if (len === 127) {
            if (buf.length < 10) return;
            len = Number(buf.readBigUInt64BE(2));
            off = 10;
          }
          if (buf.length < off + len) return;
          const payload = buf.subarray(off, off + len);
          buf = buf.subarray(off + len);
          if (op === 8) {
            socket.end();
            return;
          }
          if (op === 9 || op === 10) continue; // ping, pong
          frags.push(payload);
          if (!fin) continue;
          const msg = JSON.parse(Buffer.concat(frags).toString('utf8')) as { id?: number; method?: string; params?: Record<string, unknown>; result?: unknown; error?: unknown };
          frags = [];
          if (msg.method !== undefined) listeners.get(msg.method)?.(msg.params ?? {});
          const w = msg.id !== undefined ? waiting.get(msg.id) : undefined;
          if (!w) continue; // an event
          waiting.delete(msg.id!);
          if (msg.error) w.reject(new Error(`inspector: ${JSON.stringify(msg.error)}`));
          else w.resolve(msg.result);
        }
      });
      const send = (method: string, params: object = {}) =>
        new Promise<unknown>((res, rej) => {
          const id = ++next;
          waiting.set(id, { resolve: res, reject: rej });
          const data = Buffer.from(JSON.stringify({ id, method, params }));
          const hdr = data.length < 126 ? Buffer.from([0x81, 0x80 | data.length]) : Buffer.from([0x81, 0x80 | 126, data.length >> 8, data.length & 255]);
          const mask = randomBytes(4);
          for (let j = 0; j < data.length; j++) data[j]! ^= mask[j & 3]!;
          socket.write(Buffer.concat([hdr, mask, data]));
        });
      resolve({ send, on: (method, f) => void listeners.set(method, f), close: () => socket.destroy() });
    });
    req.end();
  });
}

const within = <T>(p: Promise<T>, ms: number, what: string): Promise<T> =>
  Promise.race([p, sleep(ms).then(() => Promise.reject(new Error(`${what}: no answer within ${ms / 1000} s`)))]);

// ---- the replicas' own figures

interface Metrics {
  engine: { logSize: number; pending: number; memory?: { estimatedBytes: number; budgetBytes: number } };
}

async function metrics(url: string): Promise<Metrics> {
  const r = await fetch(`${url}/v1/metrics`, { signal: AbortSignal.timeout(30_000) });
  if (r.status !== 200) throw new Error(`${url}/v1/metrics: ${r.status} ${(await r.text()).slice(0, 200)}`);
  return (await r.json()) as Metrics;
}

async function checkpointSize(url: string): Promise<number> {
  const r = await fetch(`${url}/v1/log/checkpoint`, { signal: AbortSignal.timeout(30_000) });
  if (r.status !== 200) {
    await r.arrayBuffer();
    return 0;
  }
  return ((await r.json()) as { size: number }).size;
}

/**
 * The isolate's heap after a full GC. workerd handles an inspector command when the isolate next runs, so
 * requests (GET /v1/metrics, whose answer is kept, then GET /v1/health) are sent after the GC command until
 * it is answered.
 */
async function heapAfterGc(inspector: string, url: string): Promise<{ heap: { usedSize: number; totalSize: number; embedderHeapUsedSize?: number; backingStorageSize?: number }; metrics: Metrics }> {
  const s = await cdp(inspector);
  try {
    const gc = s.send('HeapProfiler.collectGarbage');
    const m = await metrics(url);
    await nudged(gc, url, 'HeapProfiler.collectGarbage');
    const heap = (await within(s.send('Runtime.getHeapUsage'), 60_000, 'Runtime.getHeapUsage')) as { usedSize: number; totalSize: number; embedderHeapUsedSize?: number; backingStorageSize?: number };
    return { heap, metrics: m };
  } finally {
    s.close();
  }
}

/** Awaits an inspector command, sending the replica requests meanwhile so that its isolate runs. */
async function nudged<T>(p: Promise<T>, url: string, what: string, ms = 60_000): Promise<T> {
  let done = false;
  const q = within(p, ms, what).finally(() => {
    done = true;
  });
  q.catch(() => undefined);
  while (!done) {
    await Promise.race([q.catch(() => undefined), sleep(500)]);
    if (!done) await fetch(`${url}/v1/health`, { signal: AbortSignal.timeout(10_000) }).then((r) => r.arrayBuffer()).catch(() => undefined);
  }
  return q;
}

/**
 * A heap snapshot of the isolate (HeapProfiler.takeHeapSnapshot), summed by node type: unlike
 * Runtime.getHeapUsage it also counts what lives outside the V8 heap, ArrayBuffer backing stores (nodes
 * "system / JSArrayBufferData"), as memory.ts counts heapUsed + arrayBuffers on Node.
 */
async function heapSnapshot(inspector: string, url: string): Promise<{ total_mb: number; array_buffer_data_mb: number; by_type_mb: Record<string, number> }> {
  const s = await cdp(inspector);
  try {
    const chunks: string[] = [];
    s.on('HeapProfiler.addHeapSnapshotChunk', (p) => void chunks.push(String(p['chunk'])));
    await nudged(s.send('HeapProfiler.takeHeapSnapshot', { reportProgress: false }), url, 'HeapProfiler.takeHeapSnapshot', 300_000);
    const snap = JSON.parse(chunks.join('')) as { snapshot: { meta: { node_fields: string[]; node_types: unknown[] } }; nodes: number[]; strings: string[] };
    const fields = snap.snapshot.meta.node_fields;
    const types = snap.snapshot.meta.node_types[0] as string[];
    const [fType, fName, fSize] = ['type', 'name', 'self_size'].map((f) => fields.indexOf(f)) as [number, number, number];
    const byType: Record<string, number> = {};
    let totalBytes = 0;
    let arrayBufferData = 0;
    for (let k = 0; k < snap.nodes.length; k += fields.length) {
      const size = snap.nodes[k + fSize]!;
      const type = types[snap.nodes[k + fType]!] ?? '?';
      totalBytes += size;
      byType[type] = (byType[type] ?? 0) + size;
      if (snap.strings[snap.nodes[k + fName]!] === 'system / JSArrayBufferData') arrayBufferData += size;
    }
    const by_type_mb: Record<string, number> = {};
    for (const [t, b] of Object.entries(byType).sort((a, b) => b[1] - a[1])) if (b >= MB / 10) by_type_mb[t] = round1(b / MB);
    return { total_mb: round1(totalBytes / MB), array_buffer_data_mb: round1(arrayBufferData / MB), by_type_mb };
  } finally {
    s.close();
  }
}

interface ReplicaSample {
  replica: number;
  pid: number;
  rss_mb: number | null;
  rss_anon_mb: number | null;
  rss_file_mb: number | null;
  rss_hwm_mb: number | null;
  anon_v8_reserved_mb: number | null;
  anon_other_mb: number | null;
  heap_used_mb: number | null;
  heap_total_mb: number | null;
  heap_embedder_mb: number | null;
  /** ArrayBuffer backing stores as V8 counts them (Runtime.getHeapUsage's backingStorageSize), if reported. */
  heap_backing_mb: number | null;
  estimate_mb: number | null;
  log_size: number;
  pending: number;
  db_mb: number;
  wal_mb: number;
}

interface Sample {
  label: string;
  certified: number;
  submitted: number;
  elapsed_s: number;
  replicas: ReplicaSample[];
}

// ---- the run

const t0 = performance.now();
let cluster: MixedCluster | undefined;
let basePort = 0;
for (let attempt = 0; !cluster; attempt++) {
  basePort = 21_000 + Math.floor(Math.random() * 11_000);
  try {
    cluster = await startMixedCluster({ dataDir, n: N, basePort, nodeIndices: [], separateWorkers: true, memoryBudgetMb: BENCH_MEMORY_BUDGET_MB, clientRate: BENCH_CLIENT_RATE, log });
  } catch (e) {
    if (attempt >= 3 || !/ADDRESS_IN_USE|in use/i.test(String(e))) {
      rmSync(work, { recursive: true, force: true });
      throw e;
    }
    log(`ports taken (${String(e).slice(0, 80)}), trying others`);
  }
}
const c = cluster;
const urls = c.urls;
const samples: Sample[] = [];
let submitted = 0;
let certified = 0;
const statusCounts: Record<string, number> = {};
const refusals: Record<string, number> = {};
try {
  await waitUntilReady(urls);
  const runtimes = await findRuntimes(basePort);
  log(`${N} replicas, each in its own workerd (pids ${runtimes.map((r) => r.pid).join(', ')}), ready in ${((performance.now() - t0) / 1000).toFixed(1)} s; inspector ${heapMode === 'heap' ? (runtimes.every((r) => r.inspector) ? 'on' : 'partly') : 'off'}`);
  const group = parseGroup(c.group);
  /** A kernel starting at replica k (the SDK's rule on the URL list rotated by k). */
  const kernelFrom = (k: number): number[] => {
    const out: number[] = [];
    for (let j = 0; j < N && !group.quorumSystem.isKernel(out); j++) out.push((k + j) % N);
    return out;
  };
  const dbDir = (i: number) => c.stateDir(i) ?? join(dataDir, 'do', c.group.replicas[i]!.id);
  let l0 = performance.now();

  const sample = async (label: string): Promise<Sample> => {
    const replicas = await Promise.all(
      runtimes.map(async (rt, i): Promise<ReplicaSample> => {
        const mem = procStatusMb(rt.pid);
        const split = anonSplitMb(rt.pid);
        let heap: { usedSize: number; totalSize: number; embedderHeapUsedSize?: number; backingStorageSize?: number } | null = null;
        let m: Metrics;
        if (rt.inspector) {
          try {
            ({ heap, metrics: m } = await heapAfterGc(rt.inspector, urls[i]!));
          } catch (e) {
            log(`replica ${i}: heap not read (${String(e)})`);
            m = await metrics(urls[i]!);
          }
        } else {
          m = await metrics(urls[i]!);
        }
        const est = m.engine.memory?.estimatedBytes;
        const files = folderBytes(dbDir(i));
        return {
          replica: i,
          pid: rt.pid,
          rss_mb: mem?.rss ?? null,
          rss_anon_mb: mem?.anon ?? null,
          rss_file_mb: mem?.file ?? null,
          rss_hwm_mb: mem?.hwm ?? null,
          anon_v8_reserved_mb: split?.v8Reserved ?? null,
          anon_other_mb: split?.other ?? null,
          heap_used_mb: heap ? round1(heap.usedSize / MB) : null,
          heap_total_mb: heap ? round1(heap.totalSize / MB) : null,
          heap_embedder_mb: heap?.embedderHeapUsedSize !== undefined ? round1(heap.embedderHeapUsedSize / MB) : null,
          heap_backing_mb: heap?.backingStorageSize !== undefined ? round1(heap.backingStorageSize / MB) : null,
          estimate_mb: est !== undefined ? round1(est / MB) : null,
          log_size: m.engine.logSize,
          pending: m.engine.pending,
          db_mb: round1(files.db / MB),
          wal_mb: round1(files.wal / MB),
        };
      }),
    );
    const s: Sample = { label, certified, submitted, elapsed_s: round1((performance.now() - l0) / 1000), replicas };
    samples.push(s);
    console.log(JSON.stringify(s));
    log(`  sample ${label}: certified ${certified}, rss ${replicas.map((r) => r.rss_mb).join('/')} MB, heap ${replicas.map((r) => r.heap_used_mb ?? '-').join('/')} MB, estimate ${replicas.map((r) => r.estimate_mb).join('/')} MB`);
    return s;
  };

  await sample('start');
  l0 = performance.now();

  // Follow replica 0's signed checkpoint; sample each time it passes a multiple of `every`.
  const base = await checkpointSize(urls[0]!);
  let nextSample = every;
  let following = true;
  const follower = (async () => {
    while (following) {
      try {
        certified = (await checkpointSize(urls[0]!)) - base;
      } catch (e) {
        log(`checkpoint: ${String(e)}`);
      }
      if (certified >= nextSample) {
        while (nextSample <= certified) nextSample += every;
        await sample(String(certified));
      }
      await sleep(500);
    }
  })();

  /** POSTs items to one replica until each is accepted (or found in the log); waits out 429/503 and item refusals. */
  const postTo = async (i: number, items: string[]): Promise<void> => {
    let todo = items;
    while (todo.length > 0) {
      let res: Response;
      try {
        res = await fetch(`${urls[i]}/v1/requests/batch`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-sintra-client': 'workerd-memory' },
          body: JSON.stringify({ requests: todo.map((data) => ({ data })) }),
          signal: AbortSignal.timeout(120_000),
        });
      } catch (e) {
        statusCounts['error'] = (statusCounts['error'] ?? 0) + 1;
        log(`replica ${i}: POST failed (${String(e).slice(0, 120)}); again in 1 s`);
        await sleep(1000);
        continue;
      }
      statusCounts[res.status] = (statusCounts[res.status] ?? 0) + 1;
      const wait = Math.max(1, Number(res.headers.get('retry-after') ?? 1) || 1) * 1000;
      if (res.status !== 200) {
        const body = await res.text();
        if (res.status !== 429 && res.status !== 503) log(`replica ${i}: ${res.status} ${body.slice(0, 160)}`);
        await sleep(wait);
        continue;
      }
      const { results } = (await res.json()) as { results: { id?: string; error?: { code: string } }[] };
      const again: string[] = [];
      results.forEach((r, k) => {
        if (r.id) return;
        const code = r.error?.code ?? 'unknown';
        refusals[code] = (refusals[code] ?? 0) + 1;
        again.push(todo[k]!);
      });
      todo = again;
      if (todo.length > 0) await sleep(wait);
    }
  };

  let made = 0;
  let batchNo = 0;
  const sender = async (): Promise<void> => {
    while (made < total) {
      while (made - certified >= MAX_AHEAD) await sleep(100);
      const k = Math.min(perPost, total - made);
      made += k;
      const items = Array.from({ length: k }, () => Buffer.from(encodeStampEntry({ digest: randomBytes(32).toString('hex') })).toString('base64'));
      const kernel = kernelFrom(batchNo++ % N);
      await Promise.all(kernel.map((i) => postTo(i, items)));
      submitted += k;
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, () => sender()));
  const sentS = (performance.now() - l0) / 1000;
  log(`all ${total} submitted in ${sentS.toFixed(1)} s; waiting for certification`);
  const deadline = performance.now() + 600_000;
  while (certified < total && performance.now() < deadline) await sleep(500);
  following = false;
  await follower;
  if (certified < total) log(`only ${certified} of ${total} certified 600 s after the last POST`);
  const doneS = (performance.now() - l0) / 1000;
  log(`${certified} certified in ${doneS.toFixed(1)} s: ${Math.round(certified / doneS)} entries/s`);
  // Let the replicas settle (in-flight peer messages, last checkpoints), then the final sample.
  await sleep(5000);
  const last = await sample('idle');
  let snapshot: Awaited<ReturnType<typeof heapSnapshot>> | null = null;
  if (runtimes[0]!.inspector) {
    try {
      snapshot = await heapSnapshot(runtimes[0]!.inspector, urls[0]!);
      console.log(JSON.stringify({ label: 'snapshot', replica: 0, certified, ...snapshot }));
    } catch (e) {
      log(`replica 0: no heap snapshot (${String(e)})`);
    }
  }

  // The table: one row per sample, each column replica 0/1/2/3.
  const per = (s: Sample, f: (r: ReplicaSample) => number | null) => s.replicas.map((r) => f(r) ?? '-').join('/');
  const cols: [string, number, (s: Sample) => string | number][] = [
    ['entries', 11, (s) => (s.label === 'start' || s.label === 'idle' ? `${s.certified} ${s.label}` : s.label)],
    ['t s', 6, (s) => s.elapsed_s],
    ['workerd RSS MB', 23, (s) => per(s, (r) => r.rss_mb)],
    ['RssAnon MB', 19, (s) => per(s, (r) => r.rss_anon_mb)],
    ['anon in V8 MB', 19, (s) => per(s, (r) => r.anon_v8_reserved_mb)],
    ['anon other MB', 19, (s) => per(s, (r) => r.anon_other_mb)],
    ['V8 heap used MB', 19, (s) => per(s, (r) => r.heap_used_mb)],
    ['heap total MB', 19, (s) => per(s, (r) => r.heap_total_mb)],
    ['ArrayBuffers MB', 19, (s) => per(s, (r) => r.heap_backing_mb)],
    ['estimate MB', 19, (s) => per(s, (r) => r.estimate_mb)],
    ['pending', 15, (s) => per(s, (r) => r.pending)],
    ['db+wal MB', 23, (s) => per(s, (r) => round1(r.db_mb + r.wal_mb))],
  ];
  log('');
  log(cols.map(([h, w]) => pad(h, w)).join(' '));
  for (const s of samples) log(cols.map(([, w, f]) => pad(f(s), w)).join(' '));
  log('');
  log(`rate: ${Math.round(certified / doneS)} certified entries/s (${total} stamps, ${perPost} per POST, ${IN_FLIGHT} batches in flight, each to a kernel of ${kernelFrom(0).length}, at most ${MAX_AHEAD} uncertified)`);
  if (snapshot) {
    log(`replica 0's heap snapshot at idle: ${snapshot.total_mb} MB in all, of which ArrayBuffer data ${snapshot.array_buffer_data_mb} MB (by node type: ${Object.entries(snapshot.by_type_mb).map(([t, m]) => `${t} ${m}`).join(', ')}); estimate ${last.replicas[0]!.estimate_mb} MB`);
  }
  log(`POST statuses: ${JSON.stringify(statusCounts)}; items refused inside 200s: ${JSON.stringify(refusals)}`);
  const first = samples[0]!;
  log(
    `per replica from start to idle: ${last.replicas
      .map((r, i) => {
        const f = first.replicas[i]!;
        const d = (a: number | null, b: number | null) => (a === null || b === null ? '?' : (b - a >= 0 ? '+' : '') + round1(b - a));
        return `r${i} rss ${d(f.rss_mb, r.rss_mb)} MB, heap ${d(f.heap_used_mb, r.heap_used_mb)} MB, estimate ${d(f.estimate_mb, r.estimate_mb)} MB, db ${Math.round((r.db_mb * MB) / Math.max(1, r.log_size))} B/entry`;
      })
      .join('; ')}`,
  );
} finally {
  const d0 = performance.now();
  await c.dispose().catch((e: unknown) => log(`dispose: ${String(e)}`));
  rmSync(work, { recursive: true, force: true });
  log(`replicas stopped and ${work} removed in ${((performance.now() - d0) / 1000).toFixed(1)} s`);
}
// Keep-alive sockets to the stopped replicas must not hold the process.
process.exit(0);
