import { describe, expect, it } from 'vitest';
import { DEFAULTS } from '../../src/config/defaults.js';
import { configSchema, type Config } from '../../src/config/schema.js';
import { EMULATOR_DEFAULTS } from '../../src/emulator/emulator.js';
import { RateLimiter } from '../../src/emulator/tokens.js';
import { mulberry32 } from '../../src/random.js';
import { backoffDelay } from '../../src/sender/backoff.js';
import { RateBudget, type RateCall } from '../../src/sender/rate-budget.js';
import { rateBudgetOptions } from '../../src/sender/sender.js';
import { SimClock } from '../helpers/sim-clock.js';

/**
 * The fleet rule, simulated: 500 sidecars of one participant, each with the default settings (batching, retries and
 * the real RateBudget on simulated time), against one limiter for the whole participant that counts like the
 * emulator's (RateLimiter: requests per one-second window, 429 above 300, `Retry-After: 1`). Token requests are
 * counted by the same limiter, which is stricter than the emulator (its auth host is not limited).
 *
 * A simulated sidecar is the lane's loop (src/sender/lane.ts) on simulated time: `maxConcurrentBatches` workers per
 * lane; a batch leaves when it holds `maxBatchSize` reports or its oldest has waited `maxBatchDelayMs`; a delivery
 * fetches the bearer token first (once, shared by the workers), then spends a report permit; a 429 is retried with
 * backoffDelay (Retry-After as floor) like deliver(). Reports arrive as a Poisson stream (the fleet's 10 million a
 * day shared evenly); one report is far below maxBatchBytes, so batches are bounded by count.
 */

const SIDECARS = DEFAULTS.rate.fleetSize;
const REPORTS_PER_DAY = 10_000_000;
const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;
const RETRY_AFTER_MS = 1000;

const ORG = '062c5edb-4e83-5002-9981-e2a96c5ad41e';

/** The settings of `pcm-sidecar run` with nothing set but what is required, plus `rate` overrides for the contrasts. */
function settings(rate: Record<string, number> = {}): Config {
  return configSchema.parse({
    pcm: { apiUrl: 'https://api.pcm.example', authUrl: 'https://auth.pcm.example' },
    organisations: [{ orgId: ORG, clientId: 'c', certFile: 'c.pem', keyFile: 'k.pem' }],
    rate,
  });
}

interface FleetRun {
  /** Calls that reached the PCM (report POSTs and token requests), and how many were answered 429. */
  requests: number;
  throttled: number;
  /** The busiest one-second window, as the limiter counted it. */
  peakPerSecond: number;
  reportsArrived: number;
  reportsDelivered: number;
  /** Simulated milliseconds until the last report of the initial backlog was delivered; null if it never was. */
  drainedAtMs: number | null;
  backlogReports: number;
}

class SimPcm {
  readonly limiter = new RateLimiter(EMULATOR_DEFAULTS.rateLimit);
  requests = 0;
  throttled = 0;

  /** Counts one call at `now`; false means 429. */
  admit(now: number): boolean {
    this.requests++;
    const ok = this.limiter.admit(now);
    if (!ok) this.throttled++;
    return ok;
  }
}

class SimSidecar {
  /** Arrival times of the reports not yet leased, oldest first. */
  private pending: number[];
  private nextArrival: number;
  private hasToken = false;
  private tokenFetch: Promise<void> | null = null;
  private readonly random: () => number;
  private readonly budget: RateBudget | null;
  backlogLeft: number;

  constructor(
    private readonly fleet: Fleet,
    seed: number,
    backlog: number[],
  ) {
    this.random = mulberry32(seed);
    this.pending = backlog;
    this.backlogLeft = backlog.length;
    this.nextArrival = this.gap();
    this.budget = fleet.withBudget ? new RateBudget(rateBudgetOptions(fleet.config, fleet.clock, this.random)) : null;
  }

  start(): Promise<void>[] {
    return Array.from({ length: this.fleet.config.sender.maxConcurrentBatches }, () => this.worker());
  }

  /** Exponential gaps: a Poisson stream of this sidecar's share of the fleet's reports. */
  private gap(): number {
    return -Math.log(1 - this.random()) / this.fleet.reportsPerMsEach;
  }

  private pull(now: number): void {
    while (this.nextArrival <= now) {
      this.pending.push(this.nextArrival);
      this.fleet.reportsArrived++;
      this.nextArrival += this.gap();
    }
  }

  private async worker(): Promise<void> {
    const { clock, endAt } = this.fleet;
    const { maxBatchSize, maxBatchDelayMs } = this.fleet.config.sender;
    while (clock.now() < endAt) {
      const now = clock.now();
      this.pull(now);
      const oldest = this.pending[0];
      if (oldest === undefined) {
        await clock.sleep(Math.min(this.nextArrival, endAt) - now);
        continue;
      }
      const wait = this.pending.length >= maxBatchSize ? 0 : oldest + maxBatchDelayMs - now;
      if (wait > 0) {
        await clock.sleep(Math.min(wait, 5000));
        continue;
      }
      await this.deliver(this.pending.splice(0, maxBatchSize));
    }
  }

  private latency(minMs: number, spreadMs: number): number {
    return minMs + this.random() * spreadMs;
  }

  /** tokens.get(): one request at a time, through the budget; a 429 throws (TokenError, retryable). */
  private token(): Promise<void> {
    if (this.hasToken) return Promise.resolve();
    this.tokenFetch ??= (async () => {
      try {
        await this.budget?.take('token');
        const ok = this.fleet.pcm.admit(this.fleet.clock.now());
        await this.fleet.clock.sleep(this.latency(20, 30));
        this.observe('token', ok);
        if (!ok) throw new Error('token endpoint answered 429');
        this.hasToken = true;
      } finally {
        this.tokenFetch = null;
      }
    })();
    return this.tokenFetch;
  }

  private observe(call: RateCall, ok: boolean): void {
    this.budget?.observe(call, ok ? 200 : 429, ok ? undefined : RETRY_AFTER_MS);
  }

  /** deliver(): until the PCM takes the batch; retries back off as the lane's do. */
  private async deliver(rows: number[]): Promise<void> {
    const { clock, pcm, config } = this.fleet;
    for (let attempt = 0; ; ) {
      let retryAfterMs: number | undefined;
      try {
        await this.token();
        await this.budget?.take('report');
        const ok = pcm.admit(clock.now());
        await clock.sleep(this.latency(20, 60));
        this.observe('report', ok);
        if (ok) return this.delivered(rows);
        retryAfterMs = RETRY_AFTER_MS;
      } catch {
        // A 429 on the token request: TokenError carries no Retry-After, the budget already blocks for it.
      }
      attempt++;
      await clock.sleep(backoffDelay(attempt, config.sender.retryInitialDelayMs, config.sender.retryMaxDelayMs, retryAfterMs, this.random));
    }
  }

  private delivered(rows: number[]): void {
    this.fleet.reportsDelivered += rows.length;
    const fromBacklog = rows.filter((t) => t < 0).length;
    if (fromBacklog === 0) return;
    this.backlogLeft -= fromBacklog;
    this.fleet.backlogLeft -= fromBacklog;
    if (this.fleet.backlogLeft === 0) this.fleet.drainedAtMs = this.fleet.clock.now();
  }
}

class Fleet {
  readonly clock = new SimClock();
  readonly pcm = new SimPcm();
  readonly reportsPerMsEach: number;
  reportsArrived = 0;
  reportsDelivered = 0;
  backlogLeft = 0;
  drainedAtMs: number | null = null;

  constructor(
    readonly config: Config,
    readonly withBudget: boolean,
    readonly endAt: number,
    readonly sidecars: number,
  ) {
    this.reportsPerMsEach = REPORTS_PER_DAY / DAY_MS / sidecars;
  }

  async run(backlogMs: number, seed: number): Promise<FleetRun> {
    const perSidecar = (REPORTS_PER_DAY * backlogMs) / DAY_MS / this.sidecars;
    const workers: Promise<void>[] = [];
    let backlogReports = 0;
    for (let i = 0; i < this.sidecars; i++) {
      // Each sidecar's share of the backlog, spread evenly over the hour before the start (all of them start at 0).
      const n = Math.floor(perSidecar) + (i < Math.round((perSidecar % 1) * this.sidecars) ? 1 : 0);
      const backlog = Array.from({ length: n }, (_, k) => -backlogMs + ((k + 0.5) * backlogMs) / n);
      backlogReports += n;
      this.backlogLeft += n;
      workers.push(...new SimSidecar(this, seed * 100_003 + i, backlog).start());
    }
    if (backlogReports === 0) this.drainedAtMs = 0;
    await this.clock.runUntil(this.endAt);
    return {
      requests: this.pcm.requests,
      throttled: this.pcm.throttled,
      peakPerSecond: this.pcm.limiter.peak,
      reportsArrived: this.reportsArrived + backlogReports,
      reportsDelivered: this.reportsDelivered,
      drainedAtMs: this.drainedAtMs,
      backlogReports,
    };
  }
}

interface Scenario {
  config: Config;
  withBudget?: boolean;
  backlogMs: number;
  durationMs: number;
  /** Sidecars in the fleet; the default is the fleet size the settings assume (500). */
  sidecars?: number;
  seed?: number;
}

function simulate(options: Scenario): Promise<FleetRun> {
  const fleet = new Fleet(options.config, options.withBudget ?? true, options.durationMs, options.sidecars ?? SIDECARS);
  return fleet.run(options.backlogMs, options.seed ?? 1).then((run) => {
    if (process.env.PCM_FLEET_SIM_VERBOSE) console.log(JSON.stringify({ ...options, config: options.config.rate, ...run }));
    return run;
  });
}

/** The storm bound of the backlog drain: fewer than 1 % of the calls answered 429. */
const STORM_SHARE = 0.01;
/** … and the whole hour of backlog delivered within this much simulated time of the start. */
const DRAIN_BOUND_MS = 30_000;

describe(`fleet rule: ${SIDECARS} sidecars with the default settings stay under the participant's 300 requests/s`, () => {
  it('steady load of 10 million reports a day: no 429 at all, the busiest second within the fleet budget', async () => {
    const run = await simulate({ config: settings(), backlogMs: 0, durationMs: 5 * 60_000 });
    expect(run.throttled).toBe(0);
    expect(run.peakPerSecond).toBeLessThanOrEqual(DEFAULTS.rate.fleetLimit);
    // Everything but the last batch delay's reports (and those on the wire) was delivered.
    expect(run.reportsArrived).toBeGreaterThan(30_000);
    expect(run.reportsArrived - run.reportsDelivered).toBeLessThan(0.01 * run.reportsArrived);
    // Batching: well under one request per report even at 0.23 reports/s per sidecar.
    expect(run.requests).toBeLessThan(0.9 * run.reportsArrived);
  });

  it('a one-hour backlog on every sidecar at once drains without a 429 storm, within the bound', async () => {
    const run = await simulate({ config: settings(), backlogMs: HOUR_MS, durationMs: 60_000 });
    expect(run.backlogReports).toBe(Math.round((REPORTS_PER_DAY * HOUR_MS) / DAY_MS));
    expect(run.throttled).toBeLessThan(STORM_SHARE * run.requests);
    expect(run.drainedAtMs).not.toBeNull();
    expect(run.drainedAtMs as number).toBeLessThanOrEqual(DRAIN_BOUND_MS);
    expect(run.peakPerSecond).toBeLessThanOrEqual(EMULATOR_DEFAULTS.rateLimit);
  });

  it('the same drain without the budget is a 429 storm (the test can fail)', async () => {
    const run = await simulate({ config: settings(), withBudget: false, backlogMs: HOUR_MS, durationMs: 60_000 });
    expect(run.throttled).toBeGreaterThan(STORM_SHARE * run.requests);
  });

  it('the same drain with a per-process rate of 300 requests/s is a 429 storm too', async () => {
    const run = await simulate({ config: settings({ limit: 300 }), backlogMs: HOUR_MS, durationMs: 60_000 });
    expect(run.throttled).toBeGreaterThan(STORM_SHARE * run.requests);
  });

  it('twice the fleet the settings assume: 429s at first, then AIMD and Retry-After drain it without a lasting storm', async () => {
    const run = await simulate({ config: settings(), sidecars: 2 * SIDECARS, backlogMs: HOUR_MS, durationMs: 60_000 });
    expect(run.throttled).toBeGreaterThan(0);
    expect(run.throttled).toBeLessThan(0.1 * run.requests);
    expect(run.drainedAtMs).not.toBeNull();
    expect(run.drainedAtMs as number).toBeLessThanOrEqual(2 * DRAIN_BOUND_MS);
  });
});
