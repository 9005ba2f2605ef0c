#!/usr/bin/env node
// `npm run build` (also run by `npm pack` through prepack): tsc emits ES modules and type declarations into
// dist/ (tsconfig.build.json): the package's entry points shared/entry/index.ts (`sintra-edge`) and
// shared/entry/verify.ts (`sintra-edge/verify`), the CLI infra/cli/main.ts, and everything they import,
// also lazily (dist/ mirrors the source tree). Relative imports are rewritten from .ts to .js in the
// JavaScript by tsc (rewriteRelativeImportExtensions) and here in the declarations, so that consumers on
// any TypeScript version resolve them. Only dist/shared, dist/workers and dist/infra are replaced: other
// things people put in dist/ (docs/operations.md bundles a Lambda into dist/lambda) stay.
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const dist = join(root, 'dist');
const EMITTED = ['shared', 'workers', 'infra'];

for (const d of EMITTED) rmSync(join(dist, d), { recursive: true, force: true });

const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const run = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { cwd: root, stdio: 'inherit' });
if (run.status !== 0) {
  process.stderr.write('build: tsc failed (type errors above); nothing is complete in dist/\n');
  process.exit(run.status ?? 1);
}

/** `from './x.ts'`, `import('./x.ts')`: relative specifiers only; package names are left alone. */
const TS_SPECIFIER = /((?:from|import)\s*\(?\s*['"])(\.\.?\/[^'"]*?)\.ts(['"])/g;
let declarations = 0;
function rewrite(dir) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, e.name);
    if (e.isDirectory()) rewrite(path);
    else if (e.name.endsWith('.d.ts')) {
      const text = readFileSync(path, 'utf8');
      const out = text.replace(TS_SPECIFIER, '$1$2.js$3');
      if (out !== text) writeFileSync(path, out);
      declarations++;
    }
  }
}
for (const d of EMITTED) rewrite(join(dist, d));
process.stdout.write(`build: dist/ holds ES modules and ${declarations} declaration files (${EMITTED.map((d) => `dist/${d}`).join(', ')})\n`);
