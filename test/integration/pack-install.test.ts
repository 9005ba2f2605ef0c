/**
 * The package as a user gets it (issue 17): `npm pack` (whose prepack runs `npm run build`) makes the
 * tarball; `npm install --omit=dev` puts it into an empty folder; there `npx sintra verify` checks a real
 * receipt (the docs/formats.md vector, signed by the vectors' group) from the built JavaScript, with no tsx,
 * Miniflare, workerd, esbuild or better-sqlite3 installed, and refuses a tampered one. Node imports the
 * `sintra-edge` and `sintra-edge/verify` exports, TypeScript (NodeNext) type-checks against their
 * declarations, and esbuild bundles `sintra-edge/verify` from the installed folder for the browser.
 *
 * npm runs with the project's lockfile versions from its cache when it has them (--prefer-offline: a clone
 * after `npm ci` has them all), else from the registry. The npm_* variables of an enclosing `npm test` are
 * not passed on, so the inner npm commands work on their own folders only.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tamperedReceipt, vectorReceipt } from '../helpers/format-vectors.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const TSC = resolve(ROOT, 'node_modules/typescript/bin/tsc');

const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)));
env['npm_config_update_notifier'] = 'false';
env['npm_config_fund'] = 'false';
env['npm_config_audit'] = 'false';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], cwd: string, timeoutMs = 120_000): Promise<Run> {
  return new Promise((done) => {
    execFile(cmd, args, { cwd, env, timeout: timeoutMs, maxBuffer: 32 << 20 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      done({ code, stdout, stderr });
    });
  });
}

async function ok(cmd: string, args: string[], cwd: string, timeoutMs?: number): Promise<Run> {
  const r = await run(cmd, args, cwd, timeoutMs);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r;
}

let tmp: string;
let app: string;
const times: Record<string, number> = {};

async function timed<T>(name: string, f: () => Promise<T>): Promise<T> {
  const t0 = Date.now();
  try {
    return await f();
  } finally {
    times[name] = Date.now() - t0;
  }
}

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'sintra-pack-'));
  app = join(tmp, 'app');
  await timed('pack', () => ok('npm', ['pack', '--pack-destination', tmp], ROOT, 240_000));
  const tarball = (await readdir(tmp)).find((f) => f.endsWith('.tgz'));
  if (!tarball) throw new Error(`npm pack left no tarball in ${tmp}`);
  await mkdir(app);
  await writeFile(join(app, 'package.json'), `${JSON.stringify({ name: 'app', private: true, type: 'module' })}\n`);
  const { groupJson, receiptJson } = vectorReceipt();
  await writeFile(join(app, 'group.json'), groupJson);
  await writeFile(join(app, 'receipt.json'), receiptJson);
  await writeFile(join(app, 'tampered-entry.json'), tamperedReceipt(receiptJson, 'entry'));
  await writeFile(join(app, 'tampered-signature.json'), tamperedReceipt(receiptJson, 'signature'));
  await timed('install', () => ok('npm', ['install', '--omit=dev', '--prefer-offline', '--no-audit', '--no-fund', join(tmp, tarball)], app, 240_000));
}, 480_000);

afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
  if (Object.keys(times).length) process.stderr.write(`pack-install times (ms): ${JSON.stringify(times)}\n`);
});

describe('npm pack, npm install --omit=dev, sintra verify', () => {
  it('installs the built JavaScript and declarations, no TypeScript source and none of the dev-only packages', async () => {
    const pkg = join(app, 'node_modules/sintra-edge');
    for (const f of ['dist/infra/cli/main.js', 'dist/shared/entry/index.js', 'dist/shared/entry/index.d.ts', 'dist/shared/entry/verify.d.ts', 'infra/bin/sintra.mjs', 'LICENSE', 'README.md']) {
      expect(existsSync(join(pkg, f)), f).toBe(true);
    }
    const files = (await readdir(pkg, { recursive: true })).map(String);
    expect(files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
    expect(files.filter((f) => /^(test|node_modules)\//.test(f))).toEqual([]);
    for (const dev of ['tsx', 'miniflare', 'workerd', 'esbuild', 'better-sqlite3', 'typescript', 'wrangler', 'vitest']) {
      expect(existsSync(join(app, 'node_modules', dev)), dev).toBe(false);
    }
  });

  it('npx sintra verify: exit 0 for the real receipt, 1 for a changed entry or signature', async () => {
    const good = await timed('verify', () => run('npx', ['--no', '--', 'sintra', 'verify', 'receipt.json', '--group', 'group.json'], app));
    expect(good).toMatchObject({ code: 0, stderr: '' });
    expect(good.stdout).toMatch(/^valid receipt/);
    expect(good.stdout).toContain('index:      1 (position in the log, from 0)');
    expect(good.stdout).toContain('signature:  verified');

    const entry = await run('npx', ['--no', '--', 'sintra', 'verify', 'tampered-entry.json', '--group', 'group.json', '--json'], app);
    expect(entry.code).toBe(1);
    expect(JSON.parse(entry.stdout)).toMatchObject({ valid: false, reason: expect.stringMatching(/inclusion proof does not lead to the checkpoint root/) });
    const signature = await run('npx', ['--no', '--', 'sintra', 'verify', 'tampered-signature.json', '--group', 'group.json'], app);
    expect(signature.code).toBe(1);
    expect(signature.stderr).toMatch(/^error: invalid receipt tampered-signature\.json: /);
  });

  it('commands that need a checkout say so (exit 1); the version is the package version', async () => {
    const start = await run('node', ['node_modules/.bin/sintra', 'start'], app);
    expect(start.code).toBe(1);
    expect(start.stderr).toMatch(/^error: sintra start runs in a checkout of the repository/);
    const version = await run('node', ['node_modules/.bin/sintra', '--version'], app);
    expect(version.stdout.trim()).toBe(JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')).version);
  });

  it('Node imports both exports; TypeScript (NodeNext) type-checks against the declarations', async () => {
    const script = [
      "import { readFileSync } from 'node:fs';",
      "import { checkReceipt, parseGroup } from 'sintra-edge/verify';",
      "import { SintraClient, checkReceipt as fromMain } from 'sintra-edge';",
      "const group = parseGroup(JSON.parse(readFileSync('group.json', 'utf8')));",
      "const check = checkReceipt(JSON.parse(readFileSync('receipt.json', 'utf8')), group);",
      "const bad = checkReceipt(JSON.parse(readFileSync('tampered-entry.json', 'utf8')), group);",
      "console.log(JSON.stringify({ ok: check.ok, index: check.ok ? check.summary.index : null, bad: bad.ok, same: fromMain === checkReceipt, client: typeof SintraClient }));",
    ].join('\n');
    await writeFile(join(app, 'check.mjs'), script);
    const r = await ok('node', ['check.mjs'], app);
    expect(JSON.parse(r.stdout)).toEqual({ ok: true, index: 1, bad: false, same: true, client: 'function' });

    await writeFile(join(app, 'typed.ts'), [
      "import { checkReceipt, parseGroup } from 'sintra-edge/verify';",
      "import type { ReceiptSummary } from 'sintra-edge/verify';",
      "import { SintraClient } from 'sintra-edge';",
      'export function index(group: unknown, receipt: unknown): number | string {',
      '  const check = checkReceipt(receipt, parseGroup(group));',
      '  const summary: ReceiptSummary | null = check.ok ? check.summary : null;',
      '  return summary ? summary.index : check.ok ? 0 : check.reason;',
      '}',
      'export type Client = SintraClient;',
      '',
    ].join('\n'));
    // A wrong type must fail, or declarations that resolved to `any` would pass unnoticed.
    await writeFile(join(app, 'wrong.ts'), "import { checkReceipt } from 'sintra-edge/verify';\nexport const n: string = checkReceipt({}, null as never).ok;\n");
    const compilerOptions = { module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', strict: true, noEmit: true, types: [], lib: ['es2022', 'dom'] };
    await writeFile(join(app, 'tsconfig.json'), JSON.stringify({ compilerOptions, files: ['typed.ts', 'wrong.ts'] }));
    const tsc = await timed('tsc', () => run('node', [TSC, '-p', '.'], app));
    const errors = tsc.stdout.split('\n').filter((l) => /error TS/.test(l));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^wrong\.ts\(2,14\): error TS2322: Type 'boolean' is not assignable to type 'string'/);
  });

  it('esbuild bundles the installed sintra-edge/verify for the browser', async () => {
    const out = await build({
      stdin: { contents: "export { checkReceipt, parseGroup } from 'sintra-edge/verify';", resolveDir: app, loader: 'js' },
      bundle: true,
      platform: 'browser',
      format: 'esm',
      write: false,
      metafile: true,
      logLevel: 'silent',
    });
    const inputs = Object.keys(out.metafile.inputs);
    expect(inputs.some((f) => f.includes('node_modules/sintra-edge/dist/shared/log/receipt-check.js'))).toBe(true);
    expect(inputs.filter((f) => f.startsWith('node:'))).toEqual([]);
  });
});
