import { cpSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Global setup of `npm run soak` (test/soak/vitest.config.ts): the soak starts the CLI a few hundred times over
 * several minutes, and another build in the same tree (an `npm test`'s pretest) rewrites dist/ file by file meanwhile;
 * a process started in that window loads two builds at once and dies on a missing export. So the soak runs a
 * snapshot of dist/, taken right after its own build, through PCM_TEST_CLI (test/helpers/processes.ts). The
 * snapshot keeps dist's place relative to data/ and node_modules/ (symlinks) and package.json (ESM).
 */
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export default function setup(): () => void {
  const dir = mkdtempSync(join(tmpdir(), 'pcm-soak-dist-'));
  cpSync(join(ROOT, 'dist'), join(dir, 'dist'), { recursive: true });
  cpSync(join(ROOT, 'package.json'), join(dir, 'package.json'));
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  symlinkSync(join(ROOT, 'data'), join(dir, 'data'), 'dir');
  process.env.PCM_TEST_CLI = join(dir, 'dist', 'cli.js');
  return () => rmSync(dir, { recursive: true, force: true });
}
