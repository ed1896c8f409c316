import { Agent, request } from 'undici';
import type { Proc } from '../helpers/processes.js';

/** Small pieces shared by the soak scenarios (test/soak/conservation.ts, fuzz.ts) and their runner. */

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Adds `n` to `counts[key]`. */
export function bump(counts: Record<string, number>, key: string, n = 1): void {
  counts[key] = (counts[key] ?? 0) + n;
}

export function mergeCounts(into: Record<string, number>, from: Record<string, number> | undefined): void {
  for (const [key, n] of Object.entries(from ?? {})) bump(into, key, n);
}

/**
 * Watches a process's collected output lines (Proc.lines grows for the process's life): counts error-level JSON log
 * lines as they arrive and drops old lines, so a long run does not keep every line in memory.
 */
export class LogWatch {
  errors = 0;
  readonly samples: string[] = [];
  private seen = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly proc: Proc,
    private readonly keep = 200,
  ) {
    this.timer = setInterval(() => this.scan(), 250);
    this.timer.unref();
  }

  scan(): void {
    const { lines } = this.proc;
    for (; this.seen < lines.length; this.seen++) {
      const line = lines[this.seen] ?? '';
      // pino: 50 error, 60 fatal.
      if (/"level":(50|60)\b/.test(line)) {
        this.errors++;
        if (this.samples.length < 5) this.samples.push(line.slice(0, 500));
      }
    }
    if (lines.length > this.keep * 2) {
      lines.splice(0, lines.length - this.keep);
      this.seen = lines.length;
    }
  }

  stop(): void {
    this.scan();
    clearInterval(this.timer);
  }
}

/** JSON over HTTPS to the emulator's control routes, trusting the test CA; one connection pool for the whole run. */
export class EmulatorControl {
  private readonly agent: Agent;

  constructor(
    private readonly url: string,
    ca: Buffer,
  ) {
    this.agent = new Agent({ connect: { ca }, connections: 2 });
  }

  async call<T>(method: 'GET' | 'PUT' | 'POST', path: string, body?: unknown): Promise<T> {
    const res = await request(`${this.url}${path}`, {
      method,
      dispatcher: this.agent,
      headersTimeout: 60_000,
      bodyTimeout: 60_000,
      ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
    });
    const text = await res.body.text();
    if (res.statusCode !== 200) throw new Error(`${method} ${path}: ${res.statusCode} ${text.slice(0, 300)}`);
    return JSON.parse(text) as T;
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}

export function formatInt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

export function formatCounts(counts: Record<string, number>): string {
  const keys = Object.keys(counts).sort((a, b) => {
    const [na, nb] = [Number(a), Number(b)];
    if (Number.isFinite(na) && Number.isFinite(nb)) return na - nb;
    if (Number.isFinite(na)) return -1;
    if (Number.isFinite(nb)) return 1;
    return a.localeCompare(b);
  });
  return keys.map((k) => `${k}: ${formatInt(counts[k] ?? 0)}`).join(', ');
}

export function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  return s >= 60 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${s} s`;
}
