import { describe, expect, it } from 'vitest';
import { RateWaitAbortedError } from '../../src/errors.js';
import { RateShare } from '../../src/reconcile/rate-share.js';
import { Sampler } from '../../src/reconcile/sampler.js';
import { mulberry32 } from '../../src/random.js';
import { RateBudget } from '../../src/sender/rate-budget.js';
import { SimClock } from '../helpers/sim-clock.js';

const INTERVAL = 10_000;

describe('sampler: which accepted reports reconciliation follows', () => {
  it('takes every report while the GETs can cover them', () => {
    // 2 GETs/s, a quarter kept for re-asks: 1.5 first asks/s against 1 report/s.
    const sampler = new Sampler({ reaskReserve: 0.25, intervalMs: INTERVAL, maxPerSecond: 1e9, random: mulberry32(1) }, 0, 2);
    let taken = 0;
    for (let t = 1; t <= 60; t++) {
      taken += sampler.pick(10).length;
      sampler.update(t * INTERVAL, 2);
    }
    expect(sampler.rate).toBe(1);
    expect(taken).toBe(600);
  });

  it('samples at capacity ÷ accepted rate when the budget cannot cover every report, spread over the traffic', () => {
    const sampler = new Sampler({ reaskReserve: 0.25, intervalMs: INTERVAL, maxPerSecond: 1e9, random: mulberry32(7) }, 0, 2);
    // 1000 reports/s in batches of 500 (two a second); 1.5 first asks/s.
    let taken = 0;
    let candidates = 0;
    const positions = new Array<number>(5).fill(0);
    for (let interval = 1; interval <= 200; interval++) {
      for (let b = 0; b < 20; b++) {
        for (const i of sampler.pick(500)) {
          positions[Math.floor(i / 100)]!++;
          taken++;
        }
        candidates += 500;
      }
      sampler.update(interval * INTERVAL, 2);
    }
    expect(sampler.rate).toBeCloseTo(1.5 / 1000, 9);
    // What was taken is what the GETs allow (2000 s × 1.5/s), within a few percent, and never more than the credit.
    expect(taken).toBeGreaterThan(3000 * 0.9);
    expect(taken).toBeLessThanOrEqual(3000 + 150);
    expect(taken / candidates).toBeCloseTo(0.0015, 3);
    // Not the first rows of each batch: every fifth of a batch gets its share.
    for (const n of positions) expect(n).toBeGreaterThan(taken / 5 / 2);
  });

  it('cannot be outrun by a surge between two updates: the credit bounds what is taken', () => {
    const sampler = new Sampler({ reaskReserve: 0.25, intervalMs: INTERVAL, maxPerSecond: 1e9, random: mulberry32(3) }, 0, 2);
    // Quiet for a while: rate 1.
    sampler.pick(5);
    sampler.update(INTERVAL, 2);
    expect(sampler.rate).toBe(1);
    // Then 100,000 reports before the next update: at most ten intervals of first asks (10 × 10 s × 1.5/s).
    let taken = 0;
    for (let b = 0; b < 20; b++) taken += sampler.pick(5000).length;
    expect(taken).toBe(150);
    sampler.update(2 * INTERVAL, 2);
    expect(sampler.rate).toBeLessThan(0.001);
  });

  it('plans no more first asks than the store can keep over its days, however large the budget', () => {
    // 100 GETs/s, but 8,640 entries over a day's retention: 0.1 first asks/s.
    const sampler = new Sampler({ reaskReserve: 0.25, intervalMs: INTERVAL, maxPerSecond: 8640 / 86_400 }, 0, 100);
    sampler.observe(10_000);
    sampler.update(INTERVAL, 100);
    expect(sampler.rate).toBeCloseTo(0.1 / 1000, 12);
  });

  it('counts reports it may not take (the store is full) towards the accepted rate', () => {
    const sampler = new Sampler({ reaskReserve: 0, intervalMs: INTERVAL, maxPerSecond: 1e9 }, 0, 1);
    sampler.observe(100_000);
    sampler.update(INTERVAL, 1);
    expect(sampler.acceptedPerSecond).toBe(10_000);
    expect(sampler.rate).toBeCloseTo(1 / 10_000, 12);
  });
});

describe('rate share: reconciliation takes at most its share of the one budget', () => {
  function setup(share: number, rate = 10): { clock: SimClock; budget: RateBudget; rateShare: RateShare } {
    const clock = new SimClock();
    const budget = new RateBudget({ rate, burst: 1, decrease: 0.5, decreaseHoldMs: 1000, increase: 0.05, minRate: 0.1, clock, random: () => 0 });
    return { clock, budget, rateShare: new RateShare(budget, share, clock) };
  }

  it('paces GETs at share × rate, and delivery keeps the rest while both wait', async () => {
    const { clock, budget, rateShare } = setup(0.2);
    const stop = new AbortController();
    const times: { report: number[]; reconcile: number[] } = { report: [], reconcile: [] };
    // Both sides always have something waiting: 200 GETs and 200 report POSTs.
    void (async () => {
      for (let i = 0; i < 200; i++) {
        const granted = await rateShare.take(stop.signal).then(() => true, () => false);
        if (!granted) break;
        times.reconcile.push(clock.now());
      }
    })();
    void (async () => {
      for (let i = 0; i < 200; i++) {
        await budget.take('report');
        times.report.push(clock.now());
      }
    })();
    await clock.runUntil(20_000);
    stop.abort();
    await clock.advance(1000);
    // 20 s at 10/s: 200 permits, 2 per second (+1 at most) for reconciliation, the rest for reports.
    expect(times.reconcile.filter((t) => t <= 20_000).length).toBeLessThanOrEqual(41);
    expect(times.reconcile.filter((t) => t <= 20_000).length).toBeGreaterThanOrEqual(38);
    expect(times.report.filter((t) => t <= 20_000).length).toBeGreaterThanOrEqual(155);
    for (let s = 0; s < 20; s++) {
      const inSecond = (list: number[]): number => list.filter((t) => t > s * 1000 && t <= (s + 1) * 1000).length;
      expect(inSecond(times.reconcile) + inSecond(times.report)).toBeLessThanOrEqual(11);
      expect(inSecond(times.reconcile)).toBeLessThanOrEqual(3);
    }
    expect(budget.status().calls.reconcile).toBe(times.reconcile.length);
  });

  it('never saves up: after an idle hour a backlog still leaves at the share, not in a burst', async () => {
    const { clock, rateShare } = setup(0.5);
    await clock.advance(3_600_000);
    const start = clock.now();
    const granted: number[] = [];
    const stop = new AbortController();
    for (let i = 0; i < 10; i++) void rateShare.take(stop.signal).then(() => granted.push(clock.now() - start));
    await clock.advance(10_000);
    expect(granted).toHaveLength(10);
    // 5 per second: the first at once (one permit saved), the others 200 ms apart.
    expect(granted.filter((t) => t <= 1000).length).toBeLessThanOrEqual(6);
  });

  it('follows the budget down after a 429, and gives up when the signal aborts', async () => {
    const { clock, budget, rateShare } = setup(0.2);
    budget.observe('report', 429);
    expect(rateShare.rate()).toBeCloseTo(1, 9);
    const stop = new AbortController();
    const waiting = rateShare.take(stop.signal);
    stop.abort();
    await clock.advance(5000);
    await expect(waiting).rejects.toBeInstanceOf(RateWaitAbortedError);
  });
});
