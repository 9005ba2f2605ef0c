/**
 * What the project ships and points at: `npm pack` takes the allowlist in package.json (the CLI's launcher,
 * the JavaScript and declarations `npm run build` emits into dist/, docs, LICENSE, SECURITY.md), never
 * TypeScript source, tests or anything the docs have users create in a checkout (keys, secrets,
 * deploy/build output); no tracked file points at documents outside the repository; and the route modules
 * of workers/core do not import the app that composes them. test/integration/pack-install.test.ts packs
 * and installs the package for real.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
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

  it('workers/core: route modules import the leaf http.ts, never app.ts (the composition root)', () => {
    for (const f of ['ca-routes.ts', 'notary-routes.ts', 'http.ts', 'openapi.ts', 'cors.ts', 'health.ts', 'prometheus.ts', 'admission.ts']) {
      const text = readFileSync(resolve(ROOT, 'workers/core', f), 'utf8');
      expect(text, f).not.toMatch(/from '\.\/app\.ts'/);
    }
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
