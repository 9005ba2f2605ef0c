/**
 * The local cluster of `sintra start` (issue: replica runtime): n replicas as n separate Workers in ONE
 * Miniflare instance (docs/design.md section 14: 3-5x faster than `wrangler dev`), each with its
 * own SQLite-backed Durable Object persisted under DATA/state (one namespace per worker), talking to each other through
 * service bindings (PEER_<j>) with the same authenticated frames they send over HTTPS in production, and
 * each served on its own localhost port (base + index) for clients.
 *
 * Keys: DATA/keys/group.json and <id>.secrets.json, dealt on first start (real randomness, not a seed) and
 * reused afterwards, so a restart resumes the same group and the same log.
 */
import { MAX_SIGN_MESSAGE_BYTES, parseSignerPolicy } from '../../shared/app/signer-policy.ts';
import { newCredential, writeCredential } from '../dealer/signer-credential.ts';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import type { Readable } from 'node:stream';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { Log, LogLevel, Miniflare } from 'miniflare';
import type { WorkerOptions } from 'miniflare';
import { parseGroup } from '../../shared/config/group.ts';
import { FolderLock } from '../../workers/node/folder-lock.ts';
import { corsOriginsFromEnv } from '../../workers/core/cors.ts';
import type { GroupFile, SecretsFile } from '../../shared/config/group.ts';
import { GROUP_FILE, dealToDir, loadStructure, secretsFileName, structureFromThreshold, systemRandom } from '../dealer/dealer.ts';
import { DEFAULT_CERT_YEARS, DEFAULT_RSA_BITS, certificateValidity } from '../dealer/rsa.ts';
import type { SafePrimes } from '../dealer/rsa.ts';

/** The newest date the workerd in miniflare 4.20260426 accepts is 2026-05-03 (docs/design.md section 14). */
export const COMPATIBILITY_DATE = '2026-05-01';
/** node:crypto for the native SHA-256 (workers/core/native-sha256.ts); the same in wrangler.toml and terraform. */
export const COMPATIBILITY_FLAGS: readonly string[] = ['nodejs_compat'];

export interface LocalClusterOptions {
  /** Some replicas keep their state outside the data folder (Redis): do not expect it there. */
  readonly externalStorage?: boolean;
  readonly dataDir: string;
  /** Threshold group of n replicas (t = floor((n - 1) / 3)) when keys are dealt; ignored once they exist. */
  readonly n?: number;
  /** Structure file for the first deal (instead of n). */
  readonly structure?: string;
  readonly basePort?: number;
  readonly host?: string;
  readonly log?: (line: string) => void;
  /** Requests per second per client at each replica. */
  readonly clientRate?: number;
  /** Each replica's memory budget in MiB (SINTRA_MEMORY_BUDGET_MB; default the engine's 64). */
  readonly memoryBudgetMb?: number;
  /**
   * SINTRA_CORS_ORIGINS of every replica (workers/core/cors.ts): `*`, `none` or a comma-separated list of
   * origins; unset, the replicas' default `*`. Checked before anything is dealt (CorsConfigError).
   */
  readonly corsOrigins?: string;
  /** Seconds between rounds of the randomness beacon dealt with new keys (default 3; docs/beacon.md). */
  readonly beaconPeriod?: number;
  /** SINTRA_HEALTH_STALL_SECONDS of every replica (workers/core/health.ts; default 60). */
  readonly healthStallSeconds?: number;
  /** SINTRA_CLOCK_OFFSET_MS by replica index: a replica whose clock is off (tests of agreed time). */
  readonly clockOffsetMs?: Readonly<Record<number, number>>;
  /**
   * When keys are dealt: also a threshold RSA key with its root CA and TSA certificates (threshold
   * structures only; `sintra deal --rsa`), from these safe primes (tests) or new 2048-bit ones.
   */
  readonly rsa?: { readonly primes?: SafePrimes };
  /**
   * The keys in DATA/keys were dealt for this start by the caller and never ran (tests that alter a
   * replica's secrets before it starts): start them as a new group, as if this start had dealt them.
   */
  readonly newGroup?: true;
}

export interface LocalCluster {
  readonly urls: readonly string[];
  readonly groupPath: string;
  readonly group: GroupFile;
  readonly dealt: boolean;
  readonly mf: Miniflare;
  /** Stops the replicas; their state stays on disk. */
  dispose(): Promise<void>;
}

const WORKER_ENTRY = fileURLToPath(new URL('../../workers/cloudflare/worker.ts', import.meta.url));

/** Bundles the replica Worker exactly as wrangler would (esbuild, ESM, workerd conditions). */
export async function bundleReplicaWorker(): Promise<string> {
  const out = await build({
    entryPoints: [WORKER_ENTRY],
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    target: 'es2022',
    mainFields: ['module', 'main'],
    conditions: ['workerd', 'worker', 'browser', 'import'],
    external: ['cloudflare:*', 'node:*'],
    write: false,
    logLevel: 'silent',
  });
  return out.outputFiles[0]!.text;
}

/** How many replicas a start of this folder runs: its group's, or the one it would deal. */
export async function plannedReplicaCount(o: Pick<LocalClusterOptions, 'dataDir' | 'n' | 'structure'>): Promise<number> {
  const groupPath = join(resolve(o.dataDir), 'keys', GROUP_FILE);
  if (existsSync(groupPath)) {
    try {
      const replicas = (JSON.parse(await readFile(groupPath, 'utf8')) as { replicas?: unknown }).replicas;
      if (Array.isArray(replicas)) return replicas.length;
    } catch {
      // prepareCluster reports a broken group.json
    }
    return o.n ?? 4;
  }
  return o.structure ? (await loadStructure(o.structure)).replicas.length : (o.n ?? 4);
}

export class PortBusyError extends Error {}

/** The local cluster's signing-service credentials, in DATA/keys (mode 0600). */
export const SIGNER_ADMIN_FILE = 'signer-admin.json';
export const SIGNER_DEMO_FILE = 'signer-demo.json';

/**
 * Throws PortBusyError naming the first of host:basePort..basePort+count-1 that cannot be bound (a cluster
 * would otherwise fail deep inside workerd, after dealing keys). Racy by nature; it catches the common case
 * of a cluster already running there.
 */
export async function checkPortsFree(host: string, basePort: number, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const port = basePort + i;
    const error = await new Promise<NodeJS.ErrnoException | null>((done) => {
      const server = createServer();
      server.once('error', (e: NodeJS.ErrnoException) => done(e));
      server.listen({ port, host, exclusive: true }, () => server.close(() => done(null)));
    });
    if (error) {
      const why = error.code === 'EADDRINUSE' ? 'is in use' : error.code === 'EACCES' ? 'needs privileges' : `cannot be bound (${error.code ?? error.message})`;
      throw new PortBusyError(`port ${port} on ${host} ${why}: replicas listen on ${basePort}..${basePort + count - 1}; stop what uses it or give another --port`);
    }
  }
}

async function ensureKeys(o: LocalClusterOptions, keysDir: string): Promise<{ dealt: boolean }> {
  if (existsSync(join(keysDir, GROUP_FILE))) return { dealt: o.newGroup === true };
  const parsed = o.structure ? await loadStructure(o.structure) : structureFromThreshold(o.n ?? 4, Math.floor(((o.n ?? 4) - 1) / 3));
  o.log?.(`dealing keys for ${parsed.replicas.length} replicas into ${keysDir}`);
  // The local cluster serves a randomness beacon whose round 1 is due now (docs/beacon.md).
  const beacon = { period: o.beaconPeriod ?? 3, genesisTime: Math.floor(Date.now() / 1000) };
  // And a signing service (docs/signer.md): one administrator, one client `demo` that may sign anything up
  // to 16 KiB for purpose `demo`; their credentials go beside the keys.
  const admin = newCredential('admin');
  const demo = newCredential('demo');
  const signerPolicy = parseSignerPolicy({
    version: 1,
    admins: { threshold: 1, keys: { admin: admin.publicKey } },
    clients: { demo: { publicKey: demo.publicKey } },
    purposes: { demo: { clients: ['demo'], maxMessageBytes: MAX_SIGN_MESSAGE_BYTES } },
  });
  // And the threshold RSA key of the CA and the time-stamping authority (docs/formats.md section 4a):
  // Shoup's scheme needs a threshold structure.
  const threshold = parsed.structure.type === 'threshold';
  if (o.rsa && !threshold) o.log?.('  no threshold RSA key (time-stamping, X.509): the structure is general, and threshold RSA needs k of n');
  const rsa = o.rsa && threshold ? { bits: DEFAULT_RSA_BITS, ...(o.rsa.primes ? { primes: o.rsa.primes } : {}), ...certificateValidity(new Date(), DEFAULT_CERT_YEARS) } : undefined;
  await dealToDir(parsed, { out: keysDir, rng: systemRandom, testOnly: false, beacon, signerPolicy, ...(rsa ? { rsa } : {}), onProgress: (m) => o.log?.(`  ${m}`) });
  await writeCredential(join(keysDir, SIGNER_ADMIN_FILE), admin);
  await writeCredential(join(keysDir, SIGNER_DEMO_FILE), demo);
  return { dealt: true };
}

/**
 * Which runtime holds each replica's state in a data folder. Starting a replica on another runtime than
 * before would start it on EMPTY state with the same keys: it would sign again, differently, for protocol
 * instances it already signed for, and clients could hold receipts for two different logs under one group
 * key. So a folder keeps the layout it was first started with.
 */
export async function claimDataLayout(
  dataDir: string,
  layout: { readonly mode: 'miniflare' } | { readonly mode: 'mixed'; readonly nodeIndices: readonly number[]; readonly separateWorkers?: true },
): Promise<void> {
  const file = join(dataDir, 'layout.json');
  type Layout = { mode: string; nodeIndices?: readonly number[]; separateWorkers?: true };
  const describe = (l: Layout) =>
    l.mode !== 'mixed'
      ? 'all replicas in Miniflare'
      : l.nodeIndices?.length === 0 && l.separateWorkers
        ? '--separate (a Miniflare instance per replica)'
        : `--mixed${l.nodeIndices ? ` (Node replicas ${l.nodeIndices.join(', ')})` : ''}${l.separateWorkers ? ', a Miniflare instance per Worker replica' : ''}`;
  const wanted: Layout =
    layout.mode === 'mixed'
      ? { mode: 'mixed', nodeIndices: [...layout.nodeIndices].sort((a, b) => a - b), ...(layout.separateWorkers ? { separateWorkers: true as const } : {}) }
      : { mode: 'miniflare' };
  // Folders from before this file existed: Durable Object state only, or Node replica state.
  const existing: Layout | null = existsSync(file)
    ? (JSON.parse(await readFile(file, 'utf8')) as Layout)
    : existsSync(join(dataDir, 'node'))
      ? { mode: 'mixed' }
      : existsSync(join(dataDir, 'state'))
        ? { mode: 'miniflare' }
        : null;
  const compatible =
    !existing ||
    (existing.mode === wanted.mode &&
      (!existing.nodeIndices || JSON.stringify(existing.nodeIndices) === JSON.stringify(wanted.nodeIndices ?? null)) &&
      (existing.separateWorkers ?? false) === (wanted.separateWorkers ?? false));
  if (!compatible) {
    throw new Error(`${dataDir} holds replicas started with ${describe(existing!)}; starting them as ${describe(wanted)} would restart some on empty state with the same keys. Use another --data folder.`);
  }
  await mkdir(dataDir, { recursive: true });
  await writeFile(file, `${JSON.stringify(wanted)}\n`);
}

/** What every kind of local cluster shares: keys (dealt on first start), group.json, the bundled worker. */
export interface ClusterSetup {
  readonly dataDir: string;
  readonly keysDir: string;
  readonly groupPath: string;
  readonly groupText: string;
  readonly group: GroupFile;
  readonly dealt: boolean;
  readonly n: number;
  readonly basePort: number;
  readonly host: string;
  /** The bundled replica worker (also written to DATA/replica-worker.js). */
  readonly script: string;
  /** DATA/cluster.lock, held until the cluster is disposed. */
  readonly lock: FolderLock;
}

/** The data folder's lock file (holds the pid of the process running the cluster). */
export const CLUSTER_LOCK = 'cluster.lock';

/** Deals keys if none exist, loads group.json, checks `n`, bundles the replica worker. */
export async function prepareCluster(o: LocalClusterOptions): Promise<ClusterSetup> {
  const dataDir = resolve(o.dataDir);
  const keysDir = join(dataDir, 'keys');
  await mkdir(dataDir, { recursive: true });
  // Before anything is dealt or read: a second cluster on this folder would run the same keys and state.
  const lock = FolderLock.take(dataDir, CLUSTER_LOCK, 'one local cluster per data folder: stop it, or use another --data folder');
  try {
    return await prepareLocked(o, dataDir, keysDir, lock);
  } catch (e) {
    lock.release();
    throw e;
  }
}

async function prepareLocked(o: LocalClusterOptions, dataDir: string, keysDir: string, lock: FolderLock): Promise<ClusterSetup> {
  // A value every replica would refuse (each answers 503 misconfigured): refused here, before any deal.
  if (o.corsOrigins !== undefined) corsOriginsFromEnv(o.corsOrigins);
  await checkPortsFree(o.host ?? '127.0.0.1', o.basePort ?? 8787, await plannedReplicaCount(o));
  const { dealt } = await ensureKeys(o, keysDir);
  const groupPath = join(keysDir, GROUP_FILE);
  const groupText = await readFile(groupPath, 'utf8');
  const groupFile = JSON.parse(groupText) as GroupFile;
  const group = parseGroup(groupFile);
  // Keys that ran before must never start a new log (a second history under the same group key): with the
  // replicas' storage gone, refuse here, where the operator can still choose (restore, or deal a new group).
  // state/: the Durable Objects of one Miniflare; do/: of one Miniflare per replica; node/: Node replicas.
  if (!dealt && !o.externalStorage && !['state', 'do', 'node'].some((d) => existsSync(join(dataDir, d)))) {
    throw new Error(
      `${keysDir} holds a group whose replicas' storage is not in ${dataDir} (no state/, do/ or node/ folder): these keys may have signed a history before, and a new log under them would be a second one. Restore the storage, or deal a new group (remove ${keysDir}).`,
    );
  }
  if (!dealt && o.n !== undefined && o.n !== group.replicas.length) {
    throw new Error(`${groupPath} is a group of ${group.replicas.length} replicas, not ${o.n}; use another --data folder for another group`);
  }
  o.log?.(`bundling the replica worker`);
  const script = await bundleReplicaWorker();
  await writeFile(join(dataDir, 'replica-worker.js'), script);
  return { dataDir, keysDir, groupPath, groupText, group: groupFile, dealt, n: group.replicas.length, basePort: o.basePort ?? 8787, host: o.host ?? '127.0.0.1', script, lock };
}

/**
 * The Worker of replica `index`: the bundled script, group.json and its secrets as bindings, its Durable
 * Object, served on host:(basePort + index). `extra` adds bindings (SINTRA_PEERS) or service bindings.
 */
export async function replicaWorkerOptions(
  setup: ClusterSetup,
  index: number,
  o: Pick<LocalClusterOptions, 'clientRate' | 'memoryBudgetMb' | 'corsOrigins' | 'healthStallSeconds' | 'clockOffsetMs'>,
  extra: { readonly bindings?: Record<string, string>; readonly serviceBindings?: Record<string, string> } = {},
): Promise<WorkerOptions> {
  const r = setup.group.replicas[index]!;
  const secrets = JSON.parse(await readFile(join(setup.keysDir, secretsFileName(r.id)), 'utf8')) as SecretsFile;
  return {
    name: `replica-${index}`,
    modules: true,
    script: setup.script,
    compatibilityDate: COMPATIBILITY_DATE,
    compatibilityFlags: [...COMPATIBILITY_FLAGS],
    bindings: {
      SINTRA_GROUP: setup.groupText,
      ...secrets,
      ...(o.clientRate ? { SINTRA_CLIENT_RATE: String(o.clientRate) } : {}),
      ...(o.memoryBudgetMb ? { SINTRA_MEMORY_BUDGET_MB: String(o.memoryBudgetMb) } : {}),
      ...(o.corsOrigins !== undefined ? { SINTRA_CORS_ORIGINS: o.corsOrigins } : {}),
      ...(o.healthStallSeconds !== undefined ? { SINTRA_HEALTH_STALL_SECONDS: String(o.healthStallSeconds) } : {}),
      ...(o.clockOffsetMs?.[index] !== undefined ? { SINTRA_CLOCK_OFFSET_MS: String(o.clockOffsetMs[index]) } : {}),
      // A new group (keys dealt by this start): empty storage starts the log. Never for keys that ran before.
      ...(setup.dealt ? { SINTRA_BOOTSTRAP: '1' } : {}),
      ...extra.bindings,
    },
    ...(extra.serviceBindings ? { serviceBindings: extra.serviceBindings } : {}),
    durableObjects: { REPLICA: { className: 'ReplicaObject', useSQLite: true } },
    unsafeDirectSockets: [{ host: setup.host, port: setup.basePort + index }],
  };
}

/**
 * Miniflare's log when SINTRA_MF_DEBUG is set, and the replicas' own output (their console, workerd's
 * warnings) on our stderr: stdout belongs to the command's result (`ready ...`, or JSON with --json).
 */
export function debugLog(): { log?: Log; handleRuntimeStdio: (stdout: Readable, stderr: Readable) => void } {
  const handleRuntimeStdio = (stdout: Readable, stderr: Readable) => {
    stdout.pipe(process.stderr, { end: false });
    stderr.pipe(process.stderr, { end: false });
  };
  return process.env['SINTRA_MF_DEBUG'] ? { log: new Log(LogLevel.DEBUG), handleRuntimeStdio } : { handleRuntimeStdio };
}

export async function startLocalCluster(o: LocalClusterOptions): Promise<LocalCluster> {
  const setup = await prepareCluster(o);
  try {
    await claimDataLayout(setup.dataDir, { mode: 'miniflare' });
  } catch (e) {
    setup.lock.release();
    throw e;
  }
  const { n, host, dataDir } = setup;
  const workers: WorkerOptions[] = [];
  for (let i = 0; i < n; i++) {
    const serviceBindings: Record<string, string> = {};
    for (let j = 0; j < n; j++) if (j !== i) serviceBindings[`PEER_${j}`] = `replica-${j}`;
    workers.push(await replicaWorkerOptions(setup, i, o, { serviceBindings }));
  }
  const mf = new Miniflare({ workers, host, port: 0, cf: false, durableObjectsPersist: join(dataDir, 'state'), ...debugLog() });
  const urls: string[] = [];
  try {
    await mf.ready;
    for (let i = 0; i < n; i++) urls.push((await mf.unsafeGetDirectURL(`replica-${i}`)).toString().replace(/\/$/, ''));
  } catch (e) {
    await mf.dispose().catch(() => undefined);
    setup.lock.release();
    throw e;
  }
  const dispose = async () => {
    try {
      await mf.dispose();
    } finally {
      setup.lock.release();
    }
  };
  return { urls, groupPath: setup.groupPath, group: setup.group, dealt: setup.dealt, mf, dispose };
}

/** Polls GET /v1/health on every replica until all answer (starting a replica replays its journal). */
export async function waitUntilReady(urls: readonly string[], timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const url of urls) {
    for (;;) {
      try {
        const res = await fetch(`${url}/v1/health`);
        if (res.ok) break;
      } catch {
        // not up yet
      }
      if (Date.now() > deadline) throw new Error(`replica at ${url} did not answer within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}
