import { describe, expect, it } from 'vitest';
import { rateLimitOf } from '../../src/config/defaults.js';
import { configSchema } from '../../src/config/schema.js';
import { RateWaitAbortedError } from '../../src/errors.js';
import { RateBudget, type RateBudgetOptions, type RateCall } from '../../src/sender/rate-budget.js';
import { rateBudgetOptions } from '../../src/sender/sender.js';
import { SimClock } from '../helpers/sim-clock.js';

/** A budget on simulated time; `random` 0 starts it (and restarts it after a 429) with no permit saved up. */
function simBudget(options: Partial<RateBudgetOptions> = {}): { clock: SimClock; budget: RateBudget } {
  const clock = new SimClock();
  const budget = new RateBudget({
    rate: 10,
    burst: 1,
    decrease: 0.5,
    decreaseHoldMs: 1000,
    increase: 0.05,
    minRate: 0.5,
    clock,
    random: () => 0,
    ...options,
  });
  return { clock, budget };
}

/** Starts `count` takes at once; returns the simulated times at which each was granted, in grant order. */
function takeAll(clock: SimClock, budget: RateBudget, count: number, call: RateCall = 'report'): number[] {
  const granted: number[] = [];
  for (let i = 0; i < count; i++) void budget.take(call).then(() => granted.push(clock.now()));
  return granted;
}

/** Grants per one-second window [k s, k+1 s), as the emulator's RateLimiter counts them. */
function perSecond(times: number[]): number[] {
  const counts: number[] = [];
  for (const t of times) {
    const second = Math.floor(t / 1000);
    counts[second] = (counts[second] ?? 0) + 1;
  }
  return Array.from(counts, (n) => n ?? 0);
}

describe('rate budget: one token bucket for every PCM call of the process', () => {
  it('spaces calls at the configured rate, one permit at a time with burst 1', async () => {
    const { clock, budget } = simBudget({ rate: 10 });
    const granted = takeAll(clock, budget, 30);
    await clock.runUntil(10_000);
    expect(granted).toEqual(Array.from({ length: 30 }, (_, i) => (i + 1) * 100));
    expect(Math.max(...perSecond(granted))).toBe(10);
    expect(budget.status()).toMatchObject({ waiting: 0, calls: { report: 30, token: 0, reconcile: 0 } });
    // 100 + 200 + … + 3000 ms of waiting.
    expect(budget.status().waitSeconds.report).toBeCloseTo(46.5, 6);
  });

  it('saves up at most `burst` permits while idle', async () => {
    const { clock, budget } = simBudget({ rate: 10, burst: 5 });
    await clock.advance(10_000);
    const granted = takeAll(clock, budget, 8);
    await clock.advance(1000);
    expect(granted).toEqual([10_000, 10_000, 10_000, 10_000, 10_000, 10_100, 10_200, 10_300]);
  });

  it('starts at a random level below one permit, so processes started together spread their first calls', async () => {
    const { clock, budget } = simBudget({ rate: 2, random: () => 0.75 });
    const granted = takeAll(clock, budget, 2);
    await clock.advance(2000);
    // (1 − 0.75) / 2 per second = 125 ms, then one interval of 500 ms.
    expect(granted).toEqual([125, 625]);
  });

  it('a 429 halves the rate (once per hold), down to the floor; 2xx answers add it back to the configured rate', async () => {
    const { clock, budget } = simBudget({ rate: 100, minRate: 5 });
    budget.observe('report', 429);
    expect(budget.status().rate).toBe(50);
    // The same second's other 429s are the same overload.
    budget.observe('report', 429);
    budget.observe('token', 429);
    expect(budget.status().rate).toBe(50);
    expect(budget.status().throttled).toEqual({ report: 2, token: 1, reconcile: 0 });
    for (let i = 0; i < 10; i++) {
      await clock.advance(1000);
      budget.observe('report', 429);
    }
    expect(budget.status().rate).toBe(5);
    // 5 % of 100 per 2xx: 19 successes from the floor back to 100, and not beyond.
    for (let i = 0; i < 18; i++) budget.observe('report', 200);
    expect(budget.status().rate).toBeCloseTo(95, 9);
    budget.observe('token', 200);
    budget.observe('report', 207);
    expect(budget.status().rate).toBe(100);
    // Neither 5xx nor other 4xx say much about the rate: no change.
    budget.observe('report', 503);
    budget.observe('report', 400);
    expect(budget.status().rate).toBe(100);
  });

  it('a slowed budget spaces calls at the lowered rate and recovers by itself as calls succeed', async () => {
    const { clock, budget } = simBudget({ rate: 10, increase: 0.25 });
    budget.observe('report', 429);
    const granted: number[] = [];
    // A lane: each call answered 2xx, the next one asked for at once.
    const lane = (async () => {
      for (let i = 0; i < 8; i++) {
        await budget.take('report');
        granted.push(clock.now());
        budget.observe('report', 200);
      }
    })();
    await clock.advance(5000);
    await lane;
    const gaps = granted.slice(1).map((t, i) => t - (granted[i] as number));
    // 5/s after the 429 (first call 200 ms out), then 7.5/s, then 10/s: +2.5 per success, capped.
    expect(granted[0]).toBe(200);
    expect(gaps).toEqual([134, 100, 100, 100, 100, 100, 100]);
    expect(budget.status().rate).toBe(10);
  });

  it('honours Retry-After: no call of either kind before it has passed, then spread over one interval', async () => {
    const { clock, budget } = simBudget({ rate: 100, random: () => 0.5 });
    await clock.advance(500);
    budget.observe('report', 429, 3000);
    expect(budget.status().blockedForMs).toBe(3000);
    const reports = takeAll(clock, budget, 5, 'report');
    const tokens = takeAll(clock, budget, 2, 'token');
    await clock.advance(2999);
    expect([...reports, ...tokens]).toEqual([]);
    await clock.advance(1000);
    const all = [...reports, ...tokens].sort((a, b) => a - b);
    expect(all).toHaveLength(7);
    expect(Math.min(...all)).toBeGreaterThanOrEqual(3500);
    // Rate 50/s after the halving; the level restarted at 0.5, so the first call is 10 ms after the block.
    expect(all).toEqual([3510, 3530, 3550, 3570, 3590, 3610, 3630]);
    expect(budget.status().calls).toEqual({ report: 5, token: 2, reconcile: 0 });
  });

  it('a 429 without Retry-After slows the budget but does not block it', async () => {
    const { clock, budget } = simBudget({ rate: 100 });
    await clock.advance(1000);
    budget.observe('report', 429);
    expect(budget.status().blockedForMs).toBe(0);
    const granted = takeAll(clock, budget, 3);
    await clock.advance(1000);
    expect(granted).toEqual([1020, 1040, 1060]);
  });

  it('is shared: two lanes and the token provider on one budget make the configured rate together, taking turns', async () => {
    const { clock, budget } = simBudget({ rate: 20 });
    const log: { lane: string; at: number }[] = [];
    const lane = (name: string, call: RateCall, count: number) =>
      (async () => {
        for (let i = 0; i < count; i++) {
          await budget.take(call);
          log.push({ lane: name, at: clock.now() });
        }
      })();
    const lanes = Promise.all([lane('private', 'report', 40), lane('opendata', 'report', 40), lane('tokens', 'token', 2)]);
    await clock.advance(10_000);
    await lanes;
    expect(log).toHaveLength(82);
    expect(Math.max(...perSecond(log.map((e) => e.at)))).toBe(20);
    // FIFO: while both lanes have calls queued, neither gets two turns more than the other.
    const first80 = log.slice(0, 80);
    for (let i = 1; i <= first80.length; i++) {
      const prefix = first80.slice(0, i);
      const a = prefix.filter((e) => e.lane === 'private').length;
      const b = prefix.filter((e) => e.lane === 'opendata').length;
      expect(Math.abs(a - b)).toBeLessThanOrEqual(2);
    }
    expect(budget.status().calls).toEqual({ report: 80, token: 2, reconcile: 0 });
  });

  it('a wait cut short by its signal rejects with RateWaitAbortedError, leaves the queue and no timer behind', async () => {
    const { clock, budget } = simBudget({ rate: 1 });
    const controller = new AbortController();
    const waiting = budget.take('report', controller.signal);
    const outcome = waiting.then(
      () => 'granted',
      (err: unknown) => err,
    );
    await clock.advance(300);
    expect(budget.status().waiting).toBe(1);
    controller.abort();
    const err = await outcome;
    expect(err).toBeInstanceOf(RateWaitAbortedError);
    expect((err as RateWaitAbortedError).code).toBe('PCM_RATE_WAIT_ABORTED');
    expect(budget.status().waiting).toBe(0);
    expect(clock.pending()).toBe(0);
    // An aborted signal is refused at once; the permit stays for the next caller.
    await expect(budget.take('report', controller.signal)).rejects.toBeInstanceOf(RateWaitAbortedError);
    const granted = takeAll(clock, budget, 1);
    await clock.advance(1000);
    expect(granted).toEqual([1000]);
  });

  it('takes its defaults from the settings: the fleet rule gives 240 / 500 = 0.48 requests/s per process', () => {
    const config = configSchema.parse({
      pcm: { apiUrl: 'https://a.example', authUrl: 'https://a.example' },
      organisations: [{ orgId: '062c5edb-4e83-5002-9981-e2a96c5ad41e', clientId: 'c', certFile: 'c', keyFile: 'k' }],
    });
    expect(rateLimitOf(config.rate)).toBeCloseTo(0.48, 12);
    expect(rateBudgetOptions(config)).toEqual({ rate: 0.48, burst: 1, decrease: 0.5, decreaseHoldMs: 1000, increase: 0.05, minRate: 0.02 });
    expect(rateLimitOf({ ...config.rate, fleetSize: 4 })).toBe(60);
    expect(rateLimitOf({ ...config.rate, limit: 25 })).toBe(25);
  });
});
