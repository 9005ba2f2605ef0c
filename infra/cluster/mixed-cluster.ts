/**
 * A local cluster of two runtimes (issue 5, `sintra start --mixed`): some replicas as Workers with their
 * Durable Objects in one Miniflare instance (as in local-cluster.ts), the others as Node replicas
 * (workers/node), each its own child process (`sintra node-replica`) with its state in a local data folder
 * or in Redis through the Upstash REST protocol. Everyone reaches the Node replicas over HTTP on loopback
 * (SINTRA_PEERS); the Workers reach each other through service bindings. Replica i serves on
 * host:(base + i) whatever its runtime.
 *
 * Node replicas are child processes so that one can be killed (SIGKILL) and started again on the same
 * state, and so that a crash in one does not take the others down. Each child stops when its standard
 * input closes, so none outlives this process. With `separateWorkers`, each Worker replica runs in a
 * Miniflare instance of its own (state in DATA/do/<replica id>, peers over HTTP), so that it too can be
 * stopped, wiped and started again while the others run (a Durable Object laggard in the long-outage test).
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Miniflare } from 'miniflare';
import type { WorkerOptions } from 'miniflare';
import type { GroupFile } from '../../shared/config/group.ts';
import { secretsFileName } from '../dealer/dealer.ts';
import { claimDataLayout, debugLog, prepareCluster, replicaWorkerOptions } from './local-cluster.ts';
import type { ClusterSetup, LocalClusterOptions } from './local-cluster.ts';

const SINTRA_BIN = fileURLToPath(new URL('../bin/sintra.mjs', import.meta.url));

export type NodeStoreChoice = { readonly kind: 'file' } | { readonly kind: 'redis'; readonly url: string; readonly token: string; readonly prefix?: string };

export interface MixedClusterOptions extends LocalClusterOptions {
  /** Replica indices run as Node replicas (default: the second half, floor(n / 2) of them). */
  readonly nodeIndices?: readonly number[];
  /**
   * Where each Node replica keeps its state (default: a file store under DATA/node/<replica id>). Two
   * replicas on one Redis URL are refused: each replica's storage is its own failure domain.
   */
  readonly nodeStore?: (index: number) => NodeStoreChoice;
  /**
   * The URL replica `from` reaches replica `to` at (default: to's own). Tests put a proxy between two
   * replicas with it (for example one that corrupts what a peer serves for state transfer).
   */
  readonly peerUrl?: (from: number, to: number, url: string) => string;
  /**
   * Each Worker replica in a Miniflare instance of its own, its Durable Object state in DATA/do/<replica
   * id>, reaching every peer over HTTP: then kill() and start() work for Worker replicas too (dispose the
   * instance; a new one on the same state). A data folder keeps the layout it was first started with.
   */
  readonly separateWorkers?: boolean;
}

export interface MixedCluster {
  readonly urls: readonly string[];
  readonly groupPath: string;
  readonly group: GroupFile;
  readonly dealt: boolean;
  readonly dataDir: string;
  readonly nodeIndices: readonly number[];
  /** The Miniflare instance of the Worker replicas (with separateWorkers: of the first one running). */
  readonly mf: Miniflare | null;
  /** Whether replica i is running (a Node replica's process; with separateWorkers, a Worker's instance). */
  running(i: number): boolean;
  /**
   * Stops replica i: a Node replica by a signal (default SIGKILL), waiting for its process to exit; with
   * separateWorkers a Worker replica by disposing its Miniflare instance (the signal does not apply).
   */
  kill(i: number, signal?: NodeJS.Signals): Promise<void>;
  /**
   * Starts replica i again on the same state (a Node replica, or with separateWorkers a Worker replica).
   * `bootstrap` (default: whether this cluster dealt its keys) sets SINTRA_BOOTSTRAP: false starts a
   * replica whose storage was wiped as an operator should, so that it rejoins instead of starting a new log.
   */
  start(i: number, options?: { readonly bootstrap?: boolean }): Promise<void>;
  /**
   * Freezes Node replica i (SIGSTOP) or thaws it (SIGCONT): its port still accepts connections but nothing
   * answers, a peer that is reachable and silent (the case a timeout-free health check must still see).
   */
  pause(i: number): void;
  resume(i: number): void;
  /** Where replica i keeps its state when it is in a folder (a Node file store, a separate Worker's Durable Object), else null. */
  stateDir(i: number): string | null;
  /** The last lines Node replica i wrote to stderr, or (separateWorkers) Worker replica i's runtime wrote. */
  logTail(i: number): string[];
  /** Stops every replica; their state stays. */
  dispose(): Promise<void>;
}


/** Which replicas run on Node and where they keep state; refuses layouts that would share a failure domain. */
async function checkLayout(o: MixedClusterOptions, setup: ClusterSetup): Promise<{ nodeIndices: number[]; storeOf: (i: number) => NodeStoreChoice }> {
  const n = setup.n;
  const nodeIndices = [...(o.nodeIndices ?? Array.from({ length: Math.floor(n / 2) }, (_, k) => n - Math.floor(n / 2) + k))].sort((a, b) => a - b);
  for (const i of nodeIndices) if (!Number.isInteger(i) || i < 0 || i >= n) throw new Error(`nodeIndices: no replica ${i} in a group of ${n}`);
  const storeOf: (i: number) => NodeStoreChoice = o.nodeStore ?? (() => ({ kind: 'file' }) as const);
  // Every replica keeps its state in storage of its own: storage shared by several replicas that goes back
  // in time (a restart without persistence, an older snapshot) takes them all back at once. File stores are
  // DATA/node/<replica id> (and a folder's LOCK keeps a second process off it); Redis stores must differ.
  const redisOwner = new Map<string, string>();
  for (const i of nodeIndices) {
    const s = storeOf(i);
    if (s.kind !== 'redis') continue;
    const id = setup.group.replicas[i]!.id;
    const other = redisOwner.get(s.url);
    if (other !== undefined) {
      throw new Error(`Node replicas ${other} and ${id} would keep their state in one Redis (${s.url}), one storage failure domain for two replicas; give each replica its own server (docs/operations.md, "Storage durability and failure domains")`);
    }
    redisOwner.set(s.url, id);
  }
  await claimDataLayout(setup.dataDir, { mode: 'mixed', nodeIndices, ...(o.separateWorkers ? { separateWorkers: true } : {}) });
  return { nodeIndices, storeOf };
}

/** Keeps the last 50 lines of a replica's output in `tail` (logTail), each also handed to `each`. */
function keepTail(stream: Readable, tail: string[], each?: (line: string) => void): void {
  let rest = '';
  stream.setEncoding('utf8').on('data', (d: string) => {
    const lines = (rest + d).split('\n');
    rest = lines.pop()!;
    for (const line of lines) {
      tail.push(line);
      if (tail.length > 50) tail.shift();
      each?.(line);
    }
  });
}

interface NodeProcess {
  proc: ChildProcess;
  exited: Promise<void>;
  tail: string[];
}

export { claimDataLayout };

export async function startMixedCluster(o: MixedClusterOptions): Promise<MixedCluster> {
  const setup = await prepareCluster({ ...o, externalStorage: o.nodeStore !== undefined });
  const { n, host, basePort } = setup;
  let nodeIndices: number[];
  let storeOf: (i: number) => NodeStoreChoice;
  try {
    ({ nodeIndices, storeOf } = await checkLayout(o, setup));
  } catch (e) {
    setup.lock.release();
    throw e;
  }
  const isNode = new Set(nodeIndices);
  const mfIndices = Array.from({ length: n }, (_, i) => i).filter((i) => !isNode.has(i));
  const urls = Array.from({ length: n }, (_, i) => `http://${host}:${basePort + i}`);

  const nodes: (NodeProcess | null)[] = Array.from({ length: n }, () => null);
  const tails: string[][] = Array.from({ length: n }, () => []);
  const launch = async (i: number, bootstrap = setup.dealt): Promise<void> => {
    const id = setup.group.replicas[i]!.id;
    const store = storeOf(i);
    const args = [SINTRA_BIN, 'node-replica', '--group', setup.groupPath, '--secrets', join(setup.keysDir, secretsFileName(id))];
    args.push('--peers', JSON.stringify(urls.map((u, j) => (j === i ? null : (o.peerUrl?.(i, j, u) ?? u)))), '--port', String(basePort + i), '--host', host, '--exit-with-stdin');
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env['UPSTASH_REDIS_REST_URL'];
    delete env['UPSTASH_REDIS_REST_TOKEN'];
    delete env['SINTRA_DATA_DIR'];
    if (store.kind === 'file') {
      const dir = join(setup.dataDir, 'node', id);
      await mkdir(dir, { recursive: true });
      args.push('--data', dir);
    } else {
      args.push('--redis-url', store.url);
      if (store.prefix) args.push('--redis-prefix', store.prefix);
      env['UPSTASH_REDIS_REST_TOKEN'] = store.token;
    }
    if (o.clientRate) env['SINTRA_CLIENT_RATE'] = String(o.clientRate);
    if (o.memoryBudgetMb) env['SINTRA_MEMORY_BUDGET_MB'] = String(o.memoryBudgetMb);
    if (o.corsOrigins !== undefined) env['SINTRA_CORS_ORIGINS'] = o.corsOrigins;
    if (o.healthStallSeconds !== undefined) env['SINTRA_HEALTH_STALL_SECONDS'] = String(o.healthStallSeconds);
    if (o.clockOffsetMs?.[i] !== undefined) env['SINTRA_CLOCK_OFFSET_MS'] = String(o.clockOffsetMs[i]);
    else delete env['SINTRA_CLOCK_OFFSET_MS'];
    if (bootstrap) env['SINTRA_BOOTSTRAP'] = '1';
    else delete env['SINTRA_BOOTSTRAP'];
    // SINTRA_NODE_ARGS: extra flags for the Node replica processes, e.g. `--cpu-prof --cpu-prof-dir=/tmp/p`
    // to profile them under `npm run bench -- --cluster node` (Node refuses --cpu-prof in NODE_OPTIONS).
    const nodeArgs = (process.env['SINTRA_NODE_ARGS'] ?? '').split(' ').filter((a) => a !== '');
    const proc = spawn(process.execPath, [...nodeArgs, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const np: NodeProcess = { proc, exited: new Promise<void>((r) => proc.once('exit', () => r())), tail: tails[i]! };
    nodes[i] = np;
    keepTail(proc.stderr!, np.tail, (line) => o.log?.(`[${id}] ${line}`));
    await new Promise<void>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`Node replica ${id} did not start within 60 s: ${np.tail.join(' | ')}`)), 60_000);
      proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
        out += d;
        if (/^listening /m.test(out)) {
          clearTimeout(timer);
          resolve();
        }
      });
      proc.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`Node replica ${id} exited (${signal ?? code}) before it served: ${np.tail.join(' | ')}`));
      });
    });
  };

  const kill = async (i: number, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> => {
    const np = nodes[i];
    if (!np) return;
    if (np.proc.exitCode === null && np.proc.signalCode === null) {
      np.proc.kill(signal);
      if (signal !== 'SIGKILL') np.proc.kill('SIGCONT'); // a paused replica handles its signal only once thawed
      const hard = setTimeout(() => np.proc.kill('SIGKILL'), 10_000);
      await np.exited;
      clearTimeout(hard);
    }
    nodes[i] = null;
  };

  let mf: Miniflare | null = null;
  /** With separateWorkers: each Worker replica's own instance (null while it is stopped). */
  const instances: (Miniflare | null)[] = Array.from({ length: n }, () => null);
  const doStateDir = (i: number) => join(setup.dataDir, 'do', setup.group.replicas[i]!.id);
  const launchWorker = async (i: number, bootstrap = setup.dealt): Promise<void> => {
    const peers = urls.map((u, j) => (j === i ? null : (o.peerUrl?.(i, j, u) ?? u)));
    const worker = await replicaWorkerOptions({ ...setup, dealt: bootstrap }, i, o, { bindings: { SINTRA_PEERS: JSON.stringify(peers) } });
    await mkdir(doStateDir(i), { recursive: true });
    // Its output goes on our stderr (as debugLog's) and into its log tail, as a Node replica's does.
    const tail = tails[i]!;
    const collect = (stream: Readable) => {
      keepTail(stream, tail);
      stream.on('data', (d: string) => process.stderr.write(d));
    };
    const one = new Miniflare({
      workers: [worker],
      host,
      port: 0,
      cf: false,
      durableObjectsPersist: doStateDir(i),
      ...debugLog(),
      handleRuntimeStdio: (stdout: Readable, stderr: Readable) => {
        collect(stdout);
        collect(stderr);
      },
    });
    try {
      await one.ready;
    } catch (e) {
      await one.dispose().catch(() => undefined);
      throw e;
    }
    instances[i] = one;
  };
  const stopWorker = async (i: number): Promise<void> => {
    const one = instances[i];
    instances[i] = null;
    await one?.dispose();
  };
  const dispose = async (): Promise<void> => {
    try {
      await Promise.all([...nodeIndices.map((i) => kill(i, 'SIGTERM')), mf?.dispose(), ...mfIndices.map((i) => (o.separateWorkers ? stopWorker(i) : undefined))]);
    } finally {
      setup.lock.release();
    }
  };

  try {
    if (mfIndices.length > 0 && o.separateWorkers) {
      for (const i of mfIndices) await launchWorker(i);
    } else if (mfIndices.length > 0) {
      const workers: WorkerOptions[] = [];
      for (const i of mfIndices) {
        const serviceBindings: Record<string, string> = {};
        for (const j of mfIndices) if (j !== i) serviceBindings[`PEER_${j}`] = `replica-${j}`;
        const peers = urls.map((u, j) => (j === i ? null : (o.peerUrl?.(i, j, u) ?? u)));
        workers.push(await replicaWorkerOptions(setup, i, o, { bindings: { SINTRA_PEERS: JSON.stringify(peers) }, serviceBindings }));
      }
      mf = new Miniflare({ workers, host, port: 0, cf: false, durableObjectsPersist: join(setup.dataDir, 'state'), ...debugLog() });
      await mf.ready;
    }
    // One after another: each start parses the group and replays state, which is CPU-heavy.
    for (const i of nodeIndices) await launch(i);
  } catch (e) {
    await dispose().catch(() => undefined);
    throw e;
  }

  return {
    urls,
    groupPath: setup.groupPath,
    group: setup.group,
    dealt: setup.dealt,
    dataDir: setup.dataDir,
    nodeIndices,
    get mf() {
      return o.separateWorkers ? (instances.find((x) => x !== null) ?? null) : mf;
    },
    running: (i) => {
      if (!isNode.has(i)) return o.separateWorkers ? instances[i] !== null : mf !== null;
      const np = nodes[i];
      return !!np && np.proc.exitCode === null && np.proc.signalCode === null;
    },
    kill: async (i, signal) => {
      if (isNode.has(i)) return kill(i, signal);
      if (!o.separateWorkers) throw new Error(`replica ${i} runs in the shared Miniflare instance; start the cluster with separateWorkers to stop it alone`);
      await stopWorker(i);
    },
    start: async (i, options) => {
      if (isNode.has(i)) {
        if (nodes[i]) return;
        return launch(i, options?.bootstrap ?? setup.dealt);
      }
      if (!o.separateWorkers) throw new Error(`replica ${i} runs in the shared Miniflare instance; start the cluster with separateWorkers to start it alone`);
      if (instances[i]) return;
      await launchWorker(i, options?.bootstrap ?? setup.dealt);
    },
    pause: (i) => {
      const np = nodes[i];
      if (!np) throw new Error(`replica ${i} is not a running Node replica`);
      np.proc.kill('SIGSTOP');
    },
    resume: (i) => {
      const np = nodes[i];
      if (!np) throw new Error(`replica ${i} is not a running Node replica`);
      np.proc.kill('SIGCONT');
    },
    stateDir: (i) => {
      if (isNode.has(i)) return storeOf(i).kind === 'file' ? join(setup.dataDir, 'node', setup.group.replicas[i]!.id) : null;
      return o.separateWorkers ? doStateDir(i) : null;
    },
    logTail: (i) => [...(tails[i] ?? [])],
    dispose,
  };
}
