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
 * input closes, so none outlives this process.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
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
}

export interface MixedCluster {
  readonly urls: readonly string[];
  readonly groupPath: string;
  readonly group: GroupFile;
  readonly dealt: boolean;
  readonly dataDir: string;
  readonly nodeIndices: readonly number[];
  readonly mf: Miniflare | null;
  /** Whether Node replica i's process is running. */
  running(i: number): boolean;
  /** Sends a signal to Node replica i (default SIGKILL) and waits for its process to exit. */
  kill(i: number, signal?: NodeJS.Signals): Promise<void>;
  /**
   * Starts Node replica i again on the same state. `bootstrap` (default: whether this cluster dealt its
   * keys) sets SINTRA_BOOTSTRAP: false starts a replica whose storage was wiped as an operator should, so
   * that it rejoins instead of starting a new log.
   */
  start(i: number, options?: { readonly bootstrap?: boolean }): Promise<void>;
  /** The last lines Node replica i wrote to stderr (diagnostics). */
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
  await claimDataLayout(setup.dataDir, { mode: 'mixed', nodeIndices });
  return { nodeIndices, storeOf };
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
    if (bootstrap) env['SINTRA_BOOTSTRAP'] = '1';
    else delete env['SINTRA_BOOTSTRAP'];
    // SINTRA_NODE_ARGS: extra flags for the Node replica processes, e.g. `--cpu-prof --cpu-prof-dir=/tmp/p`
    // to profile them under `npm run bench -- --cluster node` (Node refuses --cpu-prof in NODE_OPTIONS).
    const nodeArgs = (process.env['SINTRA_NODE_ARGS'] ?? '').split(' ').filter((a) => a !== '');
    const proc = spawn(process.execPath, [...nodeArgs, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const np: NodeProcess = { proc, exited: new Promise<void>((r) => proc.once('exit', () => r())), tail: tails[i]! };
    nodes[i] = np;
    let errText = '';
    proc.stderr!.setEncoding('utf8').on('data', (d: string) => {
      errText += d;
      const lines = errText.split('\n');
      errText = lines.pop()!;
      for (const line of lines) {
        np.tail.push(line);
        if (np.tail.length > 50) np.tail.shift();
        o.log?.(`[${id}] ${line}`);
      }
    });
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
      const hard = setTimeout(() => np.proc.kill('SIGKILL'), 10_000);
      await np.exited;
      clearTimeout(hard);
    }
    nodes[i] = null;
  };

  let mf: Miniflare | null = null;
  const dispose = async (): Promise<void> => {
    try {
      await Promise.all([...nodeIndices.map((i) => kill(i, 'SIGTERM')), mf?.dispose()]);
    } finally {
      setup.lock.release();
    }
  };

  try {
    if (mfIndices.length > 0) {
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
    mf,
    running: (i) => {
      const np = nodes[i];
      return !!np && np.proc.exitCode === null && np.proc.signalCode === null;
    },
    kill: async (i, signal) => {
      if (!isNode.has(i)) throw new Error(`replica ${i} is not a Node replica`);
      await kill(i, signal);
    },
    start: async (i, options) => {
      if (!isNode.has(i)) throw new Error(`replica ${i} is not a Node replica`);
      if (nodes[i]) return;
      await launch(i, options?.bootstrap ?? setup.dealt);
    },
    logTail: (i) => [...(tails[i] ?? [])],
    dispose,
  };
}
