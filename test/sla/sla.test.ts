import { join } from 'node:path';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { assessDays } from '../../src/sla/assess.js';
import { SlaTracker } from '../../src/sla/tracker.js';
import { brtDay, type DayCounts } from '../../src/spool/days.js';
import { laneOf, Spool, type NewReport } from '../../src/spool/spool.js';
import { tempDir } from '../helpers/pki.js';

/**
 * The daily SLA (pcm-rules.md §10) on a controllable clock: 95 % of day D's reports at the PCM by 08:00 BRT on D+1,
 * projected from the recent drain rate; SLA.AT_RISK raised when the projection falls short and cleared when it
 * recovers, through the real spool's per-day counters.
 */

const ORG = '062c5edb-4e83-5002-9981-e2a96c5ad41e';
const LANE = laneOf('private', ORG);
const D = brtDay(Date.parse('2026-12-01T12:00:00Z'));

function day(overrides: Partial<DayCounts>): DayCounts {
  return { day: D, lane: LANE, received: 0, delivered: 0, onTime: 0, discarded: 0, tooOld: 0, ...overrides };
}

describe('assessDays', () => {
  it('adds lanes up, and judges a day on its on-time share plus what the drain can still do before 08:00 BRT of D+1', () => {
    const now = Date.parse('2026-12-02T10:00:00Z'); // 07:00 BRT of D+1: one hour left
    const counts = [day({ received: 600, delivered: 500, onTime: 500 }), day({ lane: 'private:other', received: 400, delivered: 400, onTime: 400 })];
    // 100 pending; at 0.01/s an hour drains 36: 936 / 1000 < 95 %.
    expect(assessDays(counts, now, 0.01)[0]).toMatchObject({
      day: '2026-12-01',
      deadline: '2026-12-02T11:00:00.000Z',
      received: 1000,
      pending: 100,
      onTimeShare: 0.9,
      projectedShare: 0.936,
      atRisk: true,
    });
    // At 1/s the hour drains all 100.
    expect(assessDays(counts, now, 1)[0]).toMatchObject({ projectedShare: 1, atRisk: false });
  });

  it('after the deadline a day has no projection and is never at risk; DISCARDED and too-old reports are missing for the SLA', () => {
    const now = Date.parse('2026-12-02T11:00:01Z');
    const [v] = assessDays([day({ received: 100, delivered: 90, onTime: 90, discarded: 6, tooOld: 4 })], now, 0);
    expect(v).toMatchObject({ pending: 0, onTimeShare: 0.9, deliveredShare: 0.9, projectedShare: null, atRisk: false });
  });

  it('the earliest deadline takes the drain first: two days share one backlog', () => {
    const now = Date.parse('2026-12-02T10:00:00Z');
    const yesterday = day({ received: 100, delivered: 0, onTime: 0 }); // deadline in 1 h
    const today = day({ day: D + 1, received: 100 }); // deadline in 25 h
    const [a, b] = assessDays([today, yesterday], now, 100 / 3600); // drains 100 in the hour, 2500 by the second deadline
    expect(a).toMatchObject({ day: '2026-12-01', projectedShare: 1, atRisk: false });
    expect(b).toMatchObject({ day: '2026-12-02', projectedShare: 1, atRisk: false });
    const [c] = assessDays([today, yesterday], now, 50 / 3600);
    expect(c).toMatchObject({ day: '2026-12-01', projectedShare: 0.5, atRisk: true });
  });

  it("a day past its deadline with reports still waiting takes the drain before today's", () => {
    const now = Date.parse('2026-12-02T12:00:00Z'); // D's deadline passed an hour ago; D+1's is 23 h away
    const [late, today] = assessDays([day({ received: 1_000_000, delivered: 0 }), day({ day: D + 1, received: 100_000 })], now, 10);
    expect(late).toMatchObject({ day: '2026-12-01', pending: 1_000_000, projectedShare: null, atRisk: false, outcome: 'missed' });
    // 23 h at 10/s is 828,000 answers: all of them go to D's leftovers first.
    expect(today).toMatchObject({ day: '2026-12-02', projectedShare: 0, atRisk: true, outcome: 'open' });
  });

  it('after the deadline the outcome is met or missed on the on-time share', () => {
    const now = Date.parse('2026-12-02T11:00:00Z');
    expect(assessDays([day({ received: 100, delivered: 95, onTime: 95 })], now, 0)[0]?.outcome).toBe('met');
    expect(assessDays([day({ received: 100, delivered: 100, onTime: 94 })], now, 0)[0]?.outcome).toBe('missed');
    expect(assessDays([day({ received: 100, delivered: 100, onTime: 94 })], now - 1, 0)[0]?.outcome).toBe('open');
  });

  it('a day with nothing received has no shares and is not at risk', () => {
    expect(assessDays([day({})], Date.parse('2026-12-01T12:00:00Z'), 0)[0]).toMatchObject({ onTimeShare: null, projectedShare: null, atRisk: false });
  });
});

describe('SlaTracker over the spool', () => {
  it('raises SLA.AT_RISK while day D cannot reach 95 % at the drain rate, and clears it once enough is delivered on time', async () => {
    let now = Date.parse('2026-12-01T20:00:00Z'); // 17:00 BRT on D
    const clock = (): number => now;
    const spool = new Spool({ path: join(await tempDir('sla'), 'spool.db'), sync: 'normal', maxAgeMs: 7 * 86_400_000, now: clock });
    const lines: { event?: string; cleared?: boolean; day?: string }[] = [];
    const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
    const tracker = new SlaTracker((from) => spool.days(from), log, clock);
    try {
      const reports: NewReport[] = Array.from({ length: 100 }, (_, i) => ({
        stream: 'private',
        orgId: ORG,
        repairs: [],
        dedupKey: `k${i}`,
        fapiInteractionId: null,
        at: now - 60_000,
        json: JSON.stringify({ i }),
      }));
      await spool.write({ reports, rejected: [] });
      expect(tracker.status()).toMatchObject({ atRisk: true, days: [{ day: '2026-12-01', received: 100, pending: 100, onTimeShare: 0 }] });
      expect(lines.filter((l) => l.event === 'SLA.AT_RISK' && !l.cleared).map((l) => l.day)).toEqual(['2026-12-01']);
      // Still at risk a minute later with nothing answered: logged once.
      now += 60_000;
      expect(tracker.status().atRisk).toBe(true);
      expect(lines.filter((l) => l.event === 'SLA.AT_RISK')).toHaveLength(1);

      // 96 delivered before the deadline.
      const batch = spool.lease(LANE, 96, 1 << 24);
      now += 60_000;
      spool.complete((batch?.rows ?? []).map((r) => ({ id: r.id, state: 'accepted' as const, reportId: null, message: null, at: r.at })));
      const status = tracker.status();
      expect(status.days[0]).toMatchObject({ delivered: 96, onTime: 96, pending: 4, onTimeShare: 0.96 });
      expect(status.atRisk).toBe(false);
      expect(status.drainRatePerSecond).toBeGreaterThan(0);
      expect(lines.filter((l) => l.event === 'SLA.AT_RISK' && l.cleared).map((l) => l.day)).toEqual(['2026-12-01']);
    } finally {
      await spool.close();
    }
  });

  it('a day still at risk at its deadline is logged as missed, not as cleared', async () => {
    let now = Date.parse('2026-12-02T10:00:00Z'); // 07:00 BRT of D+1
    const clock = (): number => now;
    const spool = new Spool({ path: join(await tempDir('sla-missed'), 'spool.db'), sync: 'normal', maxAgeMs: 7 * 86_400_000, now: clock });
    const lines: { event?: string; cleared?: boolean; day?: string; msg?: string; outcome?: string }[] = [];
    const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
    const told: string[] = [];
    const tracker = new SlaTracker((from) => spool.days(from), log, clock, (v) => told.push(`${v.day} ${v.atRisk} ${v.outcome}`));
    try {
      const at = Date.parse('2026-12-01T15:00:00Z');
      await spool.write({ reports: Array.from({ length: 10 }, (_, i) => ({ stream: 'private' as const, orgId: ORG, repairs: [], dedupKey: `m${i}`, fapiInteractionId: null, at, json: '{}' })), rejected: [] });
      expect(tracker.status().atRisk).toBe(true);
      now = Date.parse('2026-12-02T11:00:01Z');
      expect(tracker.status().days[0]).toMatchObject({ atRisk: false, outcome: 'missed' });
      expect(told).toEqual(['2026-12-01 true open', '2026-12-01 false missed']);
      expect(lines.filter((l) => l.event === 'SLA.AT_RISK').map((l) => l.msg)).toEqual([
        'day 2026-12-01 cannot reach 95 % at the PCM by 2026-12-02T11:00:00.000Z at the current drain rate',
        'day 2026-12-01 missed 95 % at the PCM by 2026-12-02T11:00:00.000Z',
      ]);
    } finally {
      await spool.close();
    }
  });
});
