import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { NODE_FLAGS } from '../../src/node-flags.js';
import { trackChild } from './children.js';

/**
 * The built CLI. PCM_TEST_CLI names another copy: `npm run soak` runs a snapshot of dist/ (test/soak/snapshot-dist.ts),
 * so a build in the same tree during a long run cannot start a process from half-written files.
 */
export const CLI = process.env.PCM_TEST_CLI || fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

export interface Proc {
  child: ChildProcess;
  lines: string[];
  /** Resolves with the first stdout/stderr line matching, waiting at most `timeoutMs`. */
  waitFor(match: (line: string) => boolean, timeoutMs?: number): Promise<string>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Runs the built CLI (`npm test` builds first) as a separate process, collecting its output lines; with the V8 flags
 * the image starts it with (src/node-flags.ts).
 */
export function startCli(args: string[], env: Record<string, string> = {}): Proc {
  const child = spawn(process.execPath, [...NODE_FLAGS, CLI, ...args], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  trackChild(child, ['pcm-sidecar', ...args]);
  const lines: string[] = [];
  const waiters: { match: (line: string) => boolean; resolve: (line: string) => void }[] = [];
  const onLine = (line: string): void => {
    lines.push(line);
    for (const w of [...waiters]) {
      if (w.match(line)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line);
      }
    }
  };
  createInterface({ input: child.stdout! }).on('line', onLine);
  createInterface({ input: child.stderr! }).on('line', onLine);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return {
    child,
    lines,
    exited,
    waitFor(match, timeoutMs = 30_000) {
      const seen = lines.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out waiting for output; got:\n${lines.slice(-20).join('\n')}`)), timeoutMs);
        waiters.push({ match, resolve: (line) => (clearTimeout(timer), resolve(line)) });
        void exited.then(({ code, signal }) => {
          clearTimeout(timer);
          reject(new Error(`process exited (${code ?? signal}) before the expected output; got:\n${lines.slice(-20).join('\n')}`));
        });
      });
    },
  };
}

/** The value of `key` in the first JSON log line that has it. */
export async function waitForLogValue(proc: Proc, key: string, timeoutMs?: number): Promise<string> {
  const line = await proc.waitFor((l) => l.startsWith('{') && l.includes(`"${key}"`), timeoutMs);
  return (JSON.parse(line) as Record<string, string>)[key] as string;
}

export async function stopProc(proc: Proc, signal: NodeJS.Signals = 'SIGTERM'): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill(signal);
  return proc.exited;
}
