import { defineConfig } from 'vitest/config';

/**
 * Long simulator soaks (`npm run test:soak`): test/**\/*.soak.test.ts only, each file in its own forked
 * process, two at a time. A soak test may run for many minutes; each prints one summary line per batch.
 */
export default defineConfig({
  test: {
    include: ['test/**/*.soak.test.ts'],
    exclude: ['node_modules/**'],
    environment: 'node',
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 30 * 60_000,
    hookTimeout: 60_000,
  },
});
