/**
 * Which accepted reports reconciliation follows. The GETs it may make are a share of the rate budget; when they
 * cannot cover every accepted report, each report is taken with probability `rate`, computed from the GET capacity
 * and the accepted rate, so the sample spreads evenly over the traffic. The figures then estimate the whole: a day's
 * counts divided by the share of that day's reports that were taken (recorded per day beside them).
 *
 * The decision costs O(1) per batch and O(taken) per taken report (geometric gaps between taken reports), so the
 * delivery path pays nothing per report that is not taken.
 */

const CREDIT_INTERVALS = 10;

export interface SamplerOptions {
  /** Share of the GET capacity kept for asking again (UNPAIRED reports); the rest plans first asks. */
  reaskReserve: number;
  /** How often `update` runs; the credit for a surge between two updates is sized by it. */
  intervalMs: number;
  /** First asks per second at most, whatever the budget: the store's bound spread over the days it keeps. */
  maxPerSecond: number;
  random?: () => number;
}

export class Sampler {
  private probability = 1;
  /** Reports that may still be taken before the next update: a sudden surge cannot outrun the GETs by much. */
  private credits: number;
  private creditCap: number;
  private arrivals = 0;
  /** Accepted reports per second, as last estimated. */
  private estimate = 0;
  private updatedAt: number;
  /** Candidates to pass over before the next one is taken. */
  private skip = 0;
  private readonly random: () => number;

  constructor(
    private readonly options: SamplerOptions,
    now: number,
    /** GETs per second reconciliation may make now. */
    capacity: number,
  ) {
    this.random = options.random ?? Math.random;
    this.updatedAt = now;
    this.creditCap = this.capOf(capacity);
    this.credits = this.creditCap;
  }

  /** The probability with which an accepted report is taken now. */
  get rate(): number {
    return this.probability;
  }

  /** Accepted reports per second, as last estimated. */
  get acceptedPerSecond(): number {
    return this.estimate;
  }

  /** Recomputes the rate from the reports seen since the last update and the GET capacity (requests/s) now. */
  update(now: number, capacity: number): void {
    const elapsed = (now - this.updatedAt) / 1000;
    if (elapsed <= 0) return;
    const observed = this.arrivals / elapsed;
    this.arrivals = 0;
    this.updatedAt = now;
    // Up at once, down by halves: a surge is sampled at its own rate from the next update on, and a short lull does
    // not leave the rate high when the traffic comes back.
    this.estimate = Math.max(observed, (this.estimate + observed) / 2);
    const firstAsks = this.firstAsks(capacity);
    this.creditCap = this.capOf(capacity);
    this.credits = Math.min(this.creditCap, this.credits + firstAsks * elapsed);
    this.probability = this.estimate > 0 ? Math.min(1, firstAsks / this.estimate) : 1;
    this.skip = this.gap();
  }

  /** Counts `count` candidates towards the accepted rate without taking one (while the store is full). */
  observe(count: number): void {
    this.arrivals += count;
  }

  /** Which of `count` candidates (indices 0 … count−1) are taken; every candidate counts towards the accepted rate. */
  pick(count: number): number[] {
    this.arrivals += count;
    const taken: number[] = [];
    let i = this.skip;
    while (i < count && this.credits >= 1) {
      taken.push(i);
      this.credits -= 1;
      i += 1 + this.gap();
    }
    // Out of credit: gaps are memoryless, so the next one is drawn afresh.
    this.skip = i >= count ? i - count : this.gap();
    return taken;
  }

  private firstAsks(capacity: number): number {
    return Math.min(this.options.maxPerSecond, Math.max(0, capacity) * (1 - this.options.reaskReserve));
  }

  /**
   * Ten intervals' worth of first asks, and at least one report: a surge adds at most that many, and the ups and downs
   * of a random sample do not lose the credit they would need (with two intervals, ~20 % of the planned asks went).
   */
  private capOf(capacity: number): number {
    return Math.max(1, (CREDIT_INTERVALS * this.firstAsks(capacity) * this.options.intervalMs) / 1000);
  }

  /** Candidates passed over before the next one is taken: geometric with parameter `rate`. */
  private gap(): number {
    const p = this.probability;
    if (p >= 1) return 0;
    if (p <= 0) return Number.POSITIVE_INFINITY;
    return Math.floor(Math.log(1 - this.random()) / Math.log(1 - p));
  }
}
