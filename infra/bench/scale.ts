/**
 * The memory, restart and storage modes of `npm run bench` (main.ts): measurements against log length
 * made by three standalone scripts of this folder, each run as a child process, its JSON lines on stdout
 * collected into the run's document and its progress (stderr) passed on to ours:
 *
 *   memory   memory-hosts.ts: heap per replica against log length (four replica hosts on SQLite, simulator
 *            crypto), and the time to load replica 0 again at the end
 *   restart  transfer.ts: state-transfer rate of a replica that was cut off, and restart time (real
 *            threshold crypto)
 *   storage  storage.ts: bytes per log entry on SQLite and on Redis, and a receipt's storage reads
 *
 * One child per kind (and per backend for storage), so a failure costs only that run.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { killTree } from './loadgen.ts';
import { pad } from './stats.ts';

export const SCALE_MODES = ['memory', 'restart', 'storage'] as const;
export type ScaleMode = (typeof SCALE_MODES)[number];
export const MEMORY_KINDS = ['plain', 'notary', 'ca'] as const;
export type MemoryKind = (typeof MEMORY_KINDS)[number];
export const TRANSFER_KINDS = ['plain', 'notary'] as const;
export type TransferKind = (typeof TRANSFER_KINDS)[number];
export const STORAGE_BACKENDS = ['sqlite', 'redis'] as const;
export type StorageBackend = (typeof STORAGE_BACKENDS)[number];

/** One measurement of memory-hosts.ts, after full GCs (the first, at 0 entries, has only the heap, RSS and refusals). */
export interface MemorySample {
  entries: number;
  /** Heap used + ArrayBuffers of the process, divided by the four replicas it holds. */
  heapMb: number;
  /** RSS of the whole process (four replicas). */
  rssMb: number;
  /** The engine's own estimate of what it retains (replica 0). */
  estimateMb?: number;
  /** Replica 0's SQLite database bytes per log entry. */
  dbBytesPerEntry?: number;
  /** Since the first submission. */
  seconds?: number;
  /** Refused submissions by error code (`memory-full` must never appear). */
  refusals: Record<string, number>;
}

export interface MemoryResult {
  mode: 'memory';
  kind: MemoryKind;
  /** Requests submitted (the log length at the end). */
  total: number;
  /** The child's command line. */
  script: string;
  wall_s: number;
  samples: MemorySample[];
  /** Replica 0 loaded again from its database at the end (simulator crypto). */
  restart: { entries: number; ms: number; replayedEvents: number };
}

export interface RestartResult {
  mode: 'restart';
  kind: TransferKind;
  total: number;
  script: string;
  wall_s: number;
  /** Replicas 0-2 ordering `total` requests while replica 3 is cut off. */
  ordered: { entries: number; epochs: number; seconds: number; outboxMessagesFor3Max: number; trimmedByReplica0: number };
  /** Replica 3 back: `transferred` of the entries came by state transfer (in `transfers` chunks), the rest as kept messages. */
  catch_up: { entries: number; transferred: number; transfers: number; ms: number; entriesPerSecond: number; entryMBPerSecond: number };
  /** A new host on replica 0's storage (what a process restart does), real threshold crypto. */
  restart: { entries: number; ms: number; replayedEvents: number };
}

export interface StorageResult {
  mode: 'storage';
  backend: StorageBackend;
  /** What was measured, as storage.ts says it (e.g. "redis (used_memory)"). */
  description: string;
  kind: TransferKind;
  total: number;
  script: string;
  wall_s: number;
  entry_bytes: number;
  bytes_per_entry: number;
  mb_per_million: number;
  write_entries_per_s: number;
  /** Mean time of one receipt's storage reads (entry, checkpoint, proof nodes) at that size. */
  receipt_reads_ms: number;
}

export type ScaleResult = MemoryResult | RestartResult | StorageResult;

/** One child run of a scale mode, as main.ts plans it. */
export interface ScaleRun {
  mode: ScaleMode;
  /** For progress lines and error records: "plain, 20000 entries". */
  config: string;
  /** The child's command line (relative to the repository). */
  command: string;
  run: (log: (line: string) => void) => Promise<ScaleResult>;
}

export interface ScaleOptions {
  memory: { total: number; every: number; kinds: MemoryKind[] };
  restart: { total: number; kinds: TransferKind[] };
  storage: { total: number; backends: StorageBackend[]; kinds: TransferKind[] };
}

/** The scale modes' options from main.ts's parsed arguments (defaults: the runs of docs/benchmarks.md; --quick: small). */
export function scaleOptions(
  values: {
    'memory-total'?: string | undefined;
    'memory-every'?: string | undefined;
    'memory-kind'?: string | undefined;
    'restart-total'?: string | undefined;
    'restart-kind'?: string | undefined;
    'storage-total'?: string | undefined;
    'storage-backends'?: string | undefined;
    'storage-kind'?: string | undefined;
  },
  quick: boolean,
): ScaleOptions {
  const count = (name: string, s: string | undefined, dflt: number): number => {
    if (s === undefined) return dflt;
    const x = Number(s.replace(/_/g, ''));
    if (!Number.isSafeInteger(x) || x <= 0) throw new Error(`--${name} must be a positive integer, not ${s}`);
    return x;
  };
  const oneOf = <T extends string>(name: string, s: string, allowed: readonly T[]): T[] => {
    const xs = s.split(',').map((x) => x.trim()).filter(Boolean);
    if (xs.length === 0) throw new Error(`--${name} is empty (${allowed.join(', ')})`);
    for (const x of xs) if (!(allowed as readonly string[]).includes(x)) throw new Error(`unknown --${name} ${x} (${allowed.join(', ')})`);
    return [...new Set(xs)] as T[];
  };
  const memoryTotal = count('memory-total', values['memory-total'], quick ? 20_000 : 1_000_000);
  return {
    memory: {
      total: memoryTotal,
      every: count('memory-every', values['memory-every'], Math.max(1, Math.round(memoryTotal / 10))),
      kinds: oneOf('memory-kind', values['memory-kind'] ?? 'plain', MEMORY_KINDS),
    },
    restart: {
      total: count('restart-total', values['restart-total'], quick ? 10_000 : 100_000),
      kinds: oneOf('restart-kind', values['restart-kind'] ?? 'plain', TRANSFER_KINDS),
    },
    storage: {
      total: count('storage-total', values['storage-total'], quick ? 10_000 : 100_000),
      backends: oneOf('storage-backends', values['storage-backends'] ?? (quick ? 'sqlite' : 'sqlite,redis'), STORAGE_BACKENDS),
      kinds: oneOf('storage-kind', values['storage-kind'] ?? 'plain', TRANSFER_KINDS),
    },
  };
}

const SCRIPTS = { memory: 'memory-hosts.ts', restart: 'transfer.ts', storage: 'storage.ts' } as const;

const commandLine = (mode: ScaleMode, args: readonly string[]) =>
  `node ${mode === 'memory' ? '--expose-gc ' : ''}--import tsx infra/bench/${SCRIPTS[mode]} ${args.join(' ')}`;

/** The child runs of the selected scale modes, in order: memory, restart, storage. */
export function scaleRuns(modes: ReadonlySet<string>, o: ScaleOptions): ScaleRun[] {
  const runs: ScaleRun[] = [];
  // Timeouts only catch a hung child (the scripts' own loops give up when the replicas do not settle): half an
  // hour plus about 60 times the time per entry measured on a quiet 2-core machine (docs/benchmarks.md); a
  // --quick run beside a soak and another benchmark was 50 times slower than those measurements.
  if (modes.has('memory')) {
    const { total, every } = o.memory;
    const timeoutMs = 1_800_000 + 20 * total;
    for (const kind of o.memory.kinds) {
      const args = [String(total), '2000', String(every), kind];
      runs.push({ mode: 'memory', config: `${kind}, ${total} entries`, command: commandLine('memory', args), run: (log) => runMemory(kind, total, args, log, timeoutMs) });
    }
  }
  if (modes.has('restart')) {
    const { total } = o.restart;
    const timeoutMs = 1_800_000 + 60 * total;
    for (const kind of o.restart.kinds) {
      const args = [String(total), '1000', kind];
      runs.push({ mode: 'restart', config: `${kind}, ${total} entries`, command: commandLine('restart', args), run: (log) => runRestart(kind, total, args, log, timeoutMs) });
    }
  }
  if (modes.has('storage')) {
    const { total } = o.storage;
    const timeoutMs = 1_800_000 + 10 * total;
    for (const kind of o.storage.kinds) {
      for (const backend of o.storage.backends) {
        const args = [String(total), '100', '1000', backend, kind];
        runs.push({ mode: 'storage', config: `${backend}, ${kind}, ${total} entries`, command: commandLine('storage', args), run: (log) => runStorage(backend, kind, total, args, log, timeoutMs) });
      }
    }
  }
  return runs;
}

/**
 * Runs a script of this folder as `node [--expose-gc] --import <tsx> <script> ...args` (tsx resolved from
 * here, as forkTs does, so neither the cwd nor a tsx on PATH matters) and returns the JSON lines of its
 * stdout. Its stderr (progress) goes to ours as it comes; its last lines go into the error if it fails. On
 * timeout the child and whatever it started (redis-server) are killed.
 */
export function runScript(script: string, args: readonly string[], opts: { exposeGc: boolean; timeoutMs: number }): Promise<{ lines: Record<string, unknown>[]; wallS: number }> {
  const path = fileURLToPath(new URL(`./${script}`, import.meta.url));
  const child = spawn(process.execPath, [...(opts.exposeGc ? ['--expose-gc'] : []), '--import', import.meta.resolve('tsx'), path, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const t0 = performance.now();
  const lines: Record<string, unknown>[] = [];
  const tail: string[] = [];
  const keep = (line: string) => {
    tail.push(line);
    if (tail.length > 15) tail.shift();
  };
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const s = line.trim();
    if (!s) return;
    try {
      const x = JSON.parse(s) as unknown;
      if (x && typeof x === 'object' && !Array.isArray(x)) {
        lines.push(x as Record<string, unknown>);
        return;
      }
    } catch {
      // not JSON: passed on below
    }
    process.stderr.write(`  [${script} stdout] ${line}\n`);
    keep(line);
  });
  createInterface({ input: child.stderr! }).on('line', (line) => {
    process.stderr.write(`${line}\n`);
    if (line.trim()) keep(line);
  });
  let timer: NodeJS.Timeout | undefined;
  let timedOut = false;
  return new Promise<{ lines: Record<string, unknown>[]; wallS: number }>((resolve, reject) => {
    timer = setTimeout(() => {
      timedOut = true;
      void killTree(child.pid!);
    }, opts.timeoutMs);
    child.once('error', reject);
    // 'close': the process has exited and its stdout and stderr are read to the end.
    child.once('close', (code, signal) => {
      const wallS = Math.round((performance.now() - t0) / 100) / 10;
      if (timedOut) reject(new Error(`${script} ${args.join(' ')} did not finish within ${opts.timeoutMs} ms`));
      else if (code !== 0) {
        // The thrown error's own line first (a stack trace follows it), then the last lines as they came.
        const cause = [...tail].reverse().find((l) => /^\s*(\w*Error|error)\b/.test(l))?.trim() ?? tail[tail.length - 1] ?? '';
        reject(new Error(`${script} ${args.join(' ')} exited with ${code ?? signal}: ${cause}\n${tail.join('\n')}`));
      }
      else resolve({ lines, wallS });
    });
  }).finally(() => clearTimeout(timer));
}

function nums<K extends string>(line: Record<string, unknown>, keys: readonly K[], what: string): Record<K, number> {
  const out = {} as Record<K, number>;
  for (const k of keys) {
    const v = line[k];
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`${what}: field ${k} is not a number in ${JSON.stringify(line)}`);
    out[k] = v;
  }
  return out;
}

const refusalsOf = (x: unknown): Record<string, number> =>
  Object.fromEntries(Object.entries(x && typeof x === 'object' ? (x as Record<string, unknown>) : {}).filter((e): e is [string, number] => typeof e[1] === 'number'));

/** memory-hosts.ts's lines: samples ({entries, heapMb, ...}) then {restart: {...}}. */
export function parseMemory(kind: MemoryKind, total: number, args: readonly string[], lines: readonly Record<string, unknown>[], wallS: number): MemoryResult {
  const samples: MemorySample[] = [];
  let restart: MemoryResult['restart'] | null = null;
  for (const l of lines) {
    if (l['restart'] !== undefined) {
      restart = nums(l['restart'] as Record<string, unknown>, ['entries', 'ms', 'replayedEvents'], 'memory-hosts.ts restart');
      continue;
    }
    const s: MemorySample = { ...nums(l, ['entries', 'heapMb', 'rssMb'], 'memory-hosts.ts'), refusals: refusalsOf(l['refusals']) };
    for (const k of ['estimateMb', 'dbBytesPerEntry', 'seconds'] as const) if (typeof l[k] === 'number') s[k] = l[k];
    samples.push(s);
  }
  if (samples.length === 0) throw new Error('memory-hosts.ts printed no measurement');
  if (!restart) throw new Error('memory-hosts.ts printed no restart line');
  return { mode: 'memory', kind, total, script: commandLine('memory', args), wall_s: wallS, samples, restart };
}

/** transfer.ts's lines: {what: 'ordered-without-3'}, {what: 'catch-up'}, {what: 'restart'}. */
export function parseRestart(kind: TransferKind, total: number, args: readonly string[], lines: readonly Record<string, unknown>[], wallS: number): RestartResult {
  const find = (what: string) => {
    const l = lines.find((x) => x['what'] === what);
    if (!l) throw new Error(`transfer.ts printed no ${what} line`);
    return l;
  };
  return {
    mode: 'restart',
    kind,
    total,
    script: commandLine('restart', args),
    wall_s: wallS,
    ordered: nums(find('ordered-without-3'), ['entries', 'epochs', 'seconds', 'outboxMessagesFor3Max', 'trimmedByReplica0'], 'transfer.ts ordered-without-3'),
    catch_up: nums(find('catch-up'), ['entries', 'transferred', 'transfers', 'ms', 'entriesPerSecond', 'entryMBPerSecond'], 'transfer.ts catch-up'),
    restart: nums(find('restart'), ['entries', 'ms', 'replayedEvents'], 'transfer.ts restart'),
  };
}

/** storage.ts's line for one backend: {backend, kind, total, entry_bytes, bytes_per_entry, ...}. */
export function parseStorage(backend: StorageBackend, kind: TransferKind, total: number, args: readonly string[], lines: readonly Record<string, unknown>[], wallS: number): StorageResult {
  if (lines.length !== 1) throw new Error(`storage.ts printed ${lines.length} result lines for ${backend}, not 1`);
  const l = lines[0]!;
  return {
    mode: 'storage',
    backend,
    description: String(l['backend']),
    kind,
    total,
    script: commandLine('storage', args),
    wall_s: wallS,
    ...nums(l, ['entry_bytes', 'bytes_per_entry', 'mb_per_million', 'write_entries_per_s', 'receipt_reads_ms'], 'storage.ts'),
  };
}

async function runMemory(kind: MemoryKind, total: number, args: string[], log: (line: string) => void, timeoutMs: number): Promise<MemoryResult> {
  const { lines, wallS } = await runScript(SCRIPTS.memory, args, { exposeGc: true, timeoutMs });
  const r = parseMemory(kind, total, args, lines, wallS);
  log(scaleTable([r], '  '));
  return r;
}

async function runRestart(kind: TransferKind, total: number, args: string[], log: (line: string) => void, timeoutMs: number): Promise<RestartResult> {
  const { lines, wallS } = await runScript(SCRIPTS.restart, args, { exposeGc: false, timeoutMs });
  const r = parseRestart(kind, total, args, lines, wallS);
  log(scaleTable([r], '  '));
  return r;
}

async function runStorage(backend: StorageBackend, kind: TransferKind, total: number, args: string[], log: (line: string) => void, timeoutMs: number): Promise<StorageResult> {
  const { lines, wallS } = await runScript(SCRIPTS.storage, args, { exposeGc: false, timeoutMs });
  const r = parseStorage(backend, kind, total, args, lines, wallS);
  log(scaleTable([r], '  '));
  return r;
}

const refusalText = (r: Record<string, number>) => {
  const xs = Object.entries(r).map(([k, v]) => `${v}x${k}`);
  return xs.length ? xs.join(' ') : 'none';
};

/** Readable tables of scale results: one per memory run, one for the restart runs, one for the storage runs. */
export function scaleTable(results: readonly ScaleResult[], indent = ''): string {
  const out: string[] = [];
  for (const r of results) {
    if (r.mode !== 'memory') continue;
    out.push(`memory: ${r.kind} requests, 4 replica hosts on SQLite, simulator crypto (${r.script}; ${r.wall_s} s)`);
    out.push([pad('entries', 10), pad('heap MB/replica', 16), pad('estimate MB', 12), pad('RSS MB (4)', 11), pad('db B/entry', 11), pad('s', 6), '  refusals'].join(' '));
    for (const s of r.samples) {
      out.push([pad(s.entries, 10), pad(s.heapMb, 16), pad(s.estimateMb ?? '', 12), pad(s.rssMb, 11), pad(s.dbBytesPerEntry ?? '', 11), pad(s.seconds ?? '', 6), `  ${refusalText(s.refusals)}${s.refusals['memory-full'] ? ' (MEMORY-FULL)' : ''}`].join(' '));
    }
    out.push(`load of replica 0 at ${r.restart.entries} entries: ${r.restart.ms} ms, ${r.restart.replayedEvents} journal events replayed`);
    out.push('');
  }
  const restarts = results.filter((r): r is RestartResult => r.mode === 'restart');
  if (restarts.length) {
    out.push('restart: replica 3 cut off, then state transfer; replica 0 loaded again (4 replica hosts on SQLite, real threshold crypto)');
    out.push([pad('kind', 7), pad('entries', 9), pad('order s', 8), pad('epochs', 7), pad('outbox max', 11), pad('catch-up ms', 12), pad('entries/s', 10), pad('transferred', 12), pad('restart ms', 11), pad('replayed', 9), pad('wall s', 7)].join(' '));
    for (const r of restarts) {
      out.push([pad(r.kind, 7), pad(r.ordered.entries, 9), pad(r.ordered.seconds, 8), pad(r.ordered.epochs, 7), pad(r.ordered.outboxMessagesFor3Max, 11), pad(r.catch_up.ms, 12), pad(r.catch_up.entriesPerSecond, 10), pad(`${r.catch_up.transferred}/${r.catch_up.transfers}`, 12), pad(r.restart.ms, 11), pad(r.restart.replayedEvents, 9), pad(r.wall_s, 7)].join(' '));
    }
    out.push('  (transferred: entries taken by state transfer / chunks; the rest came as the protocol messages the peers kept)');
    if (restarts.some((r) => r.catch_up.transfers === 0)) out.push('  (0/0: no state transfer: replica 3 was under 32 epochs behind, transferAfterEpochs, and the peers still held its messages; a transfer needs about 50,000 entries here)');
    out.push('');
  }
  const storage = results.filter((r): r is StorageResult => r.mode === 'storage');
  if (storage.length) {
    out.push('storage: log entries written as a replica writes them, bytes read off the backend');
    out.push([pad('backend', 7), pad('kind', 7), pad('entries', 9), pad('B/entry', 8), pad('MB/1M', 7), pad('writes/s', 9), pad('receipt ms', 11), pad('wall s', 7), '  measured'].join(' '));
    for (const r of storage) out.push([pad(r.backend, 7), pad(r.kind, 7), pad(r.total, 9), pad(r.bytes_per_entry, 8), pad(r.mb_per_million, 7), pad(r.write_entries_per_s, 9), pad(r.receipt_reads_ms, 11), pad(r.wall_s, 7), `  ${r.description}`].join(' '));
    out.push('');
  }
  while (out.length && out[out.length - 1] === '') out.pop();
  return out.map((l) => (l ? indent + l : l)).join('\n');
}
