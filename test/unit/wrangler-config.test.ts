/**
 * `sintra deploy-config` (infra/deploy): the deployment file's validation, the wrangler config of each
 * Cloudflare replica, the group-size limit of a Workers variable, the dealer's secrets files, deploy.sh, and
 * the Lambda package that carries group.json. The offline `wrangler deploy --dry-run` of generated configs
 * is in wrangler-config-dry-run.test.ts.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deal } from '../../shared/config/deal.ts';
import type { DealOutput } from '../../shared/config/deal.ts';
import { SECRET_NAMES, parseGroup } from '../../shared/config/group.ts';
import { seededRandom } from '../../shared/crypto/random.ts';
import { parseStructureFile, thresholdStructure } from '../../shared/quorum/structure-file.ts';
import type { ParsedStructure } from '../../shared/quorum/structure-file.ts';
import { main } from '../../infra/cli/main.ts';
import { COMPATIBILITY_DATE } from '../../infra/cluster/local-cluster.ts';
import { DeployError, parseDeployment, peerList, resolveDeployment } from '../../infra/deploy/deployment.ts';
import type { Deployment } from '../../infra/deploy/deployment.ts';
import { LAMBDA_ENTRY, TICK_EVENT, bundleLambda } from '../../infra/deploy/lambda-bundle.ts';
import { WORKERS_VAR_LIMIT, checkSecretsFiles, generateWranglerConfigs } from '../../infra/deploy/wrangler-config.ts';
import type { WranglerConfig } from '../../infra/deploy/wrangler-config.ts';

let tmp: string;

interface Dealt {
  dir: string;
  text: string;
  out: DealOutput;
}

/** Deals with a seed into DIR/keys-NAME as `sintra deal` writes it (indented group.json, one secrets file per replica). */
async function dealInto(name: string, parsed: ParsedStructure, seed: number): Promise<Dealt> {
  const out = deal(parsed, seededRandom(new Uint8Array([seed])), { testOnly: true });
  const dir = path.join(tmp, `keys-${name}`);
  await mkdir(dir);
  const text = `${JSON.stringify(out.group, null, 2)}\n`;
  await writeFile(path.join(dir, 'group.json'), text);
  for (const s of out.secrets) await writeFile(path.join(dir, `${s.SINTRA_REPLICA_ID}.secrets.json`), `${JSON.stringify(s, null, 2)}\n`, { mode: 0o600 });
  return { dir, text, out };
}

let g4: Dealt;
let g7: Dealt;
/** 7 replicas on 4 providers (2, 2, 2, 1): "any one provider plus nothing else" is Q3. */
let gp: Dealt;

const fourReplicas = (): Deployment =>
  parseDeployment({
    tolerate: ['account'],
    replicas: {
      r1: { platform: 'cloudflare', provider: 'cloudflare', account: 'cf-alice', workers_dev_subdomain: 'alice', location_hint: 'weur' },
      r2: { platform: 'cloudflare', provider: 'cloudflare', account: 'cf-bob', workers_dev_subdomain: 'bob' },
      r3: { platform: 'lambda', provider: 'aws', account: 'aws-1', region: 'eu-central-1' },
      r4: { platform: 'lambda', provider: 'aws', account: 'aws-2', region: 'us-east-1', url: 'https://abc.lambda-url.us-east-1.on.aws' },
    },
  });

const providers = ['cloudflare', 'cloudflare', 'aws', 'aws', 'gcp', 'gcp', 'hetzner'];

beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'sintra-deploy-config-'));
  g4 = await dealInto('4', thresholdStructure(4, 1), 4);
  g7 = await dealInto('7', thresholdStructure(7, 2), 7);
  gp = await dealInto(
    'providers',
    parseStructureFile({
      replicas: providers.map((p, i) => ({ id: `p${i + 1}`, attributes: { provider: p, account: `${p}-${i + 1}` } })),
      adversary: { attributes: { provider: 1 } },
    }),
    9,
  );
});

afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

function generate(d: Dealt, deployment: Deployment, outDir = path.join(tmp, 'out'), groupAs?: 'auto' | 'var' | 'module') {
  return generateWranglerConfigs({ outDir, groupText: d.text, deployment, keysDir: d.dir, ...(groupAs && { groupAs }) });
}

function config(files: readonly { name: string; content: string }[], name: string): WranglerConfig {
  const f = files.find((x) => x.name === name);
  expect(f, `no ${name} in ${files.map((x) => x.name).join(', ')}`).toBeDefined();
  return JSON.parse(f!.content) as WranglerConfig;
}

const withReplica = (d: Deployment, id: string, patch: Record<string, unknown>): unknown => ({
  tolerate: d.tolerate,
  replicas: { ...d.replicas, [id]: { ...d.replicas[id], ...patch } },
});

describe('deployment file', () => {
  it('rejects malformed entries with the field named', () => {
    const base = { replicas: { r1: { platform: 'cloudflare', provider: 'cloudflare', account: 'a' } } };
    const bad: [unknown, RegExp][] = [
      [{ ...base, extra: 1 }, /deployment: unknown field "extra"/],
      [{ replicas: { r1: { ...base.replicas.r1, platform: 'gcp' } } }, /replicas\.r1\.platform must be one of cloudflare, lambda, got "gcp"/],
      [{ replicas: { r1: { platform: 'cloudflare', provider: 'cloudflare' } } }, /replicas\.r1\.account is missing/],
      [{ replicas: { r1: { ...base.replicas.r1, region: 'eu-central-1' } } }, /replicas\.r1\.region does not apply to a cloudflare replica/],
      [{ replicas: { r3: { platform: 'lambda', provider: 'aws', account: 'x', location_hint: 'weur', region: 'eu-central-1' } } }, /location_hint does not apply to a lambda replica/],
      [{ replicas: { r3: { platform: 'lambda', provider: 'aws', account: 'x' } } }, /replicas\.r3\.region is missing/],
      [{ replicas: { r1: { ...base.replicas.r1, location_hint: 'mars' } } }, /location_hint must be one of wnam, .*got "mars"/],
      [{ replicas: { r1: { ...base.replicas.r1, jurisdiction: 'us' } } }, /jurisdiction must be one of eu, fedramp, fedramp-high/],
      [{ replicas: { r1: { ...base.replicas.r1, url: 'https://a.example/base' } } }, /must be an origin like https:\/\/a\.example \(no path/],
      [{ replicas: { r1: { ...base.replicas.r1, url: 'https://a.example/' } } }, /must be an origin/],
      [{ replicas: { r1: { ...base.replicas.r1, url: 'http://a.example' } } }, /must use https/],
      [{ replicas: { r1: { ...base.replicas.r1, name: 'Sintra_R1' } } }, /replicas\.r1\.name "Sintra_R1" is not a valid name/],
      [{ replicas: { r1: { ...base.replicas.r1, account_id: 'abc' } } }, /account_id "abc" is not a Cloudflare account id/],
      [{ ...base, tolerate: ['region'] }, /deployment\.tolerate must be a list of "account", "provider"/],
      [{ replicas: {} }, /deployment\.replicas must be an object/],
      [{ ...base, cors_origins: ['https://dash.example.org'] }, /deployment\.cors_origins must be a string/],
      [{ ...base, cors_origins: 'https://dash.example.org/' }, /deployment\.cors_origins: "https:\/\/dash\.example\.org\/" is not an origin/],
    ];
    for (const [raw, message] of bad) {
      expect(() => parseDeployment(raw), JSON.stringify(raw)).toThrow(message);
    }
    expect(() => parseDeployment(base)).not.toThrow();
    expect(parseDeployment(base).tolerate).toEqual(['account']); // the safe default: one account must never be enough
  });

  it('must place exactly the replicas of the group: unknown and missing ids are named', () => {
    const group = parseGroup(g4.out.group);
    const d = fourReplicas();
    const extra = parseDeployment({ replicas: { ...d.replicas, r9: d.replicas['r1'] } });
    expect(() => resolveDeployment(extra, group)).toThrow(/unknown replica id "r9" \(the group has "r1", "r2", "r3", "r4"\)/);
    const { r3: _r3, r4: _r4, ...rest } = d.replicas;
    expect(() => resolveDeployment(parseDeployment({ replicas: rest }), group)).toThrow(/no deployment for replicas "r3", "r4": every replica of the group must be placed/);
  });

  it('refuses duplicate names and duplicate URLs', () => {
    const group = parseGroup(g4.out.group);
    const d = fourReplicas();
    expect(() => resolveDeployment(parseDeployment(withReplica(d, 'r2', { name: 'sintra-r1' })), group)).toThrow(/replicas r1 and r2 have the same name "sintra-r1"/);
    expect(() => resolveDeployment(parseDeployment(withReplica(d, 'r3', { url: 'https://abc.lambda-url.us-east-1.on.aws' })), group)).toThrow(/replicas r3 and r4 have the same URL/);
    // Even in different accounts: a name is how operators, logs and terraform tell replicas apart.
    expect(() => resolveDeployment(parseDeployment(withReplica(d, 'r2', { name: 'sintra-r1', workers_dev_subdomain: 'alice' })), group)).toThrow(/same name/);
  });

  it('a claimed failure domain must hold a corruptible set: two replicas in one account of a t = 1 group are refused', () => {
    const group = parseGroup(g4.out.group);
    const d = fourReplicas();
    const shared = parseDeployment(withReplica(d, 'r2', { account: 'cf-alice' }));
    expect(() => resolveDeployment(shared, group)).toThrow(/account "cf-alice" holds "r1", "r2", which the adversary structure \(any 1 of 4\) does not allow to be corrupted together/);
    // The same layout, claiming nothing: allowed, but reported.
    const unclaimed = resolveDeployment(parseDeployment({ ...(withReplica(d, 'r2', { account: 'cf-alice' }) as object), tolerate: [] }), group);
    expect(unclaimed.untolerated).toContain('account "cf-alice" holds "r1", "r2", more than the structure tolerates');
  });

  it('"any one provider" over two providers with four replicas is refused; over four providers with a provider structure it holds', () => {
    const g = parseGroup(g4.out.group);
    const d = fourReplicas();
    const claim = parseDeployment({ ...(withReplica(d, 'r1', {}) as object), tolerate: ['account', 'provider'] });
    expect(() => resolveDeployment(claim, g)).toThrow(/tolerate any one provider, but provider "cloudflare" holds "r1", "r2"/);

    const gpGroup = parseGroup(gp.out.group);
    const replicas = Object.fromEntries(
      providers.map((p, i) => [
        `p${i + 1}`,
        p === 'cloudflare'
          ? { platform: 'cloudflare', provider: p, account: `${p}-${i + 1}`, workers_dev_subdomain: `acct${i + 1}` }
          : { platform: 'lambda', provider: p, account: `${p}-${i + 1}`, region: 'eu-west-1' },
      ]),
    );
    const ok = resolveDeployment(parseDeployment({ tolerate: ['account', 'provider'], replicas }), gpGroup);
    expect(ok.domains.provider).toEqual({ cloudflare: ['p1', 'p2'], aws: ['p3', 'p4'], gcp: ['p5', 'p6'], hetzner: ['p7'] });
    // group.json records provider and account as attributes: the deployment must agree with them.
    const moved = parseDeployment({ tolerate: ['provider'], replicas: { ...replicas, p7: { ...replicas['p7'], provider: 'gcp' } } });
    expect(() => resolveDeployment(moved, gpGroup)).toThrow(/replicas\.p7\.provider is "gcp" but group\.json says replica 6 has provider "hetzner"/);
  });

  it('every replica has storage of its own by default; a redis_url or storage label shared by two replicas is refused', () => {
    const group = parseGroup(g4.out.group);
    const d = fourReplicas();
    const ok = resolveDeployment(d, group);
    expect(ok.replicas.map((r) => r.storage)).toEqual(['durable-object:cf-alice/sintra-r1', 'durable-object:cf-bob/sintra-r2', 'upstash:aws-1/sintra-r3', 'upstash:aws-2/sintra-r4']);
    // One existing database of its own: fine.
    const own = resolveDeployment(parseDeployment(withReplica(d, 'r3', { redis_url: 'https://eu1-carol-1.upstash.io' })), group);
    expect(own.replicas[2]!.storage).toBe('redis:https://eu1-carol-1.upstash.io');

    const db = 'https://eu1-shared-1.upstash.io';
    const twoOnOne = withReplica(parseDeployment(withReplica(d, 'r3', { redis_url: db })), 'r4', { redis_url: db });
    expect(() => resolveDeployment(parseDeployment(twoOnOne), group)).toThrow(
      /^replicas "r3", "r4" share one storage failure domain \(redis:https:\/\/eu1-shared-1\.upstash\.io\): when shared storage goes back in time/,
    );
    // Labels cannot hide one URL, and one label is one domain whatever the URLs.
    const relabelled = withReplica(parseDeployment(withReplica(d, 'r3', { redis_url: db, storage: 'a' })), 'r4', { redis_url: db, storage: 'b' });
    expect(() => resolveDeployment(parseDeployment(relabelled), group)).toThrow(/replicas "r3", "r4" share one storage failure domain \(redis:/);
    const oneLabel = withReplica(parseDeployment(withReplica(d, 'r1', { storage: 'disk-1' })), 'r3', { storage: 'disk-1' });
    expect(() => resolveDeployment(parseDeployment(oneLabel), group)).toThrow(/replicas "r1", "r3" share one storage failure domain \(disk-1\)/);

    const bad: [unknown, RegExp][] = [
      [withReplica(d, 'r1', { redis_url: db }), /replicas\.r1\.redis_url does not apply to a cloudflare replica/],
      [withReplica(d, 'r3', { redis_url: `${db}/` }), /replicas\.r3\.redis_url ".*" must be the database's REST URL, an https origin/],
      [withReplica(d, 'r3', { redis_url: 'redis://eu1-shared-1.upstash.io:6379' }), /must be the database's REST URL/],
      [withReplica(d, 'r3', { redis_url: db, redis_region: 'eu-central-1' }), /redis_region only applies to the database terraform creates/],
      [withReplica(d, 'r3', { storage: 'a b' }), /replicas\.r3\.storage "a b" is not a label/],
    ];
    for (const [raw, message] of bad) expect(() => parseDeployment(raw), JSON.stringify(raw)).toThrow(message);
  });

  it('peer lists are by replica index, null for the replica itself and for URLs not known yet', () => {
    const r = resolveDeployment(fourReplicas(), parseGroup(g4.out.group));
    expect(peerList(r.replicas, 0)).toEqual([null, 'https://sintra-r2.bob.workers.dev', null, 'https://abc.lambda-url.us-east-1.on.aws']);
    expect(peerList(r.replicas, 2)).toEqual(['https://sintra-r1.alice.workers.dev', 'https://sintra-r2.bob.workers.dev', null, 'https://abc.lambda-url.us-east-1.on.aws']);
  });
});

describe('wrangler configs', () => {
  it('one config per Cloudflare replica: name, entry, compatibility date, DO binding, SQLite migration, vars, required secrets', () => {
    const { files, plan } = generate(g4, fourReplicas());
    expect(files.map((f) => f.name).sort()).toEqual(['deploy.sh', 'group.js', 'plan.json', 'sintra-r1.wrangler.json', 'sintra-r2.wrangler.json']);
    const r1 = config(files, 'sintra-r1.wrangler.json');
    const r2 = config(files, 'sintra-r2.wrangler.json');
    for (const c of [r1, r2]) {
      expect(c.compatibility_date).toBe(COMPATIBILITY_DATE);
      expect(c.compatibility_flags).toEqual(['nodejs_compat']);
      expect(c.observability).toEqual({ enabled: true });
      expect(c.durable_objects).toEqual({ bindings: [{ name: 'REPLICA', class_name: 'ReplicaObject' }] });
      expect(c.migrations).toEqual([{ tag: 'v1', new_sqlite_classes: ['ReplicaObject'] }]);
      expect(c.secrets.required).toEqual([...SECRET_NAMES]);
      expect(c.limits.cpu_ms).toBe(30_000);
      expect(c.workers_dev).toBe(true);
      // The group fits a variable (3.3 KB), and it is the minified text of group.json.
      expect(c.vars['SINTRA_GROUP']).toBe(JSON.stringify(g4.out.group));
      for (const secret of SECRET_NAMES) expect(JSON.stringify(c)).not.toContain(`"${secret}":`);
    }
    expect(r1.name).toBe('sintra-r1');
    // The location hint needs the wrapping entry; r2 has none and deploys worker.ts itself.
    expect(r1.main).toMatch(/infra\/deploy\/replica-entry\.js$/);
    expect(r1.alias).toEqual({ 'sintra-deploy-group': './group.js' });
    expect(r1.vars['SINTRA_DO_LOCATION_HINT']).toBe('weur');
    expect(r2.main).toMatch(/workers\/cloudflare\/worker\.ts$/);
    expect(r2.alias).toBeUndefined();
    expect(JSON.parse(r2.vars['SINTRA_PEERS']!)).toEqual(['https://sintra-r1.alice.workers.dev', null, null, 'https://abc.lambda-url.us-east-1.on.aws']);
    expect(files.find((f) => f.name === 'group.js')!.content).toContain('export default null;');
    expect(plan.groupMode).toBe('var');
    expect(plan.missingUrls).toEqual(['r3']);
    expect(plan.warnings.join('\n')).toMatch(/no URL yet for r3/);
    expect(plan.warnings.join('\n')).toMatch(/testOnly/);
  });

  it('client_rate and cors_origins (top level) reach every replica as SINTRA_CLIENT_RATE and SINTRA_CORS_ORIGINS; absent, neither var is set', () => {
    const d: Deployment = { ...fourReplicas(), client_rate: 500, cors_origins: 'https://dash.example.org, http://localhost:3000' };
    const { files } = generate(g4, d, path.join(tmp, 'out-cors'));
    for (const name of ['sintra-r1.wrangler.json', 'sintra-r2.wrangler.json']) {
      const c = config(files, name);
      expect(c.vars['SINTRA_CLIENT_RATE']).toBe('500');
      expect(c.vars['SINTRA_CORS_ORIGINS']).toBe('https://dash.example.org, http://localhost:3000');
    }
    const plain = config(generate(g4, fourReplicas(), path.join(tmp, 'out-plain')).files, 'sintra-r1.wrangler.json');
    expect(plain.vars['SINTRA_CLIENT_RATE']).toBeUndefined();
    expect(plain.vars['SINTRA_CORS_ORIGINS']).toBeUndefined();
  });

  it('a group over the 5 KB variable limit is bundled as a module; --group-as var fails stating the size and the limit', () => {
    const replicas = Object.fromEntries(
      g7.out.group.replicas.map((r, i) => [r.id, { platform: 'cloudflare', provider: 'cloudflare', account: `cf-${i}`, workers_dev_subdomain: `acct${i}` }]),
    );
    const d = parseDeployment({ replicas });
    const bytes = JSON.stringify(g7.out.group).length;
    expect(bytes).toBeGreaterThan(WORKERS_VAR_LIMIT);
    expect(() => generate(g7, d, undefined, 'var')).toThrow(new RegExp(`group\\.json is ${bytes} bytes minified, more than the ${WORKERS_VAR_LIMIT}-byte limit of one Workers variable`));
    const { files, plan } = generate(g7, d);
    expect(plan.groupMode).toBe('module');
    for (const id of ['r1', 'r7']) {
      const c = config(files, `sintra-${id}.wrangler.json`);
      expect(c.vars['SINTRA_GROUP']).toBeUndefined();
      expect(c.main).toMatch(/replica-entry\.js$/);
      expect(c.alias).toEqual({ 'sintra-deploy-group': './group.js' });
    }
    expect(files.find((f) => f.name === 'group.js')!.content).toContain(`export default ${JSON.stringify(JSON.stringify(g7.out.group))};`);
  });

  it('a custom domain replaces workers.dev and gives the URL', () => {
    const d = parseDeployment(withReplica(fourReplicas(), 'r2', { workers_dev_subdomain: null, custom_domain: { zone_id: 'a'.repeat(32), hostname: 'r2.sintra.example' }, account_id: 'b'.repeat(32) }));
    const { files } = generate(g4, d);
    const r2 = config(files, 'sintra-r2.wrangler.json');
    expect(r2.workers_dev).toBe(false);
    expect(r2.routes).toEqual([{ pattern: 'r2.sintra.example', custom_domain: true }]);
    expect(r2.account_id).toBe('b'.repeat(32));
    expect(JSON.parse(config(files, 'sintra-r1.wrangler.json').vars['SINTRA_PEERS']!)[1]).toBe('https://r2.sintra.example');
  });

  it("deploy.sh deploys one replica per run: its secrets file first, then the config; Lambda replicas point to terraform", async () => {
    const outDir = path.join(tmp, 'out-sh');
    const { files } = generate(g4, fourReplicas(), outDir);
    const sh = files.find((f) => f.name === 'deploy.sh')!;
    expect(sh.mode).toBe(0o755);
    const r1 = sh.content.split('\n').filter((l) => l.includes('sintra-r1.wrangler.json'));
    expect(r1).toHaveLength(2);
    expect(r1[0]).toMatch(/wrangler\.js' secret bulk '\.\.\/keys-4\/r1\.secrets\.json' --config 'sintra-r1\.wrangler\.json'$/);
    expect(r1[1]).toMatch(/wrangler\.js' deploy --config 'sintra-r1\.wrangler\.json'$/);
    expect(sh.content).toMatch(/r3\)\n\s+echo 'r3 is an AWS Lambda replica: deploy it with terraform/);
    // The script is valid sh; with no argument it prints its usage and exits 2.
    await writeFile(path.join(tmp, 'deploy-test.sh'), sh.content);
    const run = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      execFile('sh', [path.join(tmp, 'deploy-test.sh')], (err, _o, stderr) => resolve({ code: err ? (err.code as number) : 0, stderr }));
    });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('usage: sh deploy.sh REPLICA (one of: r1 r2 r3 r4)');
  });
});

describe("the dealer's secrets files", () => {
  it('present files must belong to the group and the replica; absent ones are listed, values never printed', async () => {
    const resolved = resolveDeployment(fourReplicas(), parseGroup(g4.out.group));
    expect(await checkSecretsFiles(resolved, g4.dir)).toEqual({ checked: ['r1', 'r2', 'r3', 'r4'], absent: [] });
    const partial = path.join(tmp, 'partial-keys');
    await mkdir(partial);
    await writeFile(path.join(partial, 'r1.secrets.json'), await readFile(path.join(g4.dir, 'r1.secrets.json')));
    expect(await checkSecretsFiles(resolved, partial)).toEqual({ checked: ['r1'], absent: ['r2', 'r3', 'r4'] });
    // r2's file under r1's name, and a file of another group.
    await writeFile(path.join(partial, 'r1.secrets.json'), await readFile(path.join(g4.dir, 'r2.secrets.json')));
    await expect(checkSecretsFiles(resolved, partial)).rejects.toThrow(/r1\.secrets\.json holds the secrets of another replica/);
    await writeFile(path.join(partial, 'r1.secrets.json'), await readFile(path.join(g7.dir, 'r1.secrets.json')));
    const err = await checkSecretsFiles(resolved, partial).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeployError);
    expect((err as Error).message).toMatch(/SINTRA_GROUP_ID: belongs to group/);
    const secrets = JSON.parse(await readFile(path.join(g7.dir, 'r1.secrets.json'), 'utf8')) as Record<string, string>;
    expect((err as Error).message).not.toContain(secrets['SINTRA_LINK_SECRET']!);
  });
});

describe('sintra deploy-config', () => {
  function capture() {
    const io = { stdout: '', stderr: '', out: (s: string) => void (io.stdout += s), err: (s: string) => void (io.stderr += s) };
    return io;
  }

  it('writes the configs, deploy.sh and plan.json; bad input is one error line, exit 1', async () => {
    const dir = path.join(tmp, 'cli');
    await mkdir(dir);
    const deploymentFile = path.join(dir, 'deployment.json');
    const d = fourReplicas();
    await writeFile(deploymentFile, JSON.stringify({ group_file: path.relative(dir, path.join(g4.dir, 'group.json')), tolerate: d.tolerate, replicas: d.replicas }));
    const io = capture();
    const code = await main(['node', 'sintra', 'deploy-config', '--deployment', deploymentFile, '--out', path.join(dir, 'out'), '--lambda-entry', path.join(dir, 'missing.ts'), '--json'], io);
    // An explicit --lambda-entry that does not exist is an error (not a warning), and nothing is written.
    expect(code).toBe(1);
    expect(io.stderr).toMatch(/^error: the Lambda entry .*missing\.ts does not exist/);
    await expect(readFile(path.join(dir, 'out', 'plan.json'))).rejects.toThrow(/ENOENT/);

    const ok = capture();
    expect(await main(['node', 'sintra', 'deploy-config', '--deployment', deploymentFile, '--out', path.join(dir, 'out'), '--json'], ok)).toBe(0);
    const plan = JSON.parse(ok.stdout) as { groupId: string; secretsChecked: string[]; replicas: { id: string; config?: string }[]; warnings: string[] };
    expect(plan.groupId).toBe(g4.out.group.groupId);
    expect(plan.secretsChecked).toEqual(['r1', 'r2', 'r3', 'r4']);
    expect(plan.replicas.map((r) => r.config ?? null)).toEqual(['sintra-r1.wrangler.json', 'sintra-r2.wrangler.json', null, null]);
    expect(JSON.parse(await readFile(path.join(dir, 'out', 'sintra-r2.wrangler.json'), 'utf8')).name).toBe('sintra-r2');
    // Each replica's storage domain and what it must guarantee, in plan.json and in the text output.
    const planned = plan.replicas as unknown as { storage: string; durability: string }[];
    expect(planned.map((r) => r.storage)).toEqual(['durable-object:cf-alice/sintra-r1', 'durable-object:cf-bob/sintra-r2', 'upstash:aws-1/sintra-r3', 'upstash:aws-2/sintra-r4']);
    expect(planned[0]!.durability).toMatch(/^Durable Object SQLite storage, durable when a write completes/);
    expect(planned[2]!.durability).toMatch(/^its own Upstash database/);
    const text = capture();
    expect(await main(['node', 'sintra', 'deploy-config', '--deployment', deploymentFile, '--out', path.join(dir, 'out')], text)).toBe(0);
    expect(text.stdout).toContain('storage, one failure domain per replica: r1 durable-object:cf-alice/sintra-r1, r2 durable-object:cf-bob/sintra-r2, r3 upstash:aws-1/sintra-r3, r4 upstash:aws-2/sintra-r4');
    expect(text.stdout).toMatch(/^ {2}r1, r2: Durable Object SQLite storage/m);
    expect(text.stdout).toMatch(/^ {2}r3, r4: its own Upstash database/m);
    for (const s of g4.out.secrets) expect(ok.stdout + ok.stderr).not.toContain(s.SINTRA_LINK_SECRET);

    await writeFile(deploymentFile, JSON.stringify({ group_file: path.join(g4.dir, 'group.json'), replicas: { ...d.replicas, r5: d.replicas['r1'] } }));
    const bad = capture();
    expect(await main(['node', 'sintra', 'deploy-config', '--deployment', deploymentFile, '--out', path.join(dir, 'out2')], bad)).toBe(1);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toMatch(/^error: deployment\.replicas: unknown replica id "r5"/);

    const db = 'https://eu1-shared-1.upstash.io';
    const shared = { ...d.replicas, r3: { ...d.replicas['r3'], redis_url: db }, r4: { ...d.replicas['r4'], redis_url: db } };
    await writeFile(deploymentFile, JSON.stringify({ group_file: path.join(g4.dir, 'group.json'), replicas: shared }));
    const refused = capture();
    expect(await main(['node', 'sintra', 'deploy-config', '--deployment', deploymentFile, '--out', path.join(dir, 'out3')], refused)).toBe(1);
    expect(refused.stderr.trim().split('\n')).toHaveLength(1);
    expect(refused.stderr).toMatch(/^error: replicas "r3", "r4" share one storage failure domain \(redis:https:\/\/eu1-shared-1\.upstash\.io\)/);
    expect(existsSync(path.join(dir, 'out3'))).toBe(false);

    const usage = capture();
    expect(await main(['node', 'sintra', 'deploy-config', '--deployment', deploymentFile], usage)).toBe(2);
    expect(usage.stderr).toMatch(/^error: required option '--out <dir>' not specified/);
  });
});

describe('Lambda package', () => {
  it('bundles the entry with group.json and sets SINTRA_GROUP before the entry module runs', async () => {
    const dir = path.join(tmp, 'lambda');
    await mkdir(dir);
    // A stand-in for workers/node/lambda.ts that reads its environment at load time, the harder case.
    const entry = path.join(dir, 'fake-lambda.ts');
    await writeFile(
      entry,
      [
        'const groupAtLoad: string | undefined = process.env.SINTRA_GROUP;',
        'export async function handler(): Promise<{ statusCode: number; body: string }> {',
        '  return { statusCode: 200, body: groupAtLoad ?? "missing" };',
        '}',
        'export async function tick(): Promise<string> { return "ticked"; }',
        '',
      ].join('\n'),
    );
    const groupText = JSON.stringify(g4.out.group);
    const saved = process.env['SINTRA_GROUP'];
    delete process.env['SINTRA_GROUP'];
    try {
      const { file } = await bundleLambda({ entry, groupText, outDir: path.join(dir, 'pkg') });
      expect(path.basename(file)).toBe('index.mjs');
      type Mod = { handler(): Promise<{ body: string }>; tick(): Promise<string>; dispatch(event: unknown): Promise<unknown> };
      const mod = (await import(pathToFileURL(file).href)) as Mod;
      expect((await mod.handler()).body).toBe(groupText);
      expect(await mod.tick()).toBe('ticked');
      // One function per replica: the schedule's events go to tick, HTTP events to handler.
      expect(await mod.dispatch(TICK_EVENT)).toBe('ticked');
      expect(await mod.dispatch({ source: 'aws.events', 'detail-type': 'Scheduled Event' })).toBe('ticked');
      expect(await mod.dispatch({ version: '2.0', rawPath: '/v1/health', requestContext: { http: { method: 'GET' } } })).toEqual({ statusCode: 200, body: groupText });
    } finally {
      if (saved === undefined) delete process.env['SINTRA_GROUP'];
      else process.env['SINTRA_GROUP'] = saved;
    }
    await writeFile(path.join(dir, 'no-tick.ts'), 'export const handler = async () => 1;\n');
    await expect(bundleLambda({ entry: path.join(dir, 'no-tick.ts'), groupText, outDir: path.join(dir, 'pkg2') })).rejects.toThrow(/cannot bundle the Lambda replica .*tick/);
  });

  it.skipIf(!existsSync(LAMBDA_ENTRY))('bundles the real workers/node/lambda.ts: the group loads from the bundle, the secrets are what is missing', async () => {
    const groupText = JSON.stringify(g4.out.group);
    const saved = { ...process.env };
    for (const k of Object.keys(process.env)) if (k.startsWith('SINTRA_') || k.startsWith('UPSTASH_')) delete process.env[k];
    const logged: string[] = [];
    const log = console.log;
    console.log = (line: string) => void logged.push(String(line));
    try {
      const { file } = await bundleLambda({ groupText, outDir: path.join(tmp, 'lambda-real') });
      const mod = (await import(pathToFileURL(file).href)) as { dispatch(event: unknown): Promise<{ statusCode?: number; body?: string; ok?: boolean; error?: string }> };
      const http = await mod.dispatch({ version: '2.0', rawPath: '/v1/health', rawQueryString: '', headers: {}, requestContext: { http: { method: 'GET', path: '/v1/health', sourceIp: '192.0.2.1' } }, isBase64Encoded: false });
      expect(http.statusCode).toBe(503);
      expect(http.body).toMatch(/misconfigured.*SINTRA_GROUP_ID/);
      const tick = await mod.dispatch(TICK_EVENT);
      expect(tick).toMatchObject({ ok: false });
      expect(tick.error).toMatch(/SINTRA_GROUP_ID/);
    } finally {
      console.log = log;
      for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
      Object.assign(process.env, saved);
    }
  }, 60_000);
});
