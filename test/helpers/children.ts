import type { ChildProcess } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { inject } from 'vitest';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The file in which this run records the processes its tests start (test/global-setup.ts checks it at the end). */
    childrenFile: string;
  }
}

function childrenFile(): string | undefined {
  try {
    return inject('childrenFile');
  } catch {
    return undefined;
  }
}

/**
 * Records a process a test started, so the run's global teardown fails if it is still alive at the end. `group`: the
 * child leads a process group (spawned with `detached: true`) whose members all must be gone, e.g. `npm start` and
 * the node it starts.
 */
export function trackChild(child: ChildProcess, command: readonly string[], options: { group?: boolean } = {}): void {
  const file = childrenFile();
  const pid = child.pid;
  if (!file || pid === undefined) return;
  const group = options.group ?? false;
  appendFileSync(file, `${JSON.stringify({ pid, group, command: command.join(' ') })}\n`);
  // A group may outlive its leader; a single process is gone once it has exited.
  if (!group) child.once('exit', () => appendFileSync(file, `${JSON.stringify({ exited: pid })}\n`));
}
