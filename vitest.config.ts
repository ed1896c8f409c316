import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Fails the run when a process a test started is still alive at the end (test/helpers/children.ts records them).
    globalSetup: ['test/global-setup.ts'],
    // End-to-end files start real processes and servers; running them one at a time keeps the 2-core CI honest.
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
