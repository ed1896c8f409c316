import { readFileSync } from 'node:fs';

/**
 * Peak resident memory of processes the soak started, from /proc/<pid>/status (Linux): VmRSS sampled at an interval
 * while they run, and VmHWM (the kernel's own high-water mark of VmRSS) read at each sample, so a peak between two
 * samples still counts once the next sample lands. A process that is gone simply stops being sampled.
 */

/** VmRSS and VmHWM of `pid` in KiB, or null when it is gone or /proc is not there. */
export function memoryOf(pid: number): { rssKiB: number; hwmKiB: number } | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return null;
  }
  const field = (name: string): number => {
    const match = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text);
    return match ? Number(match[1]) : 0;
  };
  return { rssKiB: field('VmRSS'), hwmKiB: field('VmHWM') };
}

export class RssSampler {
  private readonly pids = new Set<number>();
  private peakKiB = 0;
  private samples = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly intervalMs = 100) {}

  /** Samples `pid` from now on until it is gone or unwatched. */
  watch(pid: number | undefined): void {
    if (pid === undefined) return;
    this.pids.add(pid);
    this.sampleOne(pid);
    if (!this.timer) {
      this.timer = setInterval(() => this.sample(), this.intervalMs);
      this.timer.unref();
    }
  }

  /** One last sample (the high-water mark up to now), then no more of `pid`. */
  unwatch(pid: number | undefined): void {
    if (pid === undefined) return;
    this.sampleOne(pid);
    this.pids.delete(pid);
  }

  sample(): void {
    for (const pid of this.pids) this.sampleOne(pid);
  }

  private sampleOne(pid: number): void {
    const memory = memoryOf(pid);
    if (!memory) {
      this.pids.delete(pid);
      return;
    }
    this.samples++;
    this.peakKiB = Math.max(this.peakKiB, memory.rssKiB, memory.hwmKiB);
  }

  get peakMiB(): number {
    return this.peakKiB / 1024;
  }

  get sampleCount(): number {
    return this.samples;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.pids.clear();
  }
}

/** CPU time (user + system) `pid` has used so far, in seconds, or null when it is gone. Linux clock ticks are 1/100 s. */
export function cpuSecondsOf(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after "pid (comm) ": state is field 3, utime 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return null;
  }
}
