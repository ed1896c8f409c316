import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

/**
 * `npm run soak` only: the long soak (test/soak/soak.run.ts). The default `vitest run` (vitest.config.ts) never
 * picks it up — its name is not *.test.ts — and runs the short forms in test/soak/*.test.ts instead.
 */
export default defineConfig({
  root: fileURLToPath(new URL('../..', import.meta.url)),
  test: {
    include: ['test/soak/soak.run.ts'],
    // The same check as the default run (a process the soak started and left alive fails it), and a snapshot of
    // dist/ for the soak's processes (test/soak/snapshot-dist.ts).
    globalSetup: ['test/global-setup.ts', 'test/soak/snapshot-dist.ts'],
    fileParallelism: false,
    testTimeout: 45 * 60_000,
    hookTimeout: 120_000,
  },
});
