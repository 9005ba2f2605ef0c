/** `sintra deploy-config`: option handling and output for wrangler-config.ts. Only public data is printed. */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Io } from '../cli/deal.ts';
import { UsageError } from '../cli/deal.ts';
import { DeployError } from './deployment.ts';
import { LAMBDA_ENTRY, bundleLambda } from './lambda-bundle.ts';
import { checkSecretsFiles, generateWranglerConfigs, minifyGroup, readDeploymentFile, writeGenerated } from './wrangler-config.ts';
import type { GroupMode } from './wrangler-config.ts';

export { DeployError };

export interface DeployConfigOptions {
  deployment?: string;
  group?: string;
  keys?: string;
  out?: string;
  groupAs?: string;
  lambdaEntry?: string;
  json?: boolean;
}

const shown = (p: string) => path.relative(process.cwd(), p) || '.';

export async function deployConfigCommand(opts: DeployConfigOptions, io: Io): Promise<number> {
  if (opts.deployment === undefined) throw new UsageError("required option '--deployment <file>' not specified");
  if (opts.out === undefined) throw new UsageError("required option '--out <dir>' not specified");
  const groupAs = opts.groupAs ?? 'auto';
  if (!['auto', 'var', 'module'].includes(groupAs)) throw new UsageError(`--group-as must be auto, var or module, got ${JSON.stringify(groupAs)}`);

  const deployment = await readDeploymentFile(opts.deployment);
  // Relative to the deployment file, as the terraform root module resolves it too.
  const groupPath = opts.group ?? (deployment.group_file !== undefined ? path.resolve(path.dirname(opts.deployment), deployment.group_file) : undefined);
  if (groupPath === undefined) throw new UsageError('give --group FILE or "group_file" in the deployment file');
  let groupText: string;
  try {
    groupText = await readFile(groupPath, 'utf8');
  } catch (e) {
    throw new DeployError(`cannot read group file ${groupPath}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const keysDir = path.resolve(opts.keys ?? path.dirname(groupPath));
  const outDir = path.resolve(opts.out);

  const gen = generateWranglerConfigs({ outDir, groupText, deployment, groupAs: groupAs as 'auto' | GroupMode, keysDir });
  const secrets = await checkSecretsFiles(gen.resolved, keysDir);

  const warnings = [...gen.plan.warnings];
  const lambdaIds = gen.resolved.replicas.filter((r) => r.platform === 'lambda').map((r) => r.id);
  let lambda: { file: string; bytes: number } | null = null;
  if (lambdaIds.length > 0) {
    const entry = path.resolve(opts.lambdaEntry ?? LAMBDA_ENTRY);
    try {
      lambda = await bundleLambda({ entry, groupText: minifyGroup(groupText), outDir: path.join(outDir, 'lambda') });
    } catch (e) {
      // The Cloudflare configs are still useful without it; terraform refuses a missing package by itself.
      if (!(e instanceof DeployError) || opts.lambdaEntry !== undefined) throw e;
      warnings.push(`Lambda package for ${lambdaIds.join(', ')} not built: ${e.message}`);
    }
  }
  const written = await writeGenerated(outDir, gen.files);

  if (opts.json) {
    io.out(`${JSON.stringify({ ...gen.plan, warnings, outDir: shown(outDir), files: written.map(shown), secretsChecked: secrets.checked, secretsAbsent: secrets.absent, lambdaPackage: lambda ? shown(lambda.file) : null }, null, 2)}\n`);
    return 0;
  }
  const p = gen.plan;
  const lines = [
    `group ${p.groupId.slice(0, 16)}...: ${p.n} replicas; group.json ${p.groupBytes} bytes minified, ${p.groupMode === 'var' ? `passed in the SINTRA_GROUP variable (limit ${p.varLimit})` : `bundled into the Worker (over the ${p.varLimit}-byte variable limit, or --group-as module)`}`,
  ];
  for (const [domain, values] of Object.entries(p.tolerate)) {
    lines.push(`tolerates any one ${domain}: ${Object.entries(values).map(([v, ids]) => `${v} (${ids.join(', ')})`).join(', ')}`);
  }
  for (const r of p.replicas) {
    lines.push(`  ${r.id.padEnd(8)} ${String(r.index).padStart(3)}  ${r.platform.padEnd(10)} ${r.account.padEnd(14)} ${r.name.padEnd(20)} ${r.url ?? '(URL not known yet)'}${r.config ? `  ${shown(path.join(outDir, r.config))}` : ''}`);
  }
  lines.push(`storage, one failure domain per replica: ${p.replicas.map((r) => `${r.id} ${r.storage}`).join(', ')}`);
  const needs = new Map<string, string[]>();
  for (const r of p.replicas) needs.set(r.durability, [...(needs.get(r.durability) ?? []), r.id]);
  for (const [durability, ids] of needs) lines.push(`  ${ids.join(', ')}: ${durability}`);
  lines.push(`secrets files checked: ${secrets.checked.join(', ') || 'none'}${secrets.absent.length ? `; not in ${shown(keysDir)}: ${secrets.absent.join(', ')} (each operator holds only their own)` : ''}`);
  if (lambda) lines.push(`Lambda package: ${shown(lambda.file)} (${Math.round(lambda.bytes / 1024)} KB)`);
  lines.push(`wrote ${written.length} files to ${shown(outDir)}; deploy a Cloudflare replica with: sh ${shown(path.join(outDir, 'deploy.sh'))} REPLICA`);
  io.out(`${lines.join('\n')}\n`);
  for (const w of warnings) io.err(`warning: ${w}\n`);
  return 0;
}
