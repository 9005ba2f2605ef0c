/**
 * What the project ships and points at: `npm pack` takes the allowlist in package.json (the CLI, the code
 * it runs, docs, LICENSE, SECURITY.md), never tests or anything the docs have users create in a checkout
 * (keys, secrets, deploy/build output); no tracked file points at documents outside the repository; and
 * the route modules of workers/core do not import the app that composes them.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');

describe('package contents and references', () => {
  it('npm pack ships the CLI, LICENSE and SECURITY.md, and no tests, keys or secrets', () => {
    const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8' });
    const files = (JSON.parse(out) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path);
    for (const f of ['infra/bin/sintra.mjs', 'infra/cli/main.ts', 'shared/client/sdk.ts', 'LICENSE', 'SECURITY.md', 'README.md', 'package.json']) expect(files).toContain(f);
    const bad = files.filter((f) => /^(test|scratch|node_modules|\.sintra|keys|keys-[^/]*|deploy|build|bench-results)\//.test(f) || /\.secrets\.json$|\.key$|\.log$/.test(f));
    expect(bad).toEqual([]);
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
