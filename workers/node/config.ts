/**
 * Configuration of a Node replica from the dealer's files or environment variables, and opening its store.
 * The names are the Worker's (docs/operations.md): SINTRA_GROUP (group.json text) or SINTRA_GROUP_FILE,
 * the five secrets of <id>.secrets.json as variables or SINTRA_SECRETS_FILE, SINTRA_PEERS, and for the
 * store UPSTASH_REDIS_REST_URL + UPSTASH_REDIS_REST_TOKEN (Redis) or SINTRA_DATA_DIR (local files).
 *
 * A Redis store is opened only on a server that keeps every acknowledged write: openStore asks it for its
 * persistence settings and refuses appendonly/appendfsync other than yes/always, or eviction
 * (redis-store.ts); where the server does not say (Upstash offers no CONFIG command), it warns, or
 * refuses with SINTRA_REDIS_DURABILITY=require.
 */
import { readFileSync } from 'node:fs';
import { ConfigError, SECRET_NAMES, parseGroup, parseReplicaSecrets } from '../../shared/config/group.ts';
import type { Group, ReplicaSecrets } from '../../shared/config/group.ts';
import { toHex } from '../../shared/crypto/bytes.ts';
import { REDIS_DURABILITY_MODES, RedisStore, redisClient, redisPrefix } from './redis-store.ts';
import type { RedisDurabilityMode } from './redis-store.ts';
import { StoreNotDurableError } from './store-errors.ts';
import type { NodeStore } from './replica.ts';
import { AdmissionConfigError, admissionFromEnv } from '../core/admission.ts';
import type { AdmissionConfig } from '../core/admission.ts';
import { CorsConfigError, corsOriginsFromEnv } from '../core/cors.ts';
import type { CorsOrigins } from '../core/cors.ts';
import { logLine } from '../core/log.ts';

export type Env = Readonly<Record<string, string | undefined>>;

export type StoreSpec =
  | {
      readonly kind: 'redis';
      readonly url: string;
      readonly token: string;
      readonly prefix?: string;
      readonly timeoutMs?: number;
      /** What the server's persistence must show (SINTRA_REDIS_DURABILITY, default 'verify'). */
      readonly durability?: RedisDurabilityMode;
    }
  | { readonly kind: 'file'; readonly dir: string };

export function loadGroup(env: Env): Group {
  const text = env['SINTRA_GROUP'] ?? (env['SINTRA_GROUP_FILE'] ? readFileSync(env['SINTRA_GROUP_FILE'], 'utf8') : undefined);
  if (text === undefined) throw new ConfigError('SINTRA_GROUP', 'set SINTRA_GROUP (the text of group.json) or SINTRA_GROUP_FILE (its path)');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ConfigError('SINTRA_GROUP', 'group.json is not valid JSON');
  }
  return parseGroup(json);
}

export function loadSecrets(env: Env, group: Group): ReplicaSecrets {
  if (env['SINTRA_SECRETS_FILE']) {
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(env['SINTRA_SECRETS_FILE'], 'utf8'));
    } catch (e) {
      throw new ConfigError('SINTRA_SECRETS_FILE', `cannot read ${env['SINTRA_SECRETS_FILE']}: ${(e as Error).message}`);
    }
    return parseReplicaSecrets(json, group);
  }
  const missing = SECRET_NAMES.filter((k) => env[k] === undefined);
  if (missing.length > 0) throw new ConfigError(missing[0]!, `set SINTRA_SECRETS_FILE or the variables ${SECRET_NAMES.join(', ')}`);
  return parseReplicaSecrets(Object.fromEntries(SECRET_NAMES.map((k) => [k, env[k]])), group);
}

/** A JSON array of n base URLs by replica index (own entry may be null), or n comma-separated URLs. */
export function parsePeers(text: string | undefined, group: Group, me: number): (string | null)[] {
  const n = group.replicas.length;
  if (text === undefined) throw new ConfigError('SINTRA_PEERS', `set SINTRA_PEERS: a JSON array of the ${n} replicas' base URLs by index`);
  let list: unknown;
  try {
    list = text.trim().startsWith('[') ? JSON.parse(text) : text.split(',').map((s) => s.trim());
  } catch {
    throw new ConfigError('SINTRA_PEERS', 'not valid JSON');
  }
  if (!Array.isArray(list) || list.length !== n) throw new ConfigError('SINTRA_PEERS', `expected ${n} base URLs (one per replica, by index)`);
  return list.map((u, j) => {
    if (j === me && (u === null || u === '')) return null;
    if (typeof u !== 'string' || !/^https?:\/\/[^\s]+$/.test(u)) throw new ConfigError(`SINTRA_PEERS[${j}]`, 'expected an http(s) base URL');
    return u.replace(/\/+$/, '');
  });
}

export function storeSpecFromEnv(env: Env): StoreSpec {
  const url = env['UPSTASH_REDIS_REST_URL'];
  const token = env['UPSTASH_REDIS_REST_TOKEN'];
  if (url || token) {
    if (!url || !token) throw new ConfigError(url ? 'UPSTASH_REDIS_REST_TOKEN' : 'UPSTASH_REDIS_REST_URL', 'set both UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN');
    const timeout = env['SINTRA_REDIS_TIMEOUT_MS'] ? Number(env['SINTRA_REDIS_TIMEOUT_MS']) : undefined;
    const durability = env['SINTRA_REDIS_DURABILITY'];
    if (durability !== undefined && !(REDIS_DURABILITY_MODES as readonly string[]).includes(durability)) {
      throw new ConfigError('SINTRA_REDIS_DURABILITY', `expected ${REDIS_DURABILITY_MODES.join(' or ')} (a server that reports it is not durable is refused either way)`);
    }
    return {
      kind: 'redis',
      url,
      token,
      ...(env['SINTRA_REDIS_PREFIX'] ? { prefix: env['SINTRA_REDIS_PREFIX'] } : {}),
      ...(timeout ? { timeoutMs: timeout } : {}),
      ...(durability !== undefined ? { durability: durability as RedisDurabilityMode } : {}),
    };
  }
  if (env['SINTRA_DATA_DIR']) return { kind: 'file', dir: env['SINTRA_DATA_DIR'] };
  throw new ConfigError('SINTRA_DATA_DIR', 'choose a store: UPSTASH_REDIS_REST_URL + UPSTASH_REDIS_REST_TOKEN (Redis) or SINTRA_DATA_DIR (local files)');
}

/**
 * Opens the store. A Redis store's durability is checked here, so that a server that is not durable stops
 * the replica from starting (StoreNotDurableError, one line); if the server cannot be reached yet, the
 * check runs before the first load instead (and again before every load).
 */
export async function openStore(spec: StoreSpec, group: Group, secrets: ReplicaSecrets, log?: (line: string) => void): Promise<NodeStore> {
  if (spec.kind === 'file') {
    // Loaded only here: Redis-only deployments (Lambda bundles) never need the native SQLite module, and the
    // installed package leaves it an optional peer dependency (a checkout has it: npm ci).
    let sqlite: typeof import('./sqlite-store.ts');
    try {
      sqlite = await import('./sqlite-store.ts');
    } catch (e) {
      if ((e as { code?: unknown }).code === 'ERR_MODULE_NOT_FOUND' && String(e).includes("'better-sqlite3'")) {
        throw new Error('the local file store (SINTRA_DATA_DIR, --data) needs the native package better-sqlite3: npm install better-sqlite3@12 beside sintra-edge, or keep the state in Redis');
      }
      throw e;
    }
    return sqlite.SqliteStore.open(spec.dir);
  }
  const prefix = spec.prefix ?? redisPrefix(toHex(group.groupId), secrets.id);
  const client = redisClient({ url: spec.url, token: spec.token, ...(spec.timeoutMs ? { timeoutMs: spec.timeoutMs } : {}) });
  let where = spec.url;
  try {
    where = new URL(spec.url).host;
  } catch {
    // the client reports a bad URL by itself
  }
  const store = new RedisStore(client, prefix, { durability: spec.durability ?? 'verify', where, ...(log ? { log } : {}) });
  try {
    await store.checkDurability();
  } catch (e) {
    if (e instanceof StoreNotDurableError) throw e;
    log?.(logLine('warn', secrets.id, 'redis-durability', `could not check the durability of Redis at ${where} yet (${e instanceof Error ? e.message.slice(0, 200) : String(e)}); it is checked before the first load`));
  }
  return store;
}

/** SINTRA_CLIENT_RATE: requests per second per client (burst twice that). */
export function clientRate(env: Env): number | undefined {
  const v = env['SINTRA_CLIENT_RATE'];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new ConfigError('SINTRA_CLIENT_RATE', 'expected a positive number');
  return n;
}

/** SINTRA_API_KEYS, SINTRA_REQUIRE_API_KEY, SINTRA_TRUSTED_PROXY_HEADER (workers/core/admission.ts). */
export function admission(env: Env): AdmissionConfig {
  try {
    return admissionFromEnv(env);
  } catch (e) {
    if (e instanceof AdmissionConfigError) throw new ConfigError(e.variable, e.message.slice(e.variable.length + 2));
    throw e;
  }
}

/** SINTRA_CORS_ORIGINS (workers/core/cors.ts). */
export function corsOrigins(env: Env): CorsOrigins {
  try {
    return corsOriginsFromEnv(env['SINTRA_CORS_ORIGINS']);
  } catch (e) {
    if (e instanceof CorsConfigError) throw new ConfigError('SINTRA_CORS_ORIGINS', e.message.replace(/^SINTRA_CORS_ORIGINS: /, ''));
    throw e;
  }
}
