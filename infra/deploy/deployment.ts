/**
 * The deployment file: which provider, account and URL each replica of a dealt group lives at. The wrangler
 * configs of `sintra deploy-config` and the terraform/ root module (variable deployment_file) read this same
 * file, so its keys are snake_case, and paths in it are relative to the file itself.
 *
 *   { "group_file": "keys/group.json", "tolerate": ["account"],
 *     "replicas": { "r1": { "platform": "cloudflare", "provider": "cloudflare", "account": "cf-alice",
 *                           "workers_dev_subdomain": "alice", "location_hint": "weur" }, ... } }
 *
 * Validation is strict because a wrong deployment is a security problem, not a typo: the replica ids must be
 * exactly the group's, and every failure domain the deployment claims to tolerate ("account", "provider")
 * must hold a set of replicas the adversary structure allows to be corrupted together. Otherwise whoever
 * controls that one account or provider controls the group, whatever the threshold says.
 *
 * Storage is stricter still: no two replicas may share one storage failure domain (a database, a disk).
 * A replica whose storage goes back in time (a restore from an older snapshot, an asynchronous failover)
 * signs a second, different history for protocol instances it already signed for; when storage that
 * several replicas share goes back, they all do it at once, and past t replicas nothing in the protocol
 * can tell (docs/deploy.md, "Storage durability and failure domains"). Each replica's storage domain is
 * its own by default: a Cloudflare replica's Durable Object, a Lambda replica's own Upstash database
 * (terraform/aws.tf creates one per replica); `redis_url` (an existing database) and `storage` (a label
 * for the domain) make it explicit, and any two replicas with the same one are refused.
 */
import type { Group } from '../../shared/config/group.ts';
import { CorsConfigError, corsOriginsFromEnv } from '../../workers/core/cors.ts';

export class DeployError extends Error {
  override readonly name = 'DeployError';
}

export const PLATFORMS = ['cloudflare', 'lambda'] as const;
export type Platform = (typeof PLATFORMS)[number];

/** Failure domains a deployment can claim to tolerate: the replicas sharing one value may all be corrupted. */
export const DOMAINS = ['account', 'provider'] as const;
export type Domain = (typeof DOMAINS)[number];

/** Durable Object location hints (workers-types DurableObjectLocationHint). */
export const LOCATION_HINTS = ['wnam', 'enam', 'sam', 'weur', 'eeur', 'apac', 'apac-ne', 'apac-se', 'oc', 'afr', 'me'] as const;
/** Durable Object jurisdictions (workers-types DurableObjectJurisdiction). */
export const JURISDICTIONS = ['eu', 'fedramp', 'fedramp-high'] as const;

export interface CustomDomain {
  readonly zone_id: string;
  readonly hostname: string;
}

export interface ReplicaDeployment {
  readonly platform: Platform;
  /** Failure-domain label: the company operating the platform (and its storage), e.g. "cloudflare", "aws". */
  readonly provider: string;
  /** Failure-domain label: the account / operator holding this replica's credentials and state. */
  readonly account: string;
  /** Worker or Lambda function name; default `<name_prefix>-<id>`. */
  readonly name?: string;
  /** Base URL (an origin) the peers reach this replica at; derived for Cloudflare when possible. */
  readonly url?: string;
  /** Cloudflare account id (32 hex digits): wrangler's account_id and terraform's account_id. */
  readonly account_id?: string;
  /** The account's workers.dev subdomain: the replica is served at https://<name>.<subdomain>.workers.dev. */
  readonly workers_dev_subdomain?: string;
  readonly custom_domain?: CustomDomain;
  readonly location_hint?: (typeof LOCATION_HINTS)[number];
  readonly jurisdiction?: (typeof JURISDICTIONS)[number];
  /** AWS region of a Lambda replica. */
  readonly region?: string;
  /** Upstash primary region of a Lambda replica's Redis database (default: region). */
  readonly redis_region?: string;
  /**
   * Lambda: the REST URL (an https origin) of an EXISTING Redis database that holds this replica's state,
   * instead of the database terraform creates for it. It must hold no other replica's state.
   */
  readonly redis_url?: string;
  /**
   * The storage failure domain holding this replica's state (a database, a cluster, a disk), as a label.
   * Default: the replica's own (see storageDomain). No two replicas may have the same.
   */
  readonly storage?: string;
}

export interface Deployment {
  readonly group_file?: string;
  readonly name_prefix: string;
  readonly tolerate: readonly Domain[];
  readonly client_rate?: number;
  /** SINTRA_CORS_ORIGINS of every replica: `*`, `none` or a comma-separated list of origins (workers/core/cors.ts). */
  readonly cors_origins?: string;
  readonly replicas: Readonly<Record<string, ReplicaDeployment>>;
}

const TOP_FIELDS = ['group_file', 'name_prefix', 'tolerate', 'client_rate', 'cors_origins', 'replicas'];
const REPLICA_FIELDS = [
  'platform',
  'provider',
  'account',
  'name',
  'url',
  'account_id',
  'workers_dev_subdomain',
  'custom_domain',
  'location_hint',
  'jurisdiction',
  'region',
  'redis_region',
  'redis_url',
  'storage',
];
const CLOUDFLARE_ONLY = ['account_id', 'workers_dev_subdomain', 'custom_domain', 'location_hint', 'jurisdiction'];
const LAMBDA_ONLY = ['region', 'redis_region', 'redis_url'];

/** Worker script names and Lambda function names both accept this (and it is a DNS label for workers.dev). */
export const NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const LABEL = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const HOSTNAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;
const ACCOUNT_ID = /^[0-9a-f]{32}$/;
const AWS_REGION = /^[a-z]{2}(-[a-z]+)+-[0-9]$/;

type Obj = Record<string, unknown>;
const isObject = (x: unknown): x is Obj => typeof x === 'object' && x !== null && !Array.isArray(x);

function onlyFields(o: Obj, where: string, allowed: readonly string[]): void {
  for (const k of Object.keys(o)) if (!allowed.includes(k)) throw new DeployError(`${where}: unknown field "${k}" (allowed: ${allowed.join(', ')})`);
}

function optionalString(o: Obj, key: string, where: string, pattern?: RegExp, what?: string): string | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || v === '') throw new DeployError(`${where}.${key} must be a non-empty string`);
  if (pattern && !pattern.test(v)) throw new DeployError(`${where}.${key} ${JSON.stringify(v)} is not ${what ?? `of the form ${pattern.source}`}`);
  return v;
}

/**
 * Peers post to `new URL('/v1/peer', base)`, which drops any path of the base, so a base URL must be an
 * origin. Plain http only for loopback (local tests); links are MAC-authenticated, but clients are not.
 */
export function checkBaseUrl(value: string, where: string): string {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw new DeployError(`${where} ${JSON.stringify(value)} is not a URL`);
  }
  const loopback = u.hostname === '127.0.0.1' || u.hostname === 'localhost' || u.hostname === '[::1]';
  if (u.protocol !== 'https:' && !(u.protocol === 'http:' && loopback)) throw new DeployError(`${where} ${JSON.stringify(value)} must use https`);
  if (u.origin !== value) {
    throw new DeployError(`${where} ${JSON.stringify(value)} must be an origin like ${u.origin} (no path, query or trailing slash: peers post to /v1/peer at the root)`);
  }
  return value;
}

/** An Upstash REST URL: an https origin (the whole URL names the database). terraform checks the same pattern. */
function checkRedisUrl(value: string, where: string): string {
  if (!/^https:\/\/[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?$/.test(value)) {
    throw new DeployError(`${where} ${JSON.stringify(value)} must be the database's REST URL, an https origin such as https://eu1-example-12345.upstash.io (no path, no trailing slash)`);
  }
  return value;
}

function parseReplica(id: string, raw: unknown): ReplicaDeployment {
  const where = `replicas.${id}`;
  if (!isObject(raw)) throw new DeployError(`${where} must be an object`);
  onlyFields(raw, where, REPLICA_FIELDS);
  const platform = raw['platform'];
  if (typeof platform !== 'string' || !(PLATFORMS as readonly string[]).includes(platform)) {
    throw new DeployError(`${where}.platform must be one of ${PLATFORMS.join(', ')}, got ${JSON.stringify(platform)}`);
  }
  const provider = optionalString(raw, 'provider', where, LABEL, 'a label (letters, digits, . _ -)');
  const account = optionalString(raw, 'account', where, LABEL, 'a label (letters, digits, . _ -)');
  if (provider === undefined) throw new DeployError(`${where}.provider is missing (the company whose compromise takes this replica, e.g. "cloudflare")`);
  if (account === undefined) throw new DeployError(`${where}.account is missing (the account or operator holding this replica's credentials)`);
  for (const k of platform === 'cloudflare' ? LAMBDA_ONLY : CLOUDFLARE_ONLY) {
    if (raw[k] !== undefined && raw[k] !== null) throw new DeployError(`${where}.${k} does not apply to a ${platform} replica`);
  }
  const name = optionalString(raw, 'name', where, NAME, 'a valid name (lower-case letters, digits and inner dashes, at most 63)');
  const url = optionalString(raw, 'url', where);
  if (url !== undefined) checkBaseUrl(url, `${where}.url`);
  const account_id = optionalString(raw, 'account_id', where, ACCOUNT_ID, 'a Cloudflare account id (32 hex digits)');
  const workers_dev_subdomain = optionalString(raw, 'workers_dev_subdomain', where, DNS_LABEL, 'a workers.dev subdomain (a DNS label)');
  let custom_domain: CustomDomain | undefined;
  const cd = raw['custom_domain'];
  if (cd !== undefined && cd !== null) {
    if (!isObject(cd)) throw new DeployError(`${where}.custom_domain must be an object {"zone_id", "hostname"}`);
    onlyFields(cd, `${where}.custom_domain`, ['zone_id', 'hostname']);
    const zone_id = optionalString(cd, 'zone_id', `${where}.custom_domain`, ACCOUNT_ID, 'a Cloudflare zone id (32 hex digits)');
    const hostname = optionalString(cd, 'hostname', `${where}.custom_domain`, HOSTNAME, 'a lower-case host name');
    if (!zone_id || !hostname) throw new DeployError(`${where}.custom_domain needs zone_id and hostname`);
    custom_domain = { zone_id, hostname };
  }
  const location_hint = optionalString(raw, 'location_hint', where);
  if (location_hint !== undefined && !(LOCATION_HINTS as readonly string[]).includes(location_hint)) {
    throw new DeployError(`${where}.location_hint must be one of ${LOCATION_HINTS.join(', ')}, got ${JSON.stringify(location_hint)}`);
  }
  const jurisdiction = optionalString(raw, 'jurisdiction', where);
  if (jurisdiction !== undefined && !(JURISDICTIONS as readonly string[]).includes(jurisdiction)) {
    throw new DeployError(`${where}.jurisdiction must be one of ${JURISDICTIONS.join(', ')}, got ${JSON.stringify(jurisdiction)}`);
  }
  const region = optionalString(raw, 'region', where, AWS_REGION, 'an AWS region like eu-central-1');
  const redis_region = optionalString(raw, 'redis_region', where, AWS_REGION, 'a region like eu-central-1');
  if (platform === 'lambda' && region === undefined) throw new DeployError(`${where}.region is missing (the AWS region of this Lambda replica)`);
  const redis_url = optionalString(raw, 'redis_url', where);
  if (redis_url !== undefined) checkRedisUrl(redis_url, `${where}.redis_url`);
  if (redis_url !== undefined && redis_region !== undefined) {
    throw new DeployError(`${where}: redis_region only applies to the database terraform creates; with redis_url the database exists already`);
  }
  const storage = optionalString(raw, 'storage', where, LABEL, 'a label (letters, digits, . _ -)');
  return {
    platform: platform as Platform,
    provider,
    account,
    ...(name !== undefined && { name }),
    ...(url !== undefined && { url }),
    ...(account_id !== undefined && { account_id }),
    ...(workers_dev_subdomain !== undefined && { workers_dev_subdomain }),
    ...(custom_domain !== undefined && { custom_domain }),
    ...(location_hint !== undefined && { location_hint: location_hint as ReplicaDeployment['location_hint'] }),
    ...(jurisdiction !== undefined && { jurisdiction: jurisdiction as ReplicaDeployment['jurisdiction'] }),
    ...(region !== undefined && { region }),
    ...(redis_region !== undefined && { redis_region }),
    ...(redis_url !== undefined && { redis_url }),
    ...(storage !== undefined && { storage }),
  };
}

/** Parses the deployment file's JSON shape (not yet checked against a group). */
export function parseDeployment(raw: unknown): Deployment {
  if (!isObject(raw)) throw new DeployError('the deployment file must be a JSON object with "replicas"');
  onlyFields(raw, 'deployment', TOP_FIELDS);
  const group_file = optionalString(raw, 'group_file', 'deployment');
  const name_prefix = optionalString(raw, 'name_prefix', 'deployment', /^[a-z0-9][a-z0-9-]{0,40}$/, 'a short name prefix (lower-case letters, digits, dashes)') ?? 'sintra';
  let tolerate: Domain[] = ['account'];
  if (raw['tolerate'] !== undefined) {
    const t = raw['tolerate'];
    if (!Array.isArray(t) || !t.every((d) => typeof d === 'string' && (DOMAINS as readonly string[]).includes(d))) {
      throw new DeployError(`deployment.tolerate must be a list of ${DOMAINS.map((d) => `"${d}"`).join(', ')}`);
    }
    tolerate = [...new Set(t as Domain[])];
  }
  const rate = raw['client_rate'];
  if (rate !== undefined && rate !== null && (typeof rate !== 'number' || !Number.isFinite(rate) || rate <= 0)) {
    throw new DeployError('deployment.client_rate must be a positive number (requests per second per client)');
  }
  const cors = raw['cors_origins'];
  if (cors !== undefined) {
    if (typeof cors !== 'string') throw new DeployError('deployment.cors_origins must be a string: "*", "none" or comma-separated origins such as "https://dash.example.org"');
    try {
      corsOriginsFromEnv(cors);
    } catch (e) {
      if (e instanceof CorsConfigError) throw new DeployError(e.message.replace(/^SINTRA_CORS_ORIGINS:/, 'deployment.cors_origins:'));
      throw e;
    }
  }
  const reps = raw['replicas'];
  if (!isObject(reps) || Object.keys(reps).length === 0) throw new DeployError('deployment.replicas must be an object mapping replica ids to their deployment');
  const replicas: Record<string, ReplicaDeployment> = {};
  for (const [id, r] of Object.entries(reps)) replicas[id] = parseReplica(id, r);
  return { ...(group_file !== undefined && { group_file }), name_prefix, tolerate, ...(typeof rate === 'number' && { client_rate: rate }), ...(typeof cors === 'string' && { cors_origins: cors }), replicas };
}

// ---------------------------------------------------------------------------------------------------------
// Checked against the group

export interface ResolvedReplica extends ReplicaDeployment {
  readonly id: string;
  readonly index: number;
  readonly name: string;
  /** Base URL, or null when it is only known after deployment (a Lambda function URL). */
  readonly url: string | undefined;
  /** The storage failure domain (storageDomain): different for every replica. */
  readonly storage: string;
}

export interface DomainReport {
  /** domain value -> replica ids, in index order */
  readonly [value: string]: readonly string[];
}

export interface ResolvedDeployment {
  readonly deployment: Deployment;
  readonly group: Group;
  /** In replica index order. */
  readonly replicas: readonly ResolvedReplica[];
  /** For each tolerated domain: its values and the replicas they hold (all checked corruptible). */
  readonly domains: Readonly<Partial<Record<Domain, DomainReport>>>;
  /** For information: domains NOT claimed whose values hold a set the structure does not allow to corrupt. */
  readonly untolerated: readonly string[];
}

export function defaultUrl(r: Pick<ReplicaDeployment, 'platform' | 'url' | 'workers_dev_subdomain' | 'custom_domain'>, name: string): string | undefined {
  if (r.url !== undefined) return r.url;
  if (r.platform !== 'cloudflare') return undefined;
  if (r.custom_domain) return `https://${r.custom_domain.hostname}`;
  if (r.workers_dev_subdomain) return `https://${name}.${r.workers_dev_subdomain}.workers.dev`;
  return undefined;
}

const list = (ids: readonly string[]) => ids.map((i) => `"${i}"`).join(', ');

type StorageFields = Pick<ReplicaDeployment, 'platform' | 'account' | 'storage' | 'redis_url'>;

/**
 * The storage failure domain of a replica, as a label: `storage` when given; else `redis:<redis_url>` for
 * an existing database; else the replica's own storage, `durable-object:<account>/<name>` (Cloudflare: the
 * one object of its Worker) or `upstash:<account>/<name>` (Lambda: the database terraform/aws.tf creates for
 * it, named after the function). terraform/modules/group computes the same labels.
 */
export function storageDomain(r: StorageFields, name: string): string {
  if (r.storage !== undefined) return r.storage;
  if (r.redis_url !== undefined) return `redis:${r.redis_url}`;
  return `${r.platform === 'cloudflare' ? 'durable-object' : 'upstash'}:${r.account}/${name}`;
}

/** What a replica's storage must guarantee: every acknowledged write survives, and it never goes back. */
export function storageDurability(r: Pick<ReplicaDeployment, 'platform' | 'redis_url'>): string {
  if (r.platform === 'cloudflare') return 'Durable Object SQLite storage, durable when a write completes (nothing to configure)';
  if (r.redis_url !== undefined) {
    return 'its own existing Redis database: appendonly yes + appendfsync always and no eviction (or a provider guarantee that acknowledged writes are on disk), never restored from an older snapshot, no failover to an asynchronous replica';
  }
  return 'its own Upstash database (terraform creates it): every acknowledged write must survive; check what your Upstash plan guarantees (docs/deploy.md, section 14)';
}

/** Every name of a replica's storage: its domain, and the database URL when it has one. */
function storageKeys(r: StorageFields & { readonly storage: string }): string[] {
  return [...new Set([r.storage, ...(r.redis_url !== undefined ? [`redis:${r.redis_url}`] : [])])];
}

/** Checks the deployment against the (already parsed) group. Throws DeployError naming the problem. */
export function resolveDeployment(deployment: Deployment, group: Group): ResolvedDeployment {
  const groupIds = group.replicas.map((r) => r.id);
  const ids = Object.keys(deployment.replicas);
  const unknown = ids.filter((id) => !groupIds.includes(id));
  if (unknown.length > 0) throw new DeployError(`deployment.replicas: unknown replica id${unknown.length > 1 ? 's' : ''} ${list(unknown)} (the group has ${list(groupIds)})`);
  const missing = groupIds.filter((id) => !ids.includes(id));
  if (missing.length > 0) {
    throw new DeployError(`deployment.replicas: no deployment for replica${missing.length > 1 ? 's' : ''} ${list(missing)}: every replica of the group must be placed (the group has ${list(groupIds)})`);
  }

  const replicas: ResolvedReplica[] = group.replicas.map((g) => {
    const d = deployment.replicas[g.id]!;
    const name = d.name ?? `${deployment.name_prefix}-${g.id}`;
    if (!NAME.test(name)) throw new DeployError(`replicas.${g.id}: the default name "${name}" is not a valid Worker/Lambda name; set "name"`);
    // group.json may carry the same facts as attributes (a structure file over provider/account): they must agree.
    for (const key of DOMAINS) {
      const attr = g.attributes[key];
      if (attr !== undefined && attr !== d[key]) {
        throw new DeployError(`replicas.${g.id}.${key} is "${d[key]}" but group.json says replica ${g.index} has ${key} "${attr}": the structure was dealt for another placement`);
      }
    }
    return { ...d, id: g.id, index: g.index, name, url: defaultUrl(d, name), storage: storageDomain(d, name) };
  });

  const seen = new Map<string, string>();
  for (const r of replicas) {
    const other = seen.get(r.name);
    if (other !== undefined) throw new DeployError(`replicas ${other} and ${r.id} have the same name "${r.name}"`);
    seen.set(r.name, r.id);
  }
  const urls = new Map<string, string>();
  for (const r of replicas) {
    if (r.url === undefined) continue;
    const other = urls.get(r.url);
    if (other !== undefined) throw new DeployError(`replicas ${other} and ${r.id} have the same URL ${r.url}`);
    urls.set(r.url, r.id);
  }
  const holders = new Map<string, string[]>();
  for (const r of replicas) for (const key of storageKeys(r)) holders.set(key, [...(holders.get(key) ?? []), r.id]);
  const shared = [...holders].filter(([, ids]) => ids.length > 1);
  if (shared.length > 0) {
    throw new DeployError(
      `${shared.map(([key, ids]) => `replicas ${list(ids)} share one storage failure domain (${key})`).join('; ')}: when shared storage goes back in time ` +
        `(a restore from an older snapshot, an asynchronous failover) every replica on it signs a different history at once, which the protocol cannot ` +
        `detect once they are more than it tolerates. Give each replica its own database (docs/deploy.md, "Storage durability and failure domains")`,
    );
  }

  const qs = group.quorumSystem;
  const st = group.file.structure;
  // Worded as modules/group in terraform/ words it.
  const structure = st.type === 'threshold' ? `any ${st.t} of ${st.n}` : `${st.maximalCorruptible.length} maximal corruptible sets over ${st.n} replicas`;
  const groupBy = (key: Domain): Map<string, ResolvedReplica[]> => {
    const by = new Map<string, ResolvedReplica[]>();
    for (const r of replicas) by.set(r[key], [...(by.get(r[key]) ?? []), r]);
    return by;
  };
  const domains: Partial<Record<Domain, DomainReport>> = {};
  for (const key of deployment.tolerate) {
    const report: Record<string, string[]> = {};
    for (const [value, members] of groupBy(key)) {
      const memberIds = members.map((m) => m.id);
      if (!qs.isCorruptible(members.map((m) => m.index))) {
        throw new DeployError(
          `the deployment claims to tolerate any one ${key}, but ${key} "${value}" holds ${list(memberIds)}, which the adversary structure (${structure}) ` +
            `does not allow to be corrupted together: whoever controls that ${key} controls the group. Spread the replicas out, deal a structure ` +
            `that matches (sintra deal --structure), or drop "${key}" from "tolerate" if you accept that risk`,
        );
      }
      report[value] = memberIds;
    }
    domains[key] = report;
  }
  const untolerated: string[] = [];
  for (const key of DOMAINS) {
    if (deployment.tolerate.includes(key)) continue;
    for (const [value, members] of groupBy(key)) {
      if (!qs.isCorruptible(members.map((m) => m.index))) untolerated.push(`${key} "${value}" holds ${list(members.map((m) => m.id))}, more than the structure tolerates`);
    }
  }
  return { deployment, group, replicas, domains, untolerated };
}

/** SINTRA_PEERS of replica `self`: base URLs by replica index, null for itself and for URLs not known yet. */
export function peerList(replicas: readonly ResolvedReplica[], self: number): (string | null)[] {
  return replicas.map((r) => (r.index === self ? null : (r.url ?? null)));
}
