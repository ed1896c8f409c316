import { RateWaitAbortedError } from '../errors.js';
import type { RateBudget, RateClock } from '../sender/rate-budget.js';

/**
 * Reconciliation's part of the process's one rate budget: at most `share` of the budget's rate now (after 429s, so
 * it slows down with delivery), with no saving up. A GET waits for a permit here first and then for the budget's own
 * (call kind `reconcile`), so the process never exceeds its budget, and report delivery always keeps the rest of it,
 * even when reports are idle and reconciliation has a backlog.
 */

const EPSILON = 1e-9;

export class RateShare {
  private level = 0;
  private updatedAt: number;
  /** Callers are served one after another, in order. */
  private tail: Promise<void> = Promise.resolve();

  constructor(
    private readonly budget: RateBudget,
    private readonly share: number,
    private readonly clock: RateClock,
  ) {
    if (!(share > 0 && share < 1)) throw new RangeError(`a rate share is between 0 and 1, got ${share}`);
    this.updatedAt = clock.now();
  }

  /** GETs per second the share allows now. */
  rate(): number {
    return this.share * this.budget.status().rate;
  }

  /** Resolves when a reconciliation call may be made (its budget permit taken); RateWaitAbortedError when `signal` aborts. */
  take(signal: AbortSignal): Promise<void> {
    const turn = this.tail.then(() => this.wait(signal));
    this.tail = turn.catch(() => undefined);
    return turn;
  }

  private async wait(signal: AbortSignal): Promise<void> {
    for (;;) {
      if (signal.aborted) throw new RateWaitAbortedError('reconcile');
      const now = this.clock.now();
      const rate = this.rate();
      // At most one permit saved: a backlog after an idle hour still leaves at `rate`, never in a burst.
      this.level = Math.min(1, this.level + ((now - this.updatedAt) * rate) / 1000);
      this.updatedAt = now;
      if (this.level >= 1 - EPSILON) {
        this.level = Math.max(0, this.level - 1);
        break;
      }
      await this.clock.sleep(Math.ceil(((1 - this.level) * 1000) / rate), signal);
    }
    await this.budget.take('reconcile', signal);
  }
}
