import type { RateClock } from '../../src/sender/rate-budget.js';

/**
 * Simulated time for code that waits through a RateClock: `sleep` registers a timer, `advance`/`runUntil` move time
 * from timer to timer and let every promise continuation run before the next one (one setImmediate drains the
 * microtask queue). Nothing waits on the wall clock, so hours of simulated traffic take seconds.
 */

interface Timer {
  at: number;
  seq: number;
  resolve: () => void;
  done: boolean;
}

export class SimClock implements RateClock {
  private t: number;
  private seq = 0;
  private readonly heap: Timer[] = [];
  /** Timers fired so far: a bound for runaway loops. */
  fired = 0;

  constructor(start = 0) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      const timer: Timer = { at: this.t + Math.max(0, ms), seq: this.seq++, resolve, done: false };
      const onAbort = (): void => {
        timer.done = true;
        resolve();
      };
      timer.resolve = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.push(timer);
    });
  }

  /** Lets promise continuations of what just happened run, without moving time. */
  async settle(): Promise<void> {
    await new Promise<void>((resolve) => setImmediate(resolve));
  }

  /** Runs timers up to `until` (inclusive), then sets the clock there. At most `maxTimers` timers, or it throws. */
  async runUntil(until: number, maxTimers = 5_000_000): Promise<void> {
    await this.settle();
    for (;;) {
      const head = this.heap[0];
      if (!head || head.at > until) break;
      this.t = Math.max(this.t, head.at);
      // Every timer due at this instant, then one drain of the continuations they started.
      while (this.heap[0] && (this.heap[0] as Timer).at <= this.t) {
        const timer = this.pop();
        if (timer.done) continue;
        timer.done = true;
        if (++this.fired > maxTimers) throw new Error(`simulation ran more than ${maxTimers} timers`);
        timer.resolve();
      }
      await this.settle();
    }
    this.t = Math.max(this.t, until);
    await this.settle();
  }

  advance(ms: number): Promise<void> {
    return this.runUntil(this.t + ms);
  }

  /** Timers still pending (cancelled ones excluded). */
  pending(): number {
    return this.heap.filter((t) => !t.done).length;
  }

  private before(a: Timer, b: Timer): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }

  private push(timer: Timer): void {
    const h = this.heap;
    h.push(timer);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(h[i] as Timer, h[parent] as Timer)) break;
      [h[i], h[parent]] = [h[parent] as Timer, h[i] as Timer];
      i = parent;
    }
  }

  private pop(): Timer {
    const h = this.heap;
    const top = h[0] as Timer;
    const last = h.pop() as Timer;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && this.before(h[l] as Timer, h[m] as Timer)) m = l;
        if (r < h.length && this.before(h[r] as Timer, h[m] as Timer)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m] as Timer, h[i] as Timer];
        i = m;
      }
    }
    return top;
  }
}
