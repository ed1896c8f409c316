import { existsSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The sources' root: src/ (the test runner) or dist/ (the build). */
const ROOT = dirname(fileURLToPath(import.meta.url));

/**
 * The file a worker thread runs, given as `new URL('./x-worker.js', import.meta.url)`. Running from the TypeScript
 * sources (the test runner) there is none beside the caller: the compiled one in dist/, which `npm test` builds first.
 */
export function workerFile(url: URL): string {
  const here = fileURLToPath(url);
  return existsSync(here) ? here : join(ROOT, '..', 'dist', relative(ROOT, here));
}
