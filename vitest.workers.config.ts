/**
 * Tests of shared/crypto in workerd (the Cloudflare Workers runtime). Run: `npm run test:workerd`
 * (= `vitest run --config vitest.workers.config.ts`). Two projects:
 *
 * - `workerd-pool`: test/workerd/*.workerd.test.ts run INSIDE workerd through @cloudflare/vitest-pool-workers
 *   0.15 (vitest 4 API: the `cloudflareTest` Vite plugin, not the old `defineWorkersConfig`). Inline Miniflare
 *   options only, so nothing depends on a wrangler.toml; no `main`, the tests import shared/crypto directly.
 *   We ask for no compatibility flags, but the pool itself adds nodejs_compat_v2 (and node module flags).
 * - `replica-do`: test/replica-do/*.test.ts run inside workerd against the real replica Worker
 *   (workers/cloudflare/worker.ts) and its SQLite Durable Object, with a seeded test group's secrets.
 * - `workerd-plain`: test/workerd/*.miniflare.test.ts run in Node, bundle a test worker with esbuild and run
 *   it with `new Miniflare` and NO compatibility flags at all.
 *
 * The workerd binary in miniflare 4.20260426 rejects compatibility dates after 2026-05-03.
 */
import { cloudflareTest } from '@cloudflare/vitest-pool-workers';
import { defineConfig } from 'vitest/config';
import { replicaBindings } from './test/replica-do/fixture.ts';

// BigInt-heavy crypto: generous limits (docs/design.md section 14: loops in the pool can be 5-10x slower
// than Node).
const timeouts = { testTimeout: 120_000, hookTimeout: 120_000 };

export default defineConfig({
  test: {
    projects: [
      {
        plugins: [cloudflareTest({ miniflare: { compatibilityDate: '2026-05-01' } })],
        test: { name: 'workerd-pool', include: ['test/workerd/**/*.workerd.test.ts'], ...timeouts },
      },
      {
        plugins: [
          cloudflareTest({
            main: './workers/cloudflare/worker.ts',
            miniflare: {
              compatibilityDate: '2026-05-01',
              bindings: replicaBindings(),
              durableObjects: { REPLICA: { className: 'ReplicaObject', useSQLite: true } },
            },
          }),
        ],
        test: { name: 'replica-do', include: ['test/replica-do/**/*.test.ts'], ...timeouts },
      },
      {
        test: { name: 'workerd-plain', include: ['test/workerd/**/*.miniflare.test.ts'], environment: 'node', ...timeouts },
      },
    ],
  },
});
