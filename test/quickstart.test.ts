import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import type { EmulatorStats } from '../src/emulator/emulator.js';
import { trackChild } from './helpers/children.js';
import { adminJson } from './helpers/admin.js';
import { eventually, getJson } from './helpers/http.js';
import { groupAlive } from './helpers/liveness.js';
import { tempDir } from './helpers/pki.js';

const run = promisify(execFile);
const REPO = fileURLToPath(new URL('..', import.meta.url));

/**
 * The README's quick start, from a fresh clone in an empty directory: `npm install && npm start`, then the curl
 * example it prints. `npm test` from a fresh clone is what CI itself runs (.ci/run), so it is not repeated here.
 */
describe('quick start from a fresh clone', () => {
  it('npm install && npm start runs the demo, and its printed curl example pairs at the emulator', async () => {
    const dir = await tempDir('clone');
    const clone = join(dir, 'pcm-sidecar');
    await run('git', ['clone', '--quiet', REPO, clone]);
    await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline'], { cwd: clone, timeout: 600_000 });

    const { spawn } = await import('node:child_process');
    // Its own process group: npm starts node, and the stop below must reach both.
    const demo = spawn('npm', ['start'], { cwd: clone, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    trackChild(demo, ['npm', 'start', `(in ${clone})`], { group: true });
    let output = '';
    demo.stdout.on('data', (d: Buffer) => (output += d.toString()));
    demo.stderr.on('data', (d: Buffer) => (output += d.toString()));
    try {
      await eventually(async () => (output.includes('See what happened') ? true : undefined), 60_000);
      const curl = /curl -s -X POST (\S+) -H 'content-type: application\/json' \\\n\s+--data '(.+)'/.exec(output);
      expect(curl, output).not.toBeNull();
      const { stdout } = await run('curl', ['-s', '-X', 'POST', curl![1]!, '-H', 'content-type: application/json', '--data', curl![2]!]);
      expect(JSON.parse(stdout)).toEqual({ accepted: 2, duplicates: 0, warnings: 0 });

      const ca = await readFile(join(clone, '.pcm-demo', 'pki', 'ca.pem'));
      const stats = await eventually(async () => {
        const { body } = await getJson<EmulatorStats>('https://127.0.0.1:8443/emulator/stats', ca);
        return body.reports.ACCEPTED === 2 ? body : undefined;
      }, 30_000);
      expect(stats.distinctFapiInteractionIds).toBe(1);
      const token = (await readFile(join(clone, '.pcm-demo', 'admin-token'), 'utf8')).trim();
      const status = await adminJson<{ spool: { accepted: number } }>('http://127.0.0.1:9431/v1/status', { token });
      expect(status.body.spool.accepted).toBe(2);
    } finally {
      await stopGroup(demo.pid!);
    }
  }, 900_000);
});

/** SIGTERM to the whole group (npm and the demo it started), and every member gone; SIGKILL and fail if not. */
async function stopGroup(pgid: number): Promise<void> {
  const signal = (name: NodeJS.Signals): void => {
    try {
      process.kill(-pgid, name);
    } catch {
      // the group is gone already
    }
  };
  if (!groupAlive(pgid)) return;
  signal('SIGTERM');
  for (let i = 0; i < 300 && groupAlive(pgid); i++) await new Promise((resolve) => setTimeout(resolve, 100));
  if (!groupAlive(pgid)) return;
  signal('SIGKILL');
  throw new Error('npm start (the demo) was still running 30 s after SIGTERM');
}
