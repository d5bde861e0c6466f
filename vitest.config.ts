import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Native addons: one process per test file, not worker threads sharing one addon instance.
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
