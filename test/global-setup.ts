import { randomUUID } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { groupAlive, processAlive } from './helpers/liveness.js';

/**
 * The test run leaves no process behind. Test files (in worker processes) record each process they start in a file
 * of this run (test/helpers/children.ts); at the end, any still alive is killed and the run fails, naming them.
 */

type Entry = { pid: number; group: boolean; command: string } | { exited: number };

/** How long a process that was just sent a signal gets to finish exiting before it counts as left behind. */
const SETTLE_MS = 5000;

function alive(entry: { pid: number; group: boolean }): boolean {
  return entry.group ? groupAlive(entry.pid) : processAlive(entry.pid);
}

export function survivors(file: string): { pid: number; group: boolean; command: string }[] {
  const entries = readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as Entry);
  const exited = new Set(entries.flatMap((e) => ('exited' in e ? [e.exited] : [])));
  return entries.flatMap((e) => ('exited' in e || (!e.group && exited.has(e.pid)) ? [] : [e])).filter(alive);
}

export default function setup(project: TestProject): () => Promise<void> {
  const file = join(tmpdir(), `pcm-sidecar-test-children-${process.pid}-${randomUUID()}.jsonl`);
  writeFileSync(file, '');
  project.provide('childrenFile', file);
  return async () => {
    try {
      let left = survivors(file);
      for (let waited = 0; left.length > 0 && waited < SETTLE_MS; waited += 100) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        left = survivors(file);
      }
      if (left.length === 0) return;
      for (const { pid, group } of left) {
        try {
          process.kill(group ? -pid : pid, 'SIGKILL');
        } catch {
          // gone in the meantime
        }
      }
      // vitest reports an error thrown here but would still exit 0.
      process.exitCode = 1;
      throw new Error(
        `the tests left ${left.length} process(es) running (now killed):\n${left.map((p) => `  ${p.group ? 'group ' : ''}${p.pid}: ${p.command}`).join('\n')}`,
      );
    } finally {
      rmSync(file, { force: true });
    }
  };
}
