/**
 * A local cluster closer to production than `sintra start`: ONE Miniflare instance (one workerd process)
 * PER replica, each with its own Durable Object state under DATA/state/<replica id>, and replicas reaching
 * each other over HTTP on loopback through SINTRA_PEERS (no service bindings), exactly as deployed Workers
 * reach each other's workers.dev URLs. Each replica can be stopped (its workerd is gone: peers' POSTs fail
 * and they retry from alarms) and started again on the same data (it replays its journal), and a replica's
 * slot can be left to an outside process (`exclude`, e.g. a Byzantine replica in a test) that listens on
 * its port.
 *
 * Keys, group.json and the bundled worker are shared with the ordinary local cluster (local-cluster.ts).
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Miniflare } from 'miniflare';
import type { GroupFile } from '../../shared/config/group.ts';
import { debugLog, prepareCluster, replicaWorkerOptions } from './local-cluster.ts';
import type { ClusterSetup, LocalClusterOptions } from './local-cluster.ts';

export interface SeparateClusterOptions extends LocalClusterOptions {
  /** Replica indices NOT started here: their port (base + index) is left to another process. */
  readonly exclude?: readonly number[];
}

export interface SeparateCluster {
  /** `http://host:(base + i)` for every replica, excluded ones too. */
  readonly urls: readonly string[];
  readonly groupPath: string;
  readonly group: GroupFile;
  readonly dealt: boolean;
  readonly dataDir: string;
  /** Whether replica i is running here. */
  running(i: number): boolean;
  /** Stops replica i (disposes its Miniflare); its state stays on disk. */
  stop(i: number): Promise<void>;
  /** Starts replica i again on the same state (it resumes from its journal). */
  start(i: number): Promise<void>;
  /** Stops every replica; their state stays on disk. */
  dispose(): Promise<void>;
}

export async function startSeparateCluster(o: SeparateClusterOptions): Promise<SeparateCluster> {
  const setup: ClusterSetup = await prepareCluster(o);
  const { n, host, basePort } = setup;
  const excluded = new Set(o.exclude ?? []);
  for (const i of excluded) if (!Number.isInteger(i) || i < 0 || i >= n) throw new Error(`exclude: no replica ${i} in a group of ${n}`);
  const urls = Array.from({ length: n }, (_, i) => `http://${host}:${basePort + i}`);
  const instances: (Miniflare | null)[] = Array.from({ length: n }, () => null);

  const launch = async (i: number): Promise<Miniflare> => {
    const persist = join(setup.dataDir, 'state', setup.group.replicas[i]!.id);
    await mkdir(persist, { recursive: true });
    const peers = urls.map((u, j) => (j === i ? null : u));
    const worker = await replicaWorkerOptions(setup, i, o, { bindings: { SINTRA_PEERS: JSON.stringify(peers) } });
    const mf = new Miniflare({ workers: [worker], host, port: 0, cf: false, durableObjectsPersist: persist, ...debugLog() });
    try {
      await mf.ready;
    } catch (e) {
      await mf.dispose().catch(() => undefined);
      throw e;
    }
    return mf;
  };

  const start = async (i: number): Promise<void> => {
    if (excluded.has(i)) throw new Error(`replica ${i} is excluded from this cluster`);
    if (instances[i]) return;
    instances[i] = await launch(i);
  };

  const stop = async (i: number): Promise<void> => {
    const mf = instances[i];
    instances[i] = null;
    await mf?.dispose();
  };

  try {
    // One after another: each workerd start is CPU-heavy, and a failed start should not leave others running.
    for (let i = 0; i < n; i++) if (!excluded.has(i)) await start(i);
  } catch (e) {
    await Promise.all(instances.map((_, i) => stop(i)));
    setup.lock.release();
    throw e;
  }

  return {
    urls,
    groupPath: setup.groupPath,
    group: setup.group,
    dealt: setup.dealt,
    dataDir: setup.dataDir,
    running: (i) => instances[i] !== null,
    stop,
    start,
    dispose: async () => {
      try {
        await Promise.all(instances.map((_, i) => stop(i)));
      } finally {
        setup.lock.release();
      }
    },
  };
}
