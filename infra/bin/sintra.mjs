#!/usr/bin/env node
// Entry point of the `sintra` CLI. In a checkout of the repository (infra/cli/main.ts is beside this file)
// tsx runs the TypeScript source, so an edit needs no build and a stale dist/ is never used. The installed
// package (`npm pack`: package.json "files") has no TypeScript source, only the JavaScript that
// `npm run build` emitted into dist/: it runs that, with no tsx or other dev dependency.
import { existsSync } from 'node:fs';

const source = new URL('../cli/main.ts', import.meta.url);
let main;
if (existsSync(source)) {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import(source.href));
} else {
  ({ main } = await import('../../dist/infra/cli/main.js'));
}
process.exitCode = await main(process.argv);
