import { RateWaitAbortedError } from '../errors.js';
import { sleep } from './backoff.js';

/**
 * One token bucket for every call this process makes to the PCM, whichever lane or host it goes to: the PCM answers
 * 429 above 300 requests/s for the whole participant, so calls are budgeted per process, and the fleet rule (README,
 * "Rate budget") divides the participant's budget between processes.
 *
 * - `rate` permits per second, up to `burst` saved up; callers wait in one FIFO queue, so lanes share it fairly.
 * - AIMD: a 429 multiplies the rate by `decrease` (once per `decreaseHoldMs`: the PCM counts per second, so the 429s
 *   of one second are one overload); each 2xx adds `increase` × the configured rate back, up to it.
 * - A Retry-After blocks every call until it has passed.
 * - The bucket starts, and restarts after a 429, at a random level below one permit: processes that start or were
 *   throttled together spread their next calls over one permit interval instead of sending them in the same second.
 */

/** The kinds of call, counted apart so a reconciliation share can be set aside later. */
export type RateCall = 'report' | 'token' | 'reconcile';
export const RATE_CALLS: readonly RateCall[] = ['report', 'token', 'reconcile'];

/** Time as the budget sees it; tests pass a simulated one. `sleep` resolves early when `signal` aborts. */
export interface RateClock {
  now(): number;
  sleep(ms: number, signal: AbortSignal): Promise<void>;
}

export const systemClock: RateClock = { now: () => Date.now(), sleep };

export interface RateBudgetOptions {
  /** Permits per second when the PCM does not push back. */
  rate: number;
  /** Permits that can be saved up while idle. */
  burst: number;
  /** Factor applied to the rate on a 429. */
  decrease: number;
  /** At most one decrease per this many milliseconds. */
  decreaseHoldMs: number;
  /** Share of `rate` added back per 2xx. */
  increase: number;
  /** Floor of the rate, permits per second (capped at `rate`). */
  minRate: number;
  clock?: RateClock;
  random?: () => number;
}

export interface RateBudgetStatus {
  /** Permits per second now, after AIMD. */
  rate: number;
  configuredRate: number;
  burst: number;
  /** Milliseconds until a Retry-After stops blocking calls; 0 when none does. */
  blockedForMs: number;
  /** Calls waiting for a permit now. */
  waiting: number;
  calls: Record<RateCall, number>;
  /** 429 answers seen. */
  throttled: Record<RateCall, number>;
  /** Seconds calls spent waiting for their permit. */
  waitSeconds: Record<RateCall, number>;
}

interface Waiter {
  call: RateCall;
  since: number;
  resolve: () => void;
  reject: (err: Error) => void;
  signal: AbortSignal | undefined;
  onAbort: () => void;
}

/** Floating-point slack: a level this close to one permit is one permit. */
const EPSILON = 1e-9;

const perCall = (): Record<RateCall, number> => ({ report: 0, token: 0, reconcile: 0 });

export class RateBudget {
  private readonly clock: RateClock;
  private readonly random: () => number;
  private readonly minRate: number;
  private current: number;
  private tokens: number;
  private updatedAt: number;
  private blockedUntil = Number.NEGATIVE_INFINITY;
  private lastDecreaseAt = Number.NEGATIVE_INFINITY;
  private readonly queue: Waiter[] = [];
  /** The one pending wake-up for the head of the queue; aborting it cancels it. */
  private wake: AbortController | null = null;
  private readonly calls = perCall();
  private readonly throttledCalls = perCall();
  private readonly waitedMs = perCall();

  constructor(private readonly options: RateBudgetOptions) {
    if (!(options.rate > 0) || !(options.burst >= 1)) throw new RangeError('a rate budget needs rate > 0 and burst >= 1');
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
    this.minRate = Math.min(options.minRate, options.rate);
    this.current = options.rate;
    this.tokens = this.random();
    this.updatedAt = this.clock.now();
  }

  /** Resolves when a `call` may be made (and counts it); rejects with RateWaitAbortedError when `signal` aborts first. */
  take(call: RateCall, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(new RateWaitAbortedError(call));
    const now = this.clock.now();
    this.refill(now);
    if (this.queue.length === 0 && this.available(now)) {
      this.grant(call, 0);
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        call,
        since: now,
        resolve,
        reject,
        signal,
        onAbort: () => {
          const index = this.queue.indexOf(waiter);
          if (index >= 0) this.queue.splice(index, 1);
          this.waitedMs[call] += this.clock.now() - waiter.since;
          if (this.queue.length === 0) this.cancelWake();
          reject(new RateWaitAbortedError(call));
        },
      };
      signal?.addEventListener('abort', waiter.onAbort, { once: true });
      this.queue.push(waiter);
      if (this.queue.length === 1) this.schedule();
    });
  }

  /** Feeds the PCM's answer to a call back: 429 slows the budget (and a Retry-After blocks it), 2xx speeds it up again. */
  observe(call: RateCall, status: number, retryAfterMs?: number): void {
    if (status === 429) this.throttle(call, retryAfterMs);
    else if (status >= 200 && status < 300) this.recover();
  }

  status(): RateBudgetStatus {
    const now = this.clock.now();
    return {
      rate: this.current,
      configuredRate: this.options.rate,
      burst: this.options.burst,
      blockedForMs: Math.max(0, this.blockedUntil - now),
      waiting: this.queue.length,
      calls: { ...this.calls },
      throttled: { ...this.throttledCalls },
      waitSeconds: {
        report: this.waitedMs.report / 1000,
        token: this.waitedMs.token / 1000,
        reconcile: this.waitedMs.reconcile / 1000,
      },
    };
  }

  private throttle(call: RateCall, retryAfterMs: number | undefined): void {
    const now = this.clock.now();
    this.refill(now);
    this.throttledCalls[call]++;
    if (now - this.lastDecreaseAt >= this.options.decreaseHoldMs) {
      this.current = Math.max(this.minRate, this.current * this.options.decrease);
      this.lastDecreaseAt = now;
    }
    if (retryAfterMs !== undefined && retryAfterMs > 0) this.blockedUntil = Math.max(this.blockedUntil, now + retryAfterMs);
    // Saved-up permits are gone, and the next call lands at a random point of one interval.
    this.tokens = Math.min(this.tokens, this.random());
    if (this.queue.length > 0) this.schedule();
  }

  private recover(): void {
    if (this.current >= this.options.rate) return;
    this.refill(this.clock.now());
    this.current = Math.min(this.options.rate, this.current + this.options.rate * this.options.increase);
    if (this.queue.length > 0) this.schedule();
  }

  /** Permits accrue at the current rate, not while a Retry-After blocks, up to `burst`. */
  private refill(now: number): void {
    const from = Math.max(this.updatedAt, this.blockedUntil);
    if (now > from) this.tokens = Math.min(this.options.burst, this.tokens + ((now - from) * this.current) / 1000);
    this.updatedAt = Math.max(this.updatedAt, now);
  }

  private available(now: number): boolean {
    return now >= this.blockedUntil && this.tokens >= 1 - EPSILON;
  }

  private grant(call: RateCall, waitedMs: number): void {
    this.tokens = Math.max(0, this.tokens - 1);
    this.calls[call]++;
    this.waitedMs[call] += waitedMs;
  }

  /** Milliseconds until one permit is there, counted from `now` (after refill). */
  private delayForOne(now: number): number {
    const unblocked = Math.max(0, this.blockedUntil - now);
    const missing = Math.max(0, 1 - this.tokens);
    return unblocked + (missing * 1000) / this.current;
  }

  private cancelWake(): void {
    this.wake?.abort();
    this.wake = null;
  }

  /** (Re)arms the single wake-up for the head of the queue. */
  private schedule(): void {
    this.cancelWake();
    if (this.queue.length === 0) return;
    const now = this.clock.now();
    const controller = new AbortController();
    this.wake = controller;
    // Whole milliseconds, rounded up: the permit is there when the timer fires, not a hair later.
    const delay = Math.ceil(this.delayForOne(now));
    void this.clock.sleep(delay, controller.signal).then(() => {
      if (this.wake !== controller || controller.signal.aborted) return;
      this.wake = null;
      this.serve();
    });
  }

  private serve(): void {
    const now = this.clock.now();
    this.refill(now);
    while (this.queue.length > 0 && this.available(now)) {
      const waiter = this.queue.shift() as Waiter;
      waiter.signal?.removeEventListener('abort', waiter.onAbort);
      this.grant(waiter.call, now - waiter.since);
      waiter.resolve();
    }
    if (this.queue.length > 0) this.schedule();
  }
}
