/**
 * The deployment package of an AWS Lambda replica: workers/node/lambda.ts (exports `handler` and `tick`)
 * bundled into one ES module with the public group.json inside it.
 *
 * Why the group is bundled: Lambda allows 4 KB for ALL environment variables of a function together, and
 * group.json alone is 3.3 KB for n = 4 (5.2 KB for n = 7, tens of KB for general structures), next to the
 * replica's secrets, SINTRA_PEERS and the Upstash URL and token. The bundle sets SINTRA_GROUP from its own
 * copy before lambda.ts is evaluated, unless the environment already has one.
 *
 * Why one function: a replica's state must have ONE process at a time (lambda.ts, redis-store.ts: a second
 * writer stops the replica for good). A separate function for `tick` would run beside `handler`, so the
 * bundle also exports `dispatch`, the one handler of the one function (reserved concurrency 1): the
 * schedule's events (TICK_EVENT, or any EventBridge "Scheduled Event") go to tick, everything else to handler.
 */
import { mkdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { build } from 'esbuild';
import type { Plugin } from 'esbuild';
import { DeployError } from './deployment.ts';
import { REPO_ROOT } from './wrangler-config.ts';

export const LAMBDA_ENTRY = path.join(REPO_ROOT, 'workers/node/lambda.ts');
/** Lambda runs `index.handler` / `index.tick`; .mjs makes Node load it as an ES module. */
export const LAMBDA_FILE = 'index.mjs';
/** Lambda: "Environment variables 4 KB" in total (docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html). */
export const LAMBDA_ENV_LIMIT = 4096;

const GROUP_ENV_MODULE = 'sintra-deploy:group-env';

/** The input the terraform schedule sends (terraform/aws.tf): a function URL event never has this shape. */
export const TICK_EVENT = { sintra: 'tick' } as const;
/** Lambda's handler setting for the one function of a replica. */
export const LAMBDA_HANDLER = 'index.dispatch';

const ENTRY = (entry: string) =>
  [
    `import ${JSON.stringify(GROUP_ENV_MODULE)};`,
    `import { handler, tick } from ${JSON.stringify(entry)};`,
    'export { handler, tick };',
    'export function dispatch(event, context) {',
    `  const scheduled = event != null && (event.sintra === ${JSON.stringify(TICK_EVENT.sintra)} || (event.source === 'aws.events' && event['detail-type'] === 'Scheduled Event'));`,
    '  return scheduled ? tick(event, context) : handler(event, context);',
    '}',
    '',
  ].join('\n');

export interface LambdaBundleOptions {
  /** The module exporting `handler` and `tick` (default workers/node/lambda.ts). */
  readonly entry?: string;
  /** group.json text (minified is fine). */
  readonly groupText: string;
  /** Output directory; the bundle is DIR/index.mjs (terraform zips DIR). */
  readonly outDir: string;
}

export async function bundleLambda(o: LambdaBundleOptions): Promise<{ file: string; bytes: number }> {
  const entry = path.resolve(o.entry ?? LAMBDA_ENTRY);
  try {
    await stat(entry);
  } catch {
    throw new DeployError(`the Lambda entry ${path.relative(process.cwd(), entry) || entry} does not exist (it should export handler and tick)`);
  }
  // ES modules evaluate their imports in order, so this import runs before lambda.ts reads its environment,
  // whether it reads it at load time or per invocation.
  const groupEnv: Plugin = {
    name: 'sintra-group-env',
    setup(b) {
      b.onResolve({ filter: /^sintra-deploy:group-env$/ }, (a) => ({ path: a.path, namespace: 'sintra-deploy' }));
      b.onLoad({ filter: /.*/, namespace: 'sintra-deploy' }, () => ({
        contents: `if (!process.env.SINTRA_GROUP) process.env.SINTRA_GROUP = ${JSON.stringify(o.groupText)};\n`,
        loader: 'js',
      }));
    },
  };
  await mkdir(o.outDir, { recursive: true });
  const outfile = path.join(o.outDir, LAMBDA_FILE);
  let result;
  try {
    result = await build({
      stdin: {
        contents: ENTRY(entry),
        resolveDir: path.dirname(entry),
        loader: 'js',
        sourcefile: 'lambda-entry.js',
      },
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      outfile,
      // The Node.js runtimes ship the AWS SDK v3; everything else is bundled.
      external: ['@aws-sdk/*'],
      // CommonJS dependencies inside an ES module bundle still call require().
      banner: { js: "import { createRequire as __sintraCreateRequire } from 'node:module';\nconst require = __sintraCreateRequire(import.meta.url);" },
      plugins: [groupEnv],
      logLevel: 'silent',
      metafile: true,
    });
  } catch (e) {
    const errors = (e as { errors?: { text: string }[] }).errors;
    throw new DeployError(`cannot bundle the Lambda replica ${entry}: ${errors?.map((x) => x.text).join('; ') ?? (e as Error).message}`);
  }
  const exportsOf = Object.values(result.metafile.outputs)[0]?.exports ?? [];
  for (const name of ['handler', 'tick', 'dispatch']) {
    if (!exportsOf.includes(name)) throw new DeployError(`the Lambda bundle does not export ${name}: ${entry} must export handler and tick`);
  }
  return { file: outfile, bytes: (await stat(outfile)).size };
}
