/**
 * terraform/ offline: `terraform fmt -check`, `terraform test` of the provider-free modules/group, the same
 * module applied to a real dealt group next to the TypeScript generator (both must place and refuse the same
 * deployments), and a structural check of the provider resources parsed with @cdktf/hcl2json (they cannot be
 * validated here: no provider can be downloaded, docs/design.md section 14).
 *
 * Nothing is written into the repository (TF_DATA_DIR and every state live in a temporary directory) and
 * nothing reaches the network (no providers, CHECKPOINT_DISABLE, a CLI config without registries).
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deal } from '../../shared/config/deal.ts';
import type { DealOutput } from '../../shared/config/deal.ts';
import { SECRET_NAMES, parseGroup } from '../../shared/config/group.ts';
import { seededRandom } from '../../shared/crypto/random.ts';
import { thresholdStructure } from '../../shared/quorum/structure-file.ts';
import { COMPATIBILITY_DATE } from '../../infra/cluster/local-cluster.ts';
import { DeployError, parseDeployment, peerList, resolveDeployment } from '../../infra/deploy/deployment.ts';
import { LAMBDA_HANDLER, TICK_EVENT } from '../../infra/deploy/lambda-bundle.ts';
import { REPO_ROOT } from '../../infra/deploy/wrangler-config.ts';

const TF_DIR = path.join(REPO_ROOT, 'terraform');
const GROUP_MODULE = path.join(TF_DIR, 'modules', 'group');

function terraformVersion(): string | null {
  try {
    return execFileSync('terraform', ['version'], { encoding: 'utf8', env: { ...process.env, CHECKPOINT_DISABLE: '1' }, stdio: ['ignore', 'pipe', 'ignore'] }).split('\n')[0] ?? '';
  } catch {
    return null;
  }
}
const TERRAFORM = terraformVersion();
if (TERRAFORM === null) console.warn('terraform/ checks skipped: no `terraform` binary on PATH (install Terraform >= 1.9 to run them)');

let tmp: string;
let env: NodeJS.ProcessEnv;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function terraform(args: readonly string[], cwd: string, dataDir: string): Promise<Run> {
  return new Promise((resolve) => {
    execFile('terraform', [...args], { cwd, timeout: 120_000, maxBuffer: 16 * 1024 * 1024, env: { ...env, TF_DATA_DIR: dataDir } }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
    );
  });
}

beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'sintra-terraform-'));
  // No registry is reachable: an empty filesystem mirror makes any provider download fail fast and offline.
  await mkdir(path.join(tmp, 'mirror'));
  await writeFile(path.join(tmp, 'terraformrc'), `disable_checkpoint = true\nprovider_installation {\n  filesystem_mirror {\n    path = "${path.join(tmp, 'mirror')}"\n  }\n}\n`);
  env = { ...process.env, CHECKPOINT_DISABLE: '1', TF_CLI_CONFIG_FILE: path.join(tmp, 'terraformrc'), TF_IN_AUTOMATION: '1', TF_INPUT: '0', NO_COLOR: '1' };
});

afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe.skipIf(TERRAFORM === null)(`terraform/ with ${TERRAFORM ?? 'no terraform'}`, () => {
  it('terraform fmt -check -recursive terraform/', async () => {
    const r = await terraform(['fmt', '-check', '-recursive', '-no-color', TF_DIR], REPO_ROOT, path.join(tmp, 'fmt'));
    expect(r.code, `files not formatted (run terraform fmt -recursive terraform/):\n${r.stdout}${r.stderr}`).toBe(0);
  });

  it('terraform test of modules/group passes offline', async () => {
    const data = path.join(tmp, 'group-test');
    const init = await terraform(['init', '-backend=false', '-input=false', '-no-color'], GROUP_MODULE, data);
    expect(init.code, init.stdout + init.stderr).toBe(0);
    const test = await terraform(['test', '-no-color'], GROUP_MODULE, data);
    expect(test.code, test.stdout + test.stderr).toBe(0);
    expect(test.stdout).toMatch(/Success! \d+ passed, 0 failed\./);
    const files = (await readdir(path.join(GROUP_MODULE, 'tests'))).filter((f) => f.endsWith('.tftest.hcl'));
    for (const f of files) expect(test.stdout).toContain(`tests/${f}... pass`);
  }, 120_000);

  describe('modules/group and sintra deploy-config agree on a real group', () => {
    let dealt: DealOutput;
    let root: string;
    const data = () => path.join(tmp, 'cross-data');

    const deployment = {
      tolerate: ['account'],
      replicas: {
        r1: { platform: 'cloudflare', provider: 'cloudflare', account: 'cf-alice', workers_dev_subdomain: 'alice', location_hint: 'weur' },
        r2: { platform: 'cloudflare', provider: 'cloudflare', account: 'cf-bob', custom_domain: { zone_id: 'a'.repeat(32), hostname: 'r2.sintra.example' } },
        r3: { platform: 'lambda', provider: 'aws', account: 'aws-carol', region: 'eu-central-1' },
        r4: { platform: 'lambda', provider: 'aws', account: 'aws-dave', region: 'us-east-1', url: 'https://abc.lambda-url.us-east-1.on.aws' },
      },
    };

    beforeAll(async () => {
      dealt = deal(thresholdStructure(4, 1), seededRandom(new Uint8Array([44])), { testOnly: true });
      root = path.join(tmp, 'cross');
      await mkdir(root);
      await writeFile(path.join(root, 'group.json'), `${JSON.stringify(dealt.group, null, 2)}\n`);
      // A root that only calls the module, as terraform/main.tf does, with the deployment as a variable.
      await writeFile(
        path.join(root, 'main.tf'),
        [
          'variable "deployment" { type = any }',
          'variable "deploy" {',
          '  type    = list(string)',
          '  default = ["r1"]',
          '}',
          'module "group" {',
          `  source     = ${JSON.stringify(GROUP_MODULE)}`,
          '  group_json = file("${path.module}/group.json")',
          '  replicas   = var.deployment.replicas',
          '  tolerate   = var.deployment.tolerate',
          '  deploy     = var.deploy',
          '}',
          'output "names" { value = module.group.names }',
          'output "peers_static" { value = module.group.peers_static }',
          'output "tolerated" { value = module.group.tolerated }',
          'output "storage" { value = module.group.storage }',
          '',
        ].join('\n'),
      );
      const init = await terraform(['init', '-backend=false', '-input=false', '-no-color'], root, data());
      expect(init.code, init.stdout + init.stderr).toBe(0);
    }, 120_000);

    const varFile = async (name: string, d: unknown) => {
      const f = path.join(root, `${name}.tfvars.json`);
      await writeFile(f, JSON.stringify({ deployment: d }));
      return f;
    };

    it('the same names and SINTRA_PEERS', async () => {
      const apply = await terraform(['apply', '-auto-approve', '-input=false', '-no-color', `-var-file=${await varFile('good', deployment)}`, `-state=${path.join(root, 'good.tfstate')}`], root, data());
      expect(apply.code, apply.stdout + apply.stderr).toBe(0);
      const out = await terraform(['output', '-json', `-state=${path.join(root, 'good.tfstate')}`], root, data());
      const outputs = JSON.parse(out.stdout) as Record<string, { value: unknown }>;

      const resolved = resolveDeployment(parseDeployment(deployment), parseGroup(dealt.group));
      expect(outputs['names']!.value).toEqual(Object.fromEntries(resolved.replicas.map((r) => [r.id, r.name])));
      const peers = outputs['peers_static']!.value as Record<string, string>;
      for (const r of resolved.replicas) expect(JSON.parse(peers[r.id]!), r.id).toEqual(peerList(resolved.replicas, r.index));
      expect(outputs['storage']!.value).toEqual(Object.fromEntries(resolved.replicas.map((r) => [r.id, r.storage])));
      expect(outputs['tolerated']!.value).toEqual({
        account: { 'cf-alice': true, 'cf-bob': true, 'aws-carol': true, 'aws-dave': true },
        provider: { cloudflare: false, aws: false },
      });
    }, 120_000);

    it('both refuse "any one provider" for this layout, and an unknown replica id', async () => {
      const claim = { ...deployment, tolerate: ['account', 'provider'] };
      expect(() => resolveDeployment(parseDeployment(claim), parseGroup(dealt.group))).toThrow(DeployError);
      const plan = await terraform(['plan', '-input=false', '-no-color', `-var-file=${await varFile('provider', claim)}`], root, data());
      expect(plan.code).not.toBe(0);
      const text = plan.stderr.replace(/\s+/g, ' ');
      expect(text).toContain('claims to tolerate any one account and any one provider, but provider "aws" holds r3, r4; provider "cloudflare" holds r1, r2');
      expect(text).toContain('(any 1 of 4)');

      const extra = { ...deployment, replicas: { ...deployment.replicas, r5: deployment.replicas.r3 } };
      expect(() => resolveDeployment(parseDeployment(extra), parseGroup(dealt.group))).toThrow(/unknown replica id "r5"/);
      const plan2 = await terraform(['plan', '-input=false', '-no-color', `-var-file=${await varFile('extra', extra)}`], root, data());
      expect(plan2.code).not.toBe(0);
      expect(plan2.stderr.replace(/\s+/g, ' ')).toContain('Unknown replica id(s) r5: group.json has r1, r2, r3, r4.');
    }, 120_000);

    it('both refuse two replicas on one storage failure domain (one existing database), naming them', async () => {
      const db = 'https://eu1-shared-1.upstash.io';
      const shared = { ...deployment, replicas: { ...deployment.replicas, r3: { ...deployment.replicas.r3, redis_url: db }, r4: { ...deployment.replicas.r4, redis_url: db } } };
      expect(() => resolveDeployment(parseDeployment(shared), parseGroup(dealt.group))).toThrow(`replicas "r3", "r4" share one storage failure domain (redis:${db})`);
      const plan = await terraform(['plan', '-input=false', '-no-color', `-var-file=${await varFile('shared', shared)}`], root, data());
      expect(plan.code).not.toBe(0);
      const text = plan.stderr.replace(/\s+/g, ' ');
      expect(text).toContain(`replicas r3, r4 share one storage failure domain (redis:${db}): when shared storage goes back in time`);
      // Each with a database of its own: accepted, with the same labels as the TypeScript.
      const own = { ...deployment, replicas: { ...deployment.replicas, r4: { ...deployment.replicas.r4, redis_url: 'https://eu1-dave-1.upstash.io' } } };
      const ok = await terraform(['plan', '-input=false', '-no-color', `-var-file=${await varFile('own', own)}`], root, data());
      expect(ok.code, ok.stdout + ok.stderr).toBe(0);
      expect(ok.stdout).toContain('r4 = "redis:https://eu1-dave-1.upstash.io"');
    }, 120_000);
  });
});

// ---------------------------------------------------------------------------------------------------------
// Structure of the provider resources (no terraform binary needed)

type Hcl = Record<string, any>;
// Loaded untyped: its declarations pull the DOM lib into the whole program.
const hcl2json = createRequire(import.meta.url)('@cdktf/hcl2json') as { parse(file: string, content: string): Promise<Hcl> };

async function parseModule(dir: string): Promise<Hcl> {
  const merged: Hcl = {};
  for (const f of (await readdir(dir)).filter((x) => x.endsWith('.tf')).sort()) {
    const doc = await hcl2json.parse(f, await readFile(path.join(dir, f), 'utf8'));
    for (const [block, body] of Object.entries(doc)) {
      if (block === 'resource' || block === 'data') {
        merged[block] ??= {};
        for (const [type, byName] of Object.entries(body as Hcl)) merged[block][type] = { ...merged[block][type], ...(byName as Hcl) };
      } else if (Array.isArray(body)) {
        merged[block] = [...(merged[block] ?? []), ...body];
      } else {
        merged[block] = { ...merged[block], ...(body as Hcl) };
      }
    }
  }
  return merged;
}

/** hcl2json gives each named block as a one-element list. */
const one = (x: unknown): Hcl => (Array.isArray(x) ? (x[0] as Hcl) : (x as Hcl));
const locals = (m: Hcl): Hcl => Object.assign({}, ...(m['locals'] as Hcl[]));
const resource = (m: Hcl, type: string, name: string): Hcl => {
  const r = m['resource']?.[type]?.[name];
  expect(r, `resource ${type}.${name}`).toBeDefined();
  return one(r);
};

/** Every string in a parsed document, with its JSON path. */
function strings(x: unknown, at = ''): [string, string][] {
  if (typeof x === 'string') return [[at, x]];
  if (Array.isArray(x)) return x.flatMap((v, i) => strings(v, `${at}[${i}]`));
  if (x && typeof x === 'object') return Object.entries(x).flatMap(([k, v]) => strings(v, at ? `${at}.${k}` : k));
  return [];
}

describe('terraform/ structure (parsed with @cdktf/hcl2json)', () => {
  let rootModule: Hcl;
  let groupModule: Hcl;

  beforeAll(async () => {
    rootModule = await parseModule(TF_DIR);
    groupModule = await parseModule(GROUP_MODULE);
  });

  it('every Cloudflare replica script: the REPLICA Durable Object binding, the SQLite migration and all five secrets', () => {
    const script = resource(rootModule, 'cloudflare_workers_script', 'replica');
    expect(script['for_each']).toBe('${local.cloudflare}');
    expect(script['migrations']).toEqual({ new_tag: 'v1', new_sqlite_classes: ['ReplicaObject'] });
    expect(script['bindings']).toBe('${local.worker_bindings[each.key]}');
    expect(script['compatibility_date']).toBe('${var.compatibility_date}');
    expect(script['compatibility_flags']).toEqual(['nodejs_compat']);
    expect(script['content_file']).toBe('${var.worker_bundle}');
    expect(script['keep_bindings']).toMatch(/var\.manage_cloudflare_secrets \? null : \["secret_text"\]/);
    // The bindings: the DO binding, SINTRA_PEERS, and one secret_text per secret name.
    const bindings = JSON.stringify(locals(rootModule)['worker_bindings']);
    expect(bindings).toContain('type = \\"durable_object_namespace\\", name = \\"REPLICA\\", class_name = \\"ReplicaObject\\"');
    expect(bindings).toContain('name = \\"SINTRA_PEERS\\", text = module.group.peers[id]');
    // The deployment file's CORS origins (top-level cors_origins), as deploy-config's SINTRA_CORS_ORIGINS var.
    expect(JSON.stringify(locals(rootModule)['cors_origins'])).toContain('local.deployment.cors_origins');
    expect(bindings).toContain('name = \\"SINTRA_CORS_ORIGINS\\", text = local.cors_origins');
    expect(bindings).toMatch(/for name in module\.group\.secret_names : merge\(local\.binding, \{ type = \\"secret_text\\", name = name, text = local\.secrets\[id\]\[name\] \}\)/);
    expect(locals(groupModule)['secret_names']).toEqual([...SECRET_NAMES]);
    // The default compatibility date is the one the tests run workerd with.
    expect(one(rootModule['variable']['compatibility_date'])['default']).toBe(COMPATIBILITY_DATE);
    // A workers.dev subdomain or a custom domain for every script.
    expect(resource(rootModule, 'cloudflare_workers_script_subdomain', 'replica')['enabled']).toBe(true);
    expect(resource(rootModule, 'cloudflare_workers_custom_domain', 'replica')['service']).toBe('${cloudflare_workers_script.replica[each.key].script_name}');
  });

  it('every Lambda replica: one function (dispatch, reserved concurrency 1) with a function URL, public permissions, a tick schedule and its own Redis', () => {
    const fn = resource(rootModule, 'aws_lambda_function', 'replica');
    expect(fn['for_each']).toBe('${local.lambda}');
    expect(fn['handler']).toBe(LAMBDA_HANDLER);
    expect(fn['reserved_concurrent_executions']).toBe(1);
    for (const [type, name] of [
      ['aws_lambda_function_url', 'replica'],
      ['aws_lambda_permission', 'url'],
      ['aws_lambda_permission', 'url_invoke'],
      ['aws_cloudwatch_event_rule', 'tick'],
      ['aws_cloudwatch_event_target', 'tick'],
      ['aws_lambda_permission', 'tick'],
      ['aws_iam_role', 'replica'],
    ] as const) {
      expect(resource(rootModule, type, name)['for_each'], `${type}.${name} must exist for every Lambda replica`).toBe('${local.lambda}');
    }
    expect(resource(rootModule, 'aws_lambda_function_url', 'replica')['authorization_type']).toBe('NONE');
    expect(resource(rootModule, 'aws_lambda_permission', 'url_invoke')['invoked_via_function_url']).toBe(true);
    expect(resource(rootModule, 'aws_cloudwatch_event_target', 'tick')['input']).toBe(`\${jsonencode({ sintra = "${TICK_EVENT.sintra}" })}`);
    expect(resource(rootModule, 'upstash_redis_database', 'replica')['eviction']).toBe(false);
    // One database per Lambda replica, except replicas that name an existing database of their own (redis_url;
    // modules/group refuses two replicas on one).
    expect(resource(rootModule, 'upstash_redis_database', 'replica')['for_each']).toBe('${local.lambda_own_redis}');
    expect(JSON.stringify(locals(rootModule)['lambda_own_redis'])).toContain('for id, r in local.lambda : id => r if r.redis_url == null');
    // Their tokens come from a sensitive variable, required by a precondition; the root states each replica's storage.
    expect(one(rootModule['variable']['redis_tokens'])['sensitive']).toBe(true);
    expect(JSON.stringify(resource(rootModule, 'terraform_data', 'inputs'))).toContain('r.redis_url == null || contains(nonsensitive(keys(var.redis_tokens)), id)');
    expect(JSON.stringify(one(rootModule['output']['storage']))).toContain('durability = module.group.durability[id]');
    // The environment: secrets from the dealer's file, peers without a cycle, Redis; never the group (4 KB limit).
    const envExpr = JSON.stringify(locals(rootModule)['lambda_env']);
    expect(envExpr).toContain('local.secrets[id]');
    expect(envExpr).toContain('SINTRA_PEERS             = module.group.peers_static[id]');
    expect(envExpr).toContain('UPSTASH_REDIS_REST_URL   = r.redis_url != null ? r.redis_url : \\"https://${upstash_redis_database.replica[id].endpoint}\\"');
    expect(envExpr).toContain('UPSTASH_REDIS_REST_TOKEN = r.redis_url != null ? lookup(var.redis_tokens, id, \\"\\") : upstash_redis_database.replica[id].rest_token');
    expect(envExpr).toContain('SINTRA_CORS_ORIGINS = local.cors_origins');
    expect(envExpr).not.toMatch(/SINTRA_GROUP\b[^_]/);
  });

  it('no secret value is a literal: secrets come from the dealer files at plan time, and no hex key material is in any .tf', () => {
    const all = [...strings(rootModule), ...strings(groupModule)];
    for (const [at, s] of all) {
      // Link secrets, group ids and key shares are 64 hex digits; BLS points are longer.
      expect(s, at).not.toMatch(/\b[0-9a-f]{64,}\b/);
      expect(s, at).not.toMatch(/"(kernel|quorum|encryption)"\s*:\s*\[/);
    }
    expect(JSON.stringify(locals(rootModule)['secrets'])).toMatch(/sensitive\(jsondecode\(file\(\\"\$\{var\.secrets_dir\}\/\$\{id\}\.secrets\.json\\"\)\)\)/);
    // Secret-bearing variables have no defaults holding values.
    expect(one(rootModule['variable']['secrets_dir'])['default']).toBeNull();
  });

  it('the example deployment file is valid for a dealt 4-replica group', async () => {
    const example = JSON.parse(await readFile(path.join(TF_DIR, 'examples', 'four-replicas.json'), 'utf8')) as unknown;
    const dealt = deal(thresholdStructure(4, 1), seededRandom(new Uint8Array([45])), { testOnly: true });
    const resolved = resolveDeployment(parseDeployment(example), parseGroup(dealt.group));
    expect(resolved.domains.account).toEqual({ 'cf-alice': ['r1'], 'cf-bob': ['r2'], 'aws-carol': ['r3'], 'aws-dave': ['r4'] });
  });
});
