import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { survivors } from './global-setup.js';
import { trackChild } from './helpers/children.js';
import { tempDir } from './helpers/pki.js';

/** The run's global teardown (test/global-setup.ts) finds every process a test left behind, group members included. */

const started: { child: ChildProcess; group: boolean }[] = [];

function start(command: string, args: string[], group: boolean): ChildProcess {
  const child = spawn(command, args, { stdio: 'ignore', detached: group });
  trackChild(child, [command, ...args], { group });
  started.push({ child, group });
  return child;
}

function record(file: string, entry: object): void {
  appendFileSync(file, `${JSON.stringify(entry)}\n`);
}

async function until(check: () => boolean): Promise<boolean> {
  for (let i = 0; i < 100 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 100));
  return check();
}

afterEach(() => {
  for (const { child, group } of started.splice(0)) {
    try {
      process.kill(group ? -child.pid! : child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

describe('global teardown: processes left behind', () => {
  it('names a live child, and not one that has exited', async () => {
    const file = join(await tempDir('teardown'), 'children.jsonl');
    writeFileSync(file, '');
    const live = start('sleep', ['60'], false);
    const done = start('true', [], false);
    await new Promise((resolve) => done.once('exit', resolve));
    record(file, { pid: live.pid, group: false, command: 'sleep 60' });
    record(file, { pid: done.pid, group: false, command: 'true' });
    record(file, { exited: done.pid });
    expect(survivors(file).map((s) => s.command)).toEqual(['sleep 60']);
    live.kill('SIGKILL');
    await new Promise((resolve) => live.once('exit', resolve));
    expect(await until(() => survivors(file).length === 0)).toBe(true);
  });

  it('names a process group whose leader exited while a member lives on (npm start → node)', async () => {
    const file = join(await tempDir('teardown'), 'children.jsonl');
    writeFileSync(file, '');
    const leader = start('sh', ['-c', 'sleep 60 & echo started; wait'], true);
    record(file, { pid: leader.pid, group: true, command: 'sh -c …' });
    // The leader goes; its sleep (same group) stays.
    await new Promise((resolve) => setTimeout(resolve, 200));
    leader.kill('SIGKILL');
    await new Promise((resolve) => leader.once('exit', resolve));
    record(file, { exited: leader.pid });
    expect(survivors(file).map((s) => s.command)).toEqual(['sh -c …']);
    process.kill(-leader.pid!, 'SIGKILL');
    expect(await until(() => survivors(file).length === 0)).toBe(true);
  });
});
