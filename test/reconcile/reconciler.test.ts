import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULTS } from '../../src/config/defaults.js';
import type { Config } from '../../src/config/schema.js';
import { ReconcileError } from '../../src/errors.js';
import { createLogger } from '../../src/log.js';
import { mulberry32 } from '../../src/random.js';
import { Reconciler, type DivergentAnswer, type StatusClient } from '../../src/reconcile/reconciler.js';
import type { StatusAnswer } from '../../src/reconcile/report-status-client.js';
import type { AcceptedBatch } from '../../src/sender/lane.js';
import { RateBudget } from '../../src/sender/rate-budget.js';
import { tempDir } from '../helpers/pki.js';
import { fixedClient } from '../helpers/reports.js';
import { SimClock } from '../helpers/sim-clock.js';

const T0 = Date.parse('2026-11-22T12:00:00.000Z');
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const LANE = 'private:062c5edb-4e83-5002-9981-e2a96c5ad41e';

const found = (status: 'PAIRED' | 'PAIRED_INCONSISTENT' | 'UNPAIRED' | 'SINGLE' | 'ACCEPTED'): StatusAnswer => ({
  kind: 'found',
  status,
  pairedReportId: status.startsWith('PAIRED') ? 'paired-id' : null,
  differing: status === 'PAIRED_INCONSISTENT' ? ['statusCode'] : null,
});
const networkError: StatusAnswer = { kind: 'failed', error: new ReconcileError('PCM_RECONCILE_NETWORK', 'connection refused') };

interface Harness {
  clock: SimClock;
  budget: RateBudget;
  reconciler: Reconciler;
  /** fapiInteractionId → the simulated times it was asked. */
  asked: Map<string, number[]>;
  invalidated: string[];
  open(): Reconciler;
}

/**
 * A reconciler on simulated time with a scripted PCM: each fapiInteractionId answers its script in order, the last
 * answer for good (PAIRED when it has none). Ticks and flushes once a simulated minute, so days of time run quickly.
 */
async function harness(
  script: Record<string, StatusAnswer[]>,
  settings: Partial<Config['reconcile']> = {},
  rate = 10,
  onDivergent?: (answer: DivergentAnswer) => void,
): Promise<Harness> {
  const path = join(await tempDir('reconciler'), 'spool.db.reconcile.db');
  const clock = new SimClock(T0);
  const budget = new RateBudget({ rate, burst: 1, decrease: 0.5, decreaseHoldMs: 1000, increase: 0.05, minRate: 0.01, clock, random: () => 0 });
  const asked = new Map<string, number[]>();
  const invalidated: string[] = [];
  const client: StatusClient = {
    ask: async (fapi) => {
      const times = asked.get(fapi) ?? [];
      times.push(clock.now());
      asked.set(fapi, times);
      const answers = script[fapi] ?? [found('PAIRED')];
      return answers[Math.min(times.length, answers.length) - 1] as StatusAnswer;
    },
    close: async () => undefined,
  };
  let token = 1;
  const h: Harness = {
    clock,
    budget,
    asked,
    invalidated,
    reconciler: null as unknown as Reconciler,
    open: () =>
      new Reconciler(
        { settings: { ...DEFAULTS.reconcile, sampleIntervalMs: 60_000, flushMs: 60_000, ...settings }, path, apiUrl: 'https://127.0.0.1:9', caFile: undefined, connectTimeoutMs: 1000 },
        {
          budget,
          tokens: (lane) =>
            lane === LANE
              ? {
                  token: async () => `token-${token}`,
                  invalidateToken: (t) => {
                    invalidated.push(t);
                    token++;
                  },
                }
              : undefined,
          log: createLogger('silent'),
          clock,
          random: mulberry32(11),
          client,
          ...(onDivergent ? { onDivergent } : {}),
        },
      ),
  };
  h.reconciler = h.open();
  return h;
}

/** A batch of CLIENT reports the PCM accepted (timestamps one second before now); `discard` lists rows it refused. */
function batch(fapis: string[], now: number, discard: number[] = []): AcceptedBatch {
  const at = now - 1000;
  const timestamp = new Date(at).toISOString();
  return {
    lane: LANE,
    orgId: LANE.slice('private:'.length),
    stream: 'private',
    rows: fapis.map((fapi, i) => ({ id: i + 1, at, body: JSON.stringify(fixedClient({ fapiInteractionId: fapi, timestamp })) })),
    results: fapis.map((_, i) => ({
      id: i + 1,
      state: discard.includes(i) ? 'discarded' : 'accepted',
      reportId: discard.includes(i) ? null : `report-${i}`,
      message: null,
      at,
    })),
  };
}

const asksOf = (h: Harness, fapi: string): number => h.asked.get(fapi)?.length ?? 0;

describe('reconciler on a simulated clock: when each report is asked', () => {
  it('asks after the delay; PAIRED is final, UNPAIRED is asked again every retry until 7 days after its timestamp', async () => {
    const h = await harness({ b: [found('UNPAIRED')], c: [found('UNPAIRED'), found('PAIRED')] });
    h.reconciler.start();
    h.reconciler.accepted(batch(['a', 'b', 'c', 'x'], T0, [3]));
    await h.clock.advance(HOUR - 60_000);
    expect(h.asked.size).toBe(0);
    await h.clock.advance(2 * 60_000);
    expect(['a', 'b', 'c', 'x'].map((f) => asksOf(h, f))).toEqual([1, 1, 1, 0]);
    for (const f of ['a', 'b', 'c']) expect(h.asked.get(f)![0]! - T0).toBeGreaterThanOrEqual(HOUR);

    await h.clock.advance(6 * HOUR);
    expect(['a', 'b', 'c'].map((f) => asksOf(h, f))).toEqual([1, 2, 2]);

    await h.clock.runUntil(T0 + 8 * DAY - HOUR);
    // 1 h, 7 h, … while the next ask is within 168 h of the timestamp: 1 + 27 asks.
    expect(asksOf(h, 'b')).toBe(28);
    expect(asksOf(h, 'c')).toBe(2);
    const times = h.asked.get('b')!;
    expect(times.at(-1)! - (T0 - 1000)).toBeLessThanOrEqual(7 * DAY);
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(6 * HOUR);

    const status = h.reconciler.status();
    expect(status.pending).toEqual({ first: 0, again: 0 });
    expect(status.days).toHaveLength(1);
    expect(status.days[0]).toMatchObject({
      day: '2026-11-22',
      considered: 3,
      sampled: 3,
      sampleRate: 1,
      answered: 3,
      byStatus: { PAIRED: 2, UNPAIRED: 1 },
      estimated: { PAIRED: 2, UNPAIRED: 1 },
      divergentShare: 0.333,
    });
    // b's 28 answers and c's first.
    expect(status.answers).toMatchObject({ PAIRED: 2, UNPAIRED: 29 });
    expect(status.requests).toMatchObject({ ok: 31, error: 0 });
    expect(status.divergent.map((d) => [d.fapiInteractionId, d.status, d.final])).toEqual([['b', 'UNPAIRED', true]]);
    expect(h.budget.status().calls.reconcile).toBe(31);
    await h.reconciler.close();
  });

  it('tells each PAIRED_INCONSISTENT answer and each report that becomes UNPAIRED, once, to the floor above (alerts)', async () => {
    const told: DivergentAnswer[] = [];
    const h = await harness(
      { b: [found('UNPAIRED'), found('UNPAIRED'), found('PAIRED')], d: [found('PAIRED_INCONSISTENT')], e: [found('ACCEPTED'), found('UNPAIRED')] },
      {},
      10,
      (answer) => told.push(answer),
    );
    h.reconciler.start();
    h.reconciler.accepted(batch(['a', 'b', 'd', 'e'], T0));
    await h.clock.runUntil(T0 + 2 * DAY);
    expect(asksOf(h, 'b')).toBe(3);
    expect(told.map((t) => [t.fapiInteractionId, t.kind, t.differing, t.lane])).toEqual([
      ['b', 'UNPAIRED', null, LANE],
      ['d', 'PAIRED_INCONSISTENT', ['statusCode'], LANE],
      ['e', 'UNPAIRED', null, LANE],
    ]);
    await h.reconciler.close();
  });

  it('retries a failed GET after errorRetryMs, fetches a new token after a 401, and records what comes', async () => {
    const h = await harness({ d: [networkError, { kind: 'unauthorized' }, { kind: 'not-found' }, found('PAIRED_INCONSISTENT')] });
    h.reconciler.start();
    h.reconciler.accepted(batch(['d'], T0));
    await h.clock.advance(HOUR + 30_000);
    expect(asksOf(h, 'd')).toBe(1);
    await h.clock.advance(60_000 + 5000);
    expect(asksOf(h, 'd')).toBe(2);
    expect(h.invalidated).toEqual(['token-1']);
    await h.clock.advance(60_000 + 5000);
    // 404: not visible yet, asked again after the retry interval like UNPAIRED.
    expect(asksOf(h, 'd')).toBe(3);
    await h.clock.advance(6 * HOUR + 60_000);
    expect(asksOf(h, 'd')).toBe(4);
    await h.clock.advance(7 * HOUR);
    expect(asksOf(h, 'd')).toBe(4);
    const status = h.reconciler.status();
    expect(status.requests).toEqual({ ok: 1, not_found: 1, unauthorized: 1, throttled: 0, error: 1 });
    expect(status.answers).toMatchObject({ NOT_FOUND: 1, PAIRED_INCONSISTENT: 1 });
    expect(status.days[0]!.byStatus).toEqual({ PAIRED_INCONSISTENT: 1 });
    expect(status.divergent).toMatchObject([{ fapiInteractionId: 'd', status: 'PAIRED_INCONSISTENT', differingFields: ['statusCode'], final: true }]);
    await h.reconciler.close();
  });

  it('keeps its state across a restart: a report asked once is asked again by the next process', async () => {
    const h = await harness({ e: [found('UNPAIRED'), found('PAIRED')] });
    h.reconciler.start();
    h.reconciler.accepted(batch(['e', 'f'], T0));
    await h.clock.advance(HOUR + 2 * 60_000);
    expect([asksOf(h, 'e'), asksOf(h, 'f')]).toEqual([1, 1]);
    await h.reconciler.close();

    h.reconciler = h.open();
    expect(h.reconciler.status().days[0]).toMatchObject({ considered: 2, sampled: 2, byStatus: { UNPAIRED: 1, PAIRED: 1 } });
    h.reconciler.start();
    await h.clock.advance(6 * HOUR + 2 * 60_000);
    expect([asksOf(h, 'e'), asksOf(h, 'f')]).toEqual([2, 1]);
    expect(h.reconciler.status().days[0]!.byStatus).toEqual({ PAIRED: 2 });
    await h.reconciler.close();
  });

  it('keeps sampling at its rate while slow pages of GETs are worked through', async () => {
    // 0.2 GETs/s (a page of 64 takes five minutes), 0.15 first asks/s planned, 10 reports/s for three hours.
    const h = await harness({}, { sampleIntervalMs: 10_000, flushMs: 10_000 }, 1);
    h.reconciler.start();
    let n = 0;
    for (let t = 0; t < 3 * 360; t++) {
      h.reconciler.accepted(batch(Array.from({ length: 100 }, () => `slow-${n++}`), h.clock.now()));
      await h.clock.advance(10_000);
    }
    const day = h.reconciler.status().days[0]!;
    expect(day.considered).toBe(108_000);
    // 3 h × 0.15/s = 1620 planned.
    expect(day.sampled).toBeGreaterThan(1620 * 0.9);
    expect(day.sampled).toBeLessThan(1620 * 1.1);
    // Everything due was asked meanwhile; what waits is the last hour's, within its delay.
    const { pending } = h.reconciler.status();
    expect(h.budget.status().calls.reconcile).toBe(day.sampled - pending.first);
    expect(pending.first).toBeGreaterThan(540 * 0.8);
    expect(pending.first).toBeLessThan(540 * 1.2);
    await h.reconciler.close();
  });

  it('samples when the budget cannot cover every report: the day keeps its sample rate and the estimates divide by it', async () => {
    // 1 request/s in all, 0.2 of it for reconciliation: 0.15 first asks/s, against 100 accepted reports/s.
    const h = await harness({}, { sampleIntervalMs: 10_000, flushMs: 10_000 }, 1);
    h.reconciler.start();
    let n = 0;
    for (let s = 0; s < 600; s++) {
      h.reconciler.accepted(batch(Array.from({ length: 100 }, () => `s-${n++}`), h.clock.now()));
      await h.clock.advance(1000);
    }
    expect(h.reconciler.sampleRate).toBeCloseTo(0.15 / 100, 6);
    await h.clock.advance(2 * HOUR);
    const day = h.reconciler.status().days[0]!;
    expect(day.considered).toBe(60_000);
    expect(day.sampled).toBeGreaterThan(50);
    expect(day.sampled).toBeLessThan(130);
    expect(day.sampleRate).toBeCloseTo(day.sampled / day.considered, 12);
    expect(day.sampleRate).toBeLessThan(1);
    // Every sampled report was asked (all PAIRED here): the estimate of PAIRED is the day's considered reports.
    expect(day.byStatus).toEqual({ PAIRED: day.sampled });
    expect(day.estimated.PAIRED).toBeCloseTo(day.byStatus.PAIRED! / day.sampleRate, 2);
    expect(day.estimated.PAIRED).toBeCloseTo(60_000, 0);
    // Never more GETs than the share allowed: 0.2/s over the whole run (+1 saved permit).
    const elapsed = (h.clock.now() - T0) / 1000;
    expect(h.budget.status().calls.reconcile).toBeLessThanOrEqual(0.2 * elapsed + 1);
    await h.reconciler.close();
  });
});
