import { readdirSync, readFileSync } from 'node:fs';

/** Whether a process exists, counting an exited one its parent has not collected (a zombie) as gone. */

/** State and process group of `pid` from /proc (Linux), or null when it is gone or /proc is not there. */
function statOf(pid: number): { state: string; pgrp: number } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) state ppid pgrp …": comm may hold spaces and parentheses, so read after the last ')'.
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: state ?? '', pgrp: Number(pgrp) };
  } catch {
    return null;
  }
}

function signalReaches(target: number): boolean {
  try {
    process.kill(target, 0);
    return true;
  } catch {
    // ESRCH: gone; EPERM: a process of someone else's (a reused pid), not ours.
    return false;
  }
}

export function processAlive(pid: number): boolean {
  if (!signalReaches(pid)) return false;
  const stat = statOf(pid);
  return stat === null ? true : stat.state !== 'Z';
}

/** Whether any process of group `pgid` is alive (zombies aside: a PID 1 that reaps nothing must not count). */
export function groupAlive(pgid: number): boolean {
  if (!signalReaches(-pgid)) return false;
  let pids: number[];
  try {
    pids = readdirSync('/proc').filter((name) => /^\d+$/.test(name)).map(Number);
  } catch {
    return true;
  }
  return pids.some((pid) => {
    const stat = statOf(pid);
    return stat !== null && stat.pgrp === pgid && stat.state !== 'Z';
  });
}
