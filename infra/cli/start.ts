/**
 * `sintra start` (= `npm start`): a local cluster of Durable Object replicas in one Miniflare instance
 * (infra/cluster/local-cluster.ts), served on localhost, persisted under a data folder, no account and no
 * cloud. Progress goes to stderr; stdout gets exactly one `ready ...` line (or JSON with --json) once every
 * replica answers, so scripts can wait for it; the replicas' own output goes to stderr. Ctrl-C (SIGINT) or
 * SIGTERM stops workerd and ends the process with 130 or 143 (Miniflare's exit hook), releasing the data
 * folder's lock; starting again with the same --data resumes the same group and log. A folder another
 * start holds, or a busy port, is refused with one line before anything is dealt.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { sha256 } from '@noble/hashes/sha2.js';
import { fromHex, toHex } from '../../shared/crypto/bytes.ts';
import { parseGroup } from '../../shared/config/group.ts';
import { SIGNER_DEMO_FILE, startLocalCluster, waitUntilReady } from '../cluster/local-cluster.ts';
import { GROUP_FILE } from '../dealer/dealer.ts';
import { startMixedCluster } from '../cluster/mixed-cluster.ts';
import { CorsConfigError, corsOriginsFromEnv } from '../../workers/core/cors.ts';
import type { Io } from './deal.ts';
import { UsageError } from './deal.ts';

export interface StartOptions {
  n?: number;
  structure?: string;
  data?: string;
  port?: number;
  json?: boolean;
  /** Half the replicas in Miniflare, half as Node replicas with a local file store (workers/node). */
  mixed?: boolean;
  /** Each Worker replica in a Miniflare instance (a workerd process) of its own, peers over HTTP. */
  separate?: boolean;
  /** SINTRA_MEMORY_BUDGET_MB of every replica. */
  memoryBudgetMb?: number;
  /** SINTRA_CORS_ORIGINS of every replica: browser origins allowed on the client and read routes. */
  corsOrigins?: string;
  /** Seconds between the beacon's rounds when keys are dealt (keys dealt before keep their chain). */
  beaconPeriod?: number;
  /** false (--no-rsa): deal no threshold RSA key (no time-stamping authority, no X.509) for new keys. */
  rsa?: boolean;
  /** Tests: resolves to stop the cluster instead of waiting for a signal. */
  stop?: Promise<void>;
  onReady?: (urls: readonly string[]) => void;
}

export async function startCommand(opts: StartOptions, io: Io): Promise<number> {
  if (opts.n !== undefined && opts.structure) throw new UsageError('give --n or --structure, not both');
  if (opts.n !== undefined && opts.n < 4) throw new UsageError('--n must be at least 4 (n > 3t with t >= 1)');
  if (opts.corsOrigins !== undefined) {
    try {
      corsOriginsFromEnv(opts.corsOrigins);
    } catch (e) {
      if (e instanceof CorsConfigError) throw new UsageError(e.message.replace(/^SINTRA_CORS_ORIGINS:/, '--cors-origins:'));
      throw e;
    }
  }
  const dataDir = opts.data ?? '.sintra';
  if (opts.beaconPeriod !== undefined) await checkBeaconPeriod(dataDir, opts.beaconPeriod);
  const t0 = Date.now();
  const log = (line: string) => io.err(`${line}\n`);
  const clusterOptions = {
    dataDir,
    n: opts.n,
    structure: opts.structure,
    basePort: opts.port ?? 8787,
    log,
    memoryBudgetMb: opts.memoryBudgetMb,
    corsOrigins: opts.corsOrigins,
    beaconPeriod: opts.beaconPeriod,
    ...(opts.rsa === false ? {} : { rsa: {} }),
  };
  // --separate: the mixed cluster's layout with no Node replica and each Worker in its own workerd, so the
  // replicas use every core instead of sharing one thread (docs/benchmarks.md).
  const cluster =
    opts.mixed || opts.separate
      ? await startMixedCluster({ ...clusterOptions, ...(opts.mixed ? {} : { nodeIndices: [] }), ...(opts.separate ? { separateWorkers: true } : {}) })
      : await startLocalCluster(clusterOptions);
  try {
    log(`waiting for ${cluster.urls.length} replicas (each replays its journal on start)`);
    await waitUntilReady(cluster.urls);
    const rel = relative(process.cwd(), cluster.groupPath);
    const groupPath = rel && !rel.startsWith('..') ? rel : cluster.groupPath;
    if (opts.json) {
      io.out(`${JSON.stringify({ ready: true, replicas: cluster.urls, group: groupPath })}\n`);
    } else {
      const key = cluster.group.keys.kernel.groupKey;
      log('');
      log(`${cluster.dealt ? 'new group' : 'resumed group'} ${cluster.group.groupId.slice(0, 16)}... (${cluster.urls.length} replicas, ${Date.now() - t0} ms)`);
      cluster.urls.forEach((u, i) => log(`  replica ${cluster.group.replicas[i]!.id}: ${u}`));
      if ('nodeIndices' in cluster && cluster.nodeIndices.length > 0) log(`Node replicas (file store under ${join(dataDir, 'node')}): ${cluster.nodeIndices.map((i) => cluster.group.replicas[i]!.id).join(', ')}; the others run in Miniflare`);
      if (opts.separate) log('each Worker replica runs in a workerd process of its own');
      log(`group key (kernel, BLS12-381 G2): ${key.slice(0, 32)}...  fingerprint ${toHex(sha256(fromHex(key)).subarray(0, 8))}`);
      log(`group.json: ${groupPath}`);
      log('');
      log('try:');
      log(`  curl -s -X POST ${cluster.urls[0]}/v1/requests -H 'content-type: application/json' -d '{"text":"hello"}'`);
      log(`  curl -s ${cluster.urls[1]}/v1/requests/<id>      # pending, ordered, then certified`);
      log(`  curl -s ${cluster.urls[2]}/v1/receipts/<id>      # entry + inclusion proof + signed checkpoint`);
      // The CLI, pinned to this group's keys, to a kernel (replicas that cannot all be corrupt: t + 1 of a threshold group).
      const quorum = parseGroup(cluster.group).quorumSystem;
      const kernel: number[] = [];
      for (let i = 0; i < cluster.urls.length && !quorum.isKernel(kernel); i++) kernel.push(i);
      log(`  npx sintra submit ${kernel.map((i) => `--url ${cluster.urls[i]}`).join(' ')} --group ${groupPath} --wait --out receipt.json hello`);
      log(`  npx sintra verify receipt.json --group ${groupPath}      # offline, exit 0 only for a valid receipt`);
      const demo = join(dirname(groupPath), SIGNER_DEMO_FILE);
      if (cluster.group.signer !== undefined && existsSync(demo)) {
        log(`  npx sintra sign --purpose demo --file ${groupPath} --credential ${demo} ${kernel.map((i) => `--cluster ${cluster.urls[i]}`).join(' ')} --group ${groupPath} --out sig.json`);
        log(`  npx sintra sign --verify ${groupPath} sig.json --group ${groupPath}      # offline: the group's signature of the file`);
      }
      if (cluster.group.keys.rsa !== undefined) {
        const keys = dirname(groupPath);
        log(`  openssl ts -query -data ${groupPath} -sha256 -cert -out q.tsq      # an RFC 3161 time-stamp, signed by the group:`);
        log(`  curl -s -H 'content-type: application/timestamp-query' --data-binary @q.tsq ${cluster.urls[0]}/v1/tsa -o r.tsr`);
        log(`  openssl ts -verify -queryfile q.tsq -in r.tsr -CAfile ${join(keys, 'root-ca.pem')} -untrusted ${join(keys, 'tsa.pem')}`);
      }
      log('Ctrl-C stops the cluster; starting again resumes it.');
      io.out(`ready ${cluster.urls.join(' ')}\n`);
    }
    opts.onReady?.(cluster.urls);
    await (opts.stop ??
      new Promise<void>((resolve) => {
        const stop = () => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          resolve();
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      }));
    log('stopping');
  } finally {
    await cluster.dispose();
  }
  return 0;
}

/**
 * A beacon's period is part of its chain (drand's chain hash covers it), so it is chosen when the keys are
 * dealt: with keys in DATA already, --beacon-period must name the period they were dealt with.
 */
async function checkBeaconPeriod(dataDir: string, period: number): Promise<void> {
  const groupPath = join(dataDir, 'keys', GROUP_FILE);
  if (!existsSync(groupPath)) return;
  let dealt: number | undefined;
  try {
    dealt = parseGroup(JSON.parse(await readFile(groupPath, 'utf8'))).beacon?.period;
  } catch {
    return; // the cluster's start reports a broken group.json
  }
  if (dealt === period) return;
  const what = dealt === undefined ? 'without a beacon' : `with a beacon period of ${dealt} s`;
  throw new UsageError(`--beacon-period ${period}: the keys in ${join(dataDir, 'keys')} were dealt ${what}, and a chain's period cannot change; start without --beacon-period, or with a new --data folder`);
}
