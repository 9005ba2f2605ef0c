import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // test/workerd/*.{workerd,miniflare}.test.ts run in workerd: `npm run test:workerd` (vitest.workers.config.ts).
    exclude: ['test/**/*.soak.test.ts', 'test/replica-do/**', 'test/workerd/**/*.workerd.test.ts', 'test/workerd/**/*.miniflare.test.ts', 'node_modules/**'],
    // Two files at a time: vitest's default is one fewer than the cores, one worker on the 2-core CI machine
    // (the whole suite then ran file after file: 887 s of vitest alone in a loaded run).
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
