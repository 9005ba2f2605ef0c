/**
 * One wrangler config per Cloudflare replica, from group.json and the deployment file (deployment.ts):
 * worker name, entry, compatibility date, the REPLICA Durable Object binding with its SQLite migration, the
 * vars SINTRA_GROUP and SINTRA_PEERS, the secrets the replica needs, and the Durable Object's location hint
 * and jurisdiction. Plus deploy.sh: per replica, `wrangler secret bulk` of the dealer's secrets file, then
 * `wrangler deploy`.
 *
 * Workers limit every variable (and secret) to 5 KB. group.json of a threshold group is 3.3 KB for n = 4 but
 * 5.2 KB for n = 7, and tens of KB for general structures, so a group that does not fit is bundled into the
 * Worker as a module instead (replica-entry.js + a generated group.js): same bytes, no variable.
 */
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, SECRET_NAMES, parseGroup, parseReplicaSecrets } from '../../shared/config/group.ts';
import type { Group } from '../../shared/config/group.ts';
import { COMPATIBILITY_DATE, COMPATIBILITY_FLAGS } from '../cluster/local-cluster.ts';
import { DeployError, parseDeployment, peerList, resolveDeployment, storageDurability } from './deployment.ts';
import type { Deployment, ResolvedDeployment, ResolvedReplica } from './deployment.ts';

export { COMPATIBILITY_DATE };

/**
 * Workers: "Environment variable size 5 KB" (developers.cloudflare.com/workers/platform/limits), for vars
 * and secrets alike. Whether KB means 1000 or 1024 bytes is not stated: take the smaller.
 */
export const WORKERS_VAR_LIMIT = 5000;

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const WORKER_MAIN = path.join(REPO_ROOT, 'workers/cloudflare/worker.ts');
export const WORKER_ENTRY = path.join(REPO_ROOT, 'infra/deploy/replica-entry.js');
const WRANGLER_BIN = path.join(REPO_ROOT, 'node_modules/wrangler/bin/wrangler.js');
const WRANGLER_SCHEMA = path.join(REPO_ROOT, 'node_modules/wrangler/config-schema.json');

/** The module name replica-entry.js imports the group from; an alias in each config points it at group.js. */
export const GROUP_MODULE_ALIAS = 'sintra-deploy-group';
export const GROUP_MODULE_FILE = 'group.js';

export type GroupMode = 'var' | 'module';

export interface WranglerConfig {
  readonly $schema?: string;
  readonly name: string;
  readonly main: string;
  readonly compatibility_date: string;
  readonly compatibility_flags: readonly string[];
  readonly account_id?: string;
  readonly workers_dev: boolean;
  readonly preview_urls: false;
  readonly routes?: readonly { readonly pattern: string; readonly custom_domain: true }[];
  readonly limits: { readonly cpu_ms: number };
  /** Workers Logs: the replica's log lines, searchable in the dashboard and by `wrangler tail`. */
  readonly observability: { readonly enabled: true };
  readonly durable_objects: { readonly bindings: readonly { readonly name: 'REPLICA'; readonly class_name: 'ReplicaObject' }[] };
  readonly migrations: readonly { readonly tag: 'v1'; readonly new_sqlite_classes: readonly ['ReplicaObject'] }[];
  readonly alias?: Readonly<Record<string, string>>;
  /** Makes `wrangler deploy` of a new Worker refuse to run before `wrangler secret bulk` (fail closed). */
  readonly secrets: { readonly required: readonly string[] };
  readonly vars: Readonly<Record<string, string>>;
}

export interface GeneratedFile {
  /** Relative to the output directory. */
  readonly name: string;
  readonly content: string;
  readonly mode: number;
}

export interface PlanReplica {
  readonly id: string;
  readonly index: number;
  readonly platform: string;
  readonly provider: string;
  readonly account: string;
  readonly name: string;
  readonly url: string | null;
  /** Cloudflare: the wrangler config in the output directory. */
  readonly config?: string;
  readonly locationHint?: string;
  readonly jurisdiction?: string;
  /** The replica's storage failure domain: no other replica has it. */
  readonly storage: string;
  /** What that storage must guarantee (deployment.ts storageDurability). */
  readonly durability: string;
}

export interface Plan {
  readonly groupId: string;
  readonly n: number;
  readonly groupMode: GroupMode;
  readonly groupBytes: number;
  readonly varLimit: number;
  readonly compatibilityDate: string;
  readonly tolerate: ResolvedDeployment['domains'];
  readonly replicas: readonly PlanReplica[];
  /** Replicas whose URL is not known yet: their peers get null until the configs are generated again. */
  readonly missingUrls: readonly string[];
  readonly warnings: readonly string[];
}

export interface GenerateOptions {
  /** Where the files will be written (paths in the configs are relative to it). */
  readonly outDir: string;
  /** The group.json text as the dealer wrote it. */
  readonly groupText: string;
  readonly deployment: Deployment;
  /** 'auto' (default): a variable when the group fits one, a bundled module when it does not. */
  readonly groupAs?: 'auto' | GroupMode;
  /** Directory of the dealer's <id>.secrets.json files, as deploy.sh should name it. */
  readonly keysDir: string;
}

export interface Generated {
  readonly resolved: ResolvedDeployment;
  readonly plan: Plan;
  readonly files: readonly GeneratedFile[];
}

const posix = (p: string) => p.split(path.sep).join('/');
const rel = (from: string, to: string) => {
  const r = posix(path.relative(from, to));
  return r.startsWith('.') ? r : `./${r}`;
};

/** group.json minified with its key order kept: the exact JSON the replica parses, smaller. */
export function minifyGroup(text: string): string {
  return JSON.stringify(JSON.parse(text));
}

export function chooseGroupMode(groupBytes: number, groupAs: 'auto' | GroupMode): GroupMode {
  if (groupAs === 'module') return 'module';
  if (groupBytes <= WORKERS_VAR_LIMIT) return 'var';
  if (groupAs === 'var') {
    throw new DeployError(
      `group.json is ${groupBytes} bytes minified, more than the ${WORKERS_VAR_LIMIT}-byte limit of one Workers variable (SINTRA_GROUP); ` +
        `use --group-as module (or auto) to bundle it into the Worker instead`,
    );
  }
  return 'module';
}

function workerConfig(r: ResolvedReplica, d: ResolvedDeployment, mode: GroupMode, outDir: string, groupMin: string): WranglerConfig {
  const wrapped = mode === 'module' || r.location_hint !== undefined || r.jurisdiction !== undefined;
  const vars: Record<string, string> = {};
  if (mode === 'var') vars['SINTRA_GROUP'] = groupMin;
  vars['SINTRA_PEERS'] = JSON.stringify(peerList(d.replicas, r.index));
  if (r.location_hint) vars['SINTRA_DO_LOCATION_HINT'] = r.location_hint;
  if (r.jurisdiction) vars['SINTRA_DO_JURISDICTION'] = r.jurisdiction;
  if (d.deployment.client_rate !== undefined) vars['SINTRA_CLIENT_RATE'] = String(d.deployment.client_rate);
  if (d.deployment.cors_origins !== undefined) vars['SINTRA_CORS_ORIGINS'] = d.deployment.cors_origins;
  for (const [k, v] of Object.entries(vars)) {
    if (Buffer.byteLength(v) > WORKERS_VAR_LIMIT) throw new DeployError(`replica ${r.id}: variable ${k} is ${Buffer.byteLength(v)} bytes, over the ${WORKERS_VAR_LIMIT}-byte Workers limit`);
  }
  return {
    $schema: rel(outDir, WRANGLER_SCHEMA),
    name: r.name,
    main: rel(outDir, wrapped ? WORKER_ENTRY : WORKER_MAIN),
    compatibility_date: COMPATIBILITY_DATE,
    compatibility_flags: COMPATIBILITY_FLAGS,
    ...(r.account_id !== undefined && { account_id: r.account_id }),
    // A custom domain replaces workers.dev: one public address per replica, the one its peers use.
    workers_dev: r.custom_domain === undefined,
    preview_urls: false,
    ...(r.custom_domain && { routes: [{ pattern: r.custom_domain.hostname, custom_domain: true as const }] }),
    // BLS verification costs ~10-20 ms of CPU; the Free plan's 10 ms is too little (docs/operations.md).
    limits: { cpu_ms: 30_000 },
    observability: { enabled: true },
    durable_objects: { bindings: [{ name: 'REPLICA', class_name: 'ReplicaObject' }] },
    // Never change or add a migration that deletes or renames ReplicaObject: it holds the replica's state.
    migrations: [{ tag: 'v1', new_sqlite_classes: ['ReplicaObject'] }],
    ...(wrapped && { alias: { [GROUP_MODULE_ALIAS]: `./${GROUP_MODULE_FILE}` } }),
    secrets: { required: [...SECRET_NAMES] },
    vars,
  };
}

/** Single-quoted for sh. */
const sq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

function deployScript(d: ResolvedDeployment, configs: ReadonlyMap<string, string>, outDir: string, keysDir: string): string {
  const wrangler = `node ${sq(rel(outDir, WRANGLER_BIN))}`;
  const lines = [
    '#!/bin/sh',
    `# Generated by \`sintra deploy-config\` for group ${d.group.file.groupId.slice(0, 16)}... Do not edit: generate again.`,
    '# Deploys ONE replica: run it once per replica, each time with that replica\'s own Cloudflare credentials',
    '# (CLOUDFLARE_API_TOKEN or `wrangler login`), on the machine that holds that replica\'s secrets file:',
    '#   sh deploy.sh r1',
    '# Secrets go first: the configs list them as required, so `wrangler deploy` refuses a Worker without them.',
    'set -eu',
    'cd "$(dirname "$0")"',
    'case "${1:-}" in',
  ];
  for (const r of d.replicas) {
    if (r.platform === 'cloudflare') {
      const config = configs.get(r.id)!;
      lines.push(
        `  ${r.id})`,
        `    # index ${r.index}, provider ${r.provider}, account ${r.account}${r.account_id ? ` (${r.account_id})` : ''}, ${r.url ?? 'URL not known yet'}`,
        `    ${wrangler} secret bulk ${sq(rel(outDir, path.join(keysDir, `${r.id}.secrets.json`)))} --config ${sq(config)}`,
        `    ${wrangler} deploy --config ${sq(config)}`,
        '    ;;',
      );
    } else {
      lines.push(`  ${r.id})`, `    echo ${sq(`${r.id} is an AWS Lambda replica: deploy it with terraform/ (docs/deploy.md)`)} >&2`, '    exit 1', '    ;;');
    }
  }
  lines.push(`  *)`, `    echo ${sq(`usage: sh deploy.sh REPLICA (one of: ${d.replicas.map((r) => r.id).join(' ')})`)} >&2`, '    exit 2', '    ;;', 'esac', '');
  return lines.join('\n');
}

/** Everything `sintra deploy-config` writes, computed without touching the disk. */
export function generateWranglerConfigs(o: GenerateOptions): Generated {
  let rawGroup: unknown;
  try {
    rawGroup = JSON.parse(o.groupText);
  } catch (e) {
    throw new DeployError(`group.json is not JSON: ${(e as Error).message}`);
  }
  const group: Group = parseGroup(rawGroup);
  const resolved = resolveDeployment(o.deployment, group);
  const groupMin = minifyGroup(o.groupText);
  const groupBytes = Buffer.byteLength(groupMin);
  const mode = chooseGroupMode(groupBytes, o.groupAs ?? 'auto');
  const warnings: string[] = [];
  if (group.testOnly) warnings.push('group.json is marked testOnly (dealt with --seed): never deploy these keys');
  warnings.push(...resolved.untolerated.map((u) => `not claimed in "tolerate": ${u}`));
  const missingUrls = resolved.replicas.filter((r) => r.url === undefined).map((r) => r.id);
  if (missingUrls.length > 0) {
    warnings.push(`no URL yet for ${missingUrls.join(', ')}: their peers get null in SINTRA_PEERS (messages to them wait); set "url" and generate again`);
  }

  const files: GeneratedFile[] = [];
  const configs = new Map<string, string>();
  const planReplicas: PlanReplica[] = [];
  let wrapped = false;
  for (const r of resolved.replicas) {
    let config: string | undefined;
    if (r.platform === 'cloudflare') {
      const c = workerConfig(r, resolved, mode, o.outDir, groupMin);
      wrapped ||= c.alias !== undefined;
      config = `${r.name}.wrangler.json`;
      configs.set(r.id, config);
      files.push({ name: config, content: `${JSON.stringify(c, null, 2)}\n`, mode: 0o644 });
    }
    planReplicas.push({
      id: r.id,
      index: r.index,
      platform: r.platform,
      provider: r.provider,
      account: r.account,
      name: r.name,
      url: r.url ?? null,
      ...(config !== undefined && { config }),
      ...(r.location_hint !== undefined && { locationHint: r.location_hint }),
      ...(r.jurisdiction !== undefined && { jurisdiction: r.jurisdiction }),
      storage: r.storage,
      durability: storageDurability(r),
    });
  }
  if (wrapped) {
    const value = mode === 'module' ? JSON.stringify(groupMin) : 'null';
    files.push({
      name: GROUP_MODULE_FILE,
      content: `// Generated by \`sintra deploy-config\`: the public group.json ${mode === 'module' ? 'bundled into the replica Worker' : 'is passed in SINTRA_GROUP instead'}.\nexport default ${value};\n`,
      mode: 0o644,
    });
  }
  files.push({ name: 'deploy.sh', content: deployScript(resolved, configs, o.outDir, o.keysDir), mode: 0o755 });
  const plan: Plan = {
    groupId: group.file.groupId,
    n: group.replicas.length,
    groupMode: mode,
    groupBytes,
    varLimit: WORKERS_VAR_LIMIT,
    compatibilityDate: COMPATIBILITY_DATE,
    tolerate: resolved.domains,
    replicas: planReplicas,
    missingUrls,
    warnings,
  };
  files.push({ name: 'plan.json', content: `${JSON.stringify(plan, null, 2)}\n`, mode: 0o644 });
  return { resolved, plan, files };
}

export interface SecretsCheck {
  readonly checked: readonly string[];
  readonly absent: readonly string[];
}

/**
 * The dealer's secrets files that are present for Cloudflare replicas must belong to this group and
 * replica, and each value must fit a Workers secret. Absent ones are reported: each operator holds only
 * their own. Values are never printed.
 */
export async function checkSecretsFiles(resolved: ResolvedDeployment, keysDir: string): Promise<SecretsCheck> {
  const checked: string[] = [];
  const absent: string[] = [];
  for (const r of resolved.replicas) {
    const file = path.join(keysDir, `${r.id}.secrets.json`);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
        absent.push(r.id);
        continue;
      }
      throw new DeployError(`cannot read ${file}: ${(e as Error).message}`);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new DeployError(`${file} is not JSON`);
    }
    try {
      parseReplicaSecrets(json, resolved.group);
    } catch (e) {
      if (e instanceof ConfigError) throw new DeployError(`${file}: ${e.message}`);
      throw e;
    }
    if ((json as Record<string, string>)['SINTRA_REPLICA_ID'] !== r.id) throw new DeployError(`${file} holds the secrets of another replica`);
    if (r.platform === 'cloudflare') {
      for (const name of SECRET_NAMES) {
        const bytes = Buffer.byteLength((json as Record<string, string>)[name]!);
        if (bytes > WORKERS_VAR_LIMIT) {
          throw new DeployError(`${file}: secret ${name} is ${bytes} bytes, over the ${WORKERS_VAR_LIMIT}-byte limit of a Workers secret; this structure's key shares cannot be deployed to Cloudflare as secrets`);
        }
      }
    }
    checked.push(r.id);
  }
  return { checked, absent };
}

export async function readDeploymentFile(file: string): Promise<Deployment> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new DeployError(`cannot read deployment file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new DeployError(`${file}: invalid JSON: ${(e as Error).message}`);
  }
  return parseDeployment(raw);
}

/** Writes the generated files (overwriting earlier output: it is derived, and regenerated when URLs become known). */
export async function writeGenerated(outDir: string, files: readonly GeneratedFile[]): Promise<string[]> {
  await mkdir(outDir, { recursive: true });
  const st = await stat(outDir);
  if (!st.isDirectory()) throw new DeployError(`${outDir} is not a directory`);
  const written: string[] = [];
  for (const f of files) {
    const p = path.join(outDir, f.name);
    await writeFile(p, f.content, { mode: f.mode });
    written.push(p);
  }
  return written;
}
