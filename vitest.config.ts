import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // test/workerd/*.{workerd,miniflare}.test.ts run in workerd: `npm run test:workerd` (vitest.workers.config.ts).
    exclude: ['test/**/*.soak.test.ts', 'test/replica-do/**', 'test/workerd/**/*.workerd.test.ts', 'test/workerd/**/*.miniflare.test.ts', 'node_modules/**'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
