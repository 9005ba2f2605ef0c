/**
 * What the project ships and points at: `npm pack` takes the allowlist in package.json (the CLI's launcher,
 * the JavaScript and declarations `npm run build` emits into dist/, docs, LICENSE, SECURITY.md), never
 * TypeScript source, tests or anything the docs have users create in a checkout (keys, secrets,
 * deploy/build output), and .gitignore keeps those out of git too; no tracked file points at documents
 * outside the repository; and the route modules of workers/core do not import the app that composes
 * them. test/integration/pack-install.test.ts packs and installs the package for real.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');

describe('package contents and references', () => {
  it('npm pack ships the CLI launcher, the build output, LICENSE and SECURITY.md, and no source, tests, keys or secrets', () => {
    // --ignore-scripts: no build here, so dist/ is listed only if a build left it in the checkout.
    const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8' });
    const files = (JSON.parse(out) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path);
    for (const f of ['infra/bin/sintra.mjs', 'docs/api.md', 'LICENSE', 'SECURITY.md', 'README.md', 'package.json']) expect(files).toContain(f);
    const bad = files.filter((f) => /^(test|scratch|node_modules|\.sintra|keys|keys-[^/]*|deploy|build|bench-results|dist\/lambda)\//.test(f) || /\.secrets\.json$|\.key$|\.log$/.test(f));
    expect(bad).toEqual([]);
    // The installed CLI runs the built JavaScript: infra/bin/sintra.mjs takes the source (tsx) only beside it.
    expect(files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
    const pkg = JSON.parse(readFileSync(resolve(ROOT, 'package.json'), 'utf8')) as { files: string[]; exports: Record<string, { types: string; default: string } | string>; bin: Record<string, string> };
    for (const [name, target] of Object.entries(pkg.exports)) {
      for (const path of typeof target === 'string' ? [target] : [target.types, target.default]) {
        expect(pkg.files.some((f) => path.replace(/^\.\//, '').startsWith(f)) || path === './package.json', `${name}: ${path}`).toBe(true);
      }
    }
    expect(Object.values(pkg.bin)).toEqual(['infra/bin/sintra.mjs']);
    expect(readFileSync(resolve(ROOT, 'LICENSE'), 'utf8')).toContain('Apache License');
    expect(JSON.parse(readFileSync(resolve(ROOT, 'package.json'), 'utf8')).license).toBe('Apache-2.0');
  });

  it.skipIf(!existsSync(resolve(ROOT, '.git')))('.gitignore covers what the docs have users create in the checkout (git check-ignore), and nothing of the project', () => {
    // README, docs/operations.md, docs/deploy.md, terraform/README.md: deal --out keys/ (and keys-grid/, with
    // --rsa its .pem files), <id>.secrets.json, ca keygen --out alice.key, deploy-config --out deploy,
    // wrangler --outdir build/worker, sintra start's .sintra/, npm run build's dist/.
    const created = [
      'keys/group.json',
      'keys/r1.secrets.json',
      'keys/root-ca.pem',
      'keys-grid/group.json',
      'keys-prod/zrh-linux.secrets.json',
      'r1.secrets.json',
      'elsewhere/r2.secrets.json',
      'alice.key',
      'people/bob.key',
      'deploy/r1/wrangler.toml',
      'build/worker/index.js',
      '.sintra/keys/group.json',
      '.sintra/state/replica-0.sqlite',
      'dist/shared/entry/index.js',
    ];
    const project = ['README.md', 'docs/api.md', 'test/fixtures/grid-4x4.json', 'infra/build/build.mjs', 'infra/dealer/dealer.ts', 'terraform/README.md', 'package.json'];
    const check = (paths: string[]) => {
      // --no-index: as for a new file, whether tracked or not; exit 1 when none of the paths is ignored.
      const r = spawnSync('git', ['check-ignore', '--no-index', ...paths], { cwd: ROOT, encoding: 'utf8' });
      expect([0, 1], r.stderr).toContain(r.status);
      return r.stdout.split('\n').filter((l) => l !== '');
    };
    expect(check(created).sort()).toEqual([...created].sort());
    expect(check(project)).toEqual([]);
  });

  it('workers/core: route modules import the leaf http.ts, never app.ts (the composition root); no import cycle among its modules', () => {
    const dir = resolve(ROOT, 'workers/core');
    const modules = readdirSync(dir).filter((f) => f.endsWith('.ts'));
    for (const f of ['ca-routes.ts', 'notary-routes.ts', 'tile-routes.ts', 'http.ts', 'openapi.ts', 'cors.ts']) expect(modules).toContain(f);
    // Every module but app.ts itself (new route families included, not only a list of today's).
    const imports = new Map<string, string[]>();
    for (const f of modules) {
      const text = readFileSync(resolve(dir, f), 'utf8');
      if (f !== 'app.ts') expect(text, f).not.toMatch(/from '\.\/app\.ts'/);
      // Value imports among workers/core's own modules (a type-only import leaves no runtime edge).
      imports.set(f, [...text.matchAll(/^import (?!type )[^;]*?from '\.\/([^']+\.ts)'/gm)].map((m) => m[1]!).filter((t) => modules.includes(t)));
    }
    const state = new Map<string, 'open' | 'done'>();
    const visit = (f: string, path: string[]): void => {
      if (state.get(f) === 'done') return;
      expect(state.get(f), `import cycle: ${[...path, f].join(' -> ')}`).not.toBe('open');
      state.set(f, 'open');
      for (const t of imports.get(f) ?? []) visit(t, [...path, f]);
      state.set(f, 'done');
    };
    for (const f of modules) visit(f, []);
  });

  it('no tracked file points at documents outside the repository', () => {
    const tracked = execFileSync('git', ['ls-files'], { cwd: ROOT, encoding: 'utf8' }).split('\n').filter((f) => /\.(ts|mjs|js|md|toml|tf|json|yml|yaml)$/.test(f) && f !== 'package-lock.json');
    const offenders: string[] = [];
    for (const f of tracked) {
      const text = readFileSync(resolve(ROOT, f), 'utf8');
      // The founding notes beside the checkout are background for its developers, not part of the project.
      if (/\b(DESIGN|PLATFORM)\.md\b|\.\.\/shared\/(DESIGN|PLATFORM|hooks)/.test(text)) offenders.push(f);
    }
    expect(offenders).toEqual([]);
  });
});
