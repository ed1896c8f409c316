import Database from 'better-sqlite3';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { brtDay, dayDeadline, dayLabel } from '../../src/spool/days.js';
import { SCHEMA_VERSION } from '../../src/spool/schema.js';
import { laneOf, Spool, type NewReport } from '../../src/spool/spool.js';
import { tempDir } from '../helpers/pki.js';

/**
 * The spool's part of the regulator's clock (issue #10): a report's day is the BRT day of its own timestamp, a
 * report past the PCM's age limit when its turn comes is a dead letter (too-old) instead of a request the PCM
 * refuses, and each day counts received / delivered / delivered by 08:00 BRT of D+1 / discarded / too old.
 * A controllable clock drives leases and answers.
 */

const ORG = '062c5edb-4e83-5002-9981-e2a96c5ad41e';
const LANE = laneOf('private', ORG);
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const MAX_AGE = 7 * DAY;

function report(i: number, at: number): NewReport {
  return { stream: 'private', orgId: ORG, repairs: [], dedupKey: `k|${i}`, fapiInteractionId: `id-${i}`, at, json: JSON.stringify({ i, at: new Date(at).toISOString() }) };
}

class Clock {
  constructor(public t: number) {}
  readonly now = (): number => this.t;
}

async function spoolAt(clock: Clock, writerThread = false): Promise<Spool> {
  const path = join(await tempDir('deadlines'), 'spool.db');
  const options = { path, sync: 'normal' as const, maxAgeMs: MAX_AGE, now: clock.now };
  return writerThread ? Spool.open({ ...options, writerThread: true }) : new Spool(options);
}

function states(path: string): Record<string, { state: string; reason: string | null; message: string | null }> {
  const db = new Database(path, { readonly: true });
  try {
    const rows = db.prepare("SELECT json_extract(body, '$.i') AS i, state, dead_letter_reason AS reason, pcm_message AS message FROM reports").all() as {
      i: number;
      state: string;
      reason: string | null;
      message: string | null;
    }[];
    return Object.fromEntries(rows.map((r) => [String(r.i), { state: r.state, reason: r.reason, message: r.message }]));
  } finally {
    db.close();
  }
}

describe('BRT days', () => {
  it('a day is the calendar day in UTC−3; its deadline is 08:00 BRT (11:00 UTC) the next day', () => {
    expect(dayLabel(brtDay(Date.parse('2026-12-01T02:59:59.999Z')))).toBe('2026-11-30');
    expect(dayLabel(brtDay(Date.parse('2026-12-01T03:00:00.000Z')))).toBe('2026-12-01');
    expect(new Date(dayDeadline(brtDay(Date.parse('2026-12-01T12:00:00Z')))).toISOString()).toBe('2026-12-02T11:00:00.000Z');
    // Across a month and a year boundary.
    expect(dayLabel(brtDay(Date.parse('2027-01-01T01:00:00Z')))).toBe('2026-12-31');
    expect(new Date(dayDeadline(brtDay(Date.parse('2026-12-31T20:00:00Z')))).toISOString()).toBe('2027-01-01T11:00:00.000Z');
  });
});

for (const writerThread of [false, true]) {
  describe(`age limit and per-day counts (${writerThread ? 'writer thread' : 'in process'})`, () => {
    it('near the cut-off a report is still sent; past it, it is a dead letter (too-old), counted on its day, and the rest is leased', async () => {
      const t0 = Date.parse('2026-12-01T12:00:00Z');
      const clock = new Clock(t0);
      const spool = await spoolAt(clock, writerThread);
      try {
        // 0: six days old; 1: an hour old; 2: 6 days 23 h old.
        await spool.write({ reports: [report(0, t0 - 6 * DAY), report(1, t0 - HOUR), report(2, t0 - 7 * DAY + HOUR)], rejected: [] });
        clock.t = t0 + 30 * 60_000; // report 2 is 6 d 23 h 30 min old: still sent, and first (nearest its cut-off)
        const first = spool.lease(LANE, 1, 1 << 20);
        expect(first?.rows.map((r) => JSON.parse(r.body).i)).toEqual([2]);
        spool.release(first?.rows.map((r) => r.id) ?? []);
        clock.t = t0 + 1.5 * DAY; // 0 is 7.5 days old, 2 is 8.5 days old; 1 is 1.5 days old
        const batch = spool.lease(LANE, 10, 1 << 20);
        expect(batch?.rows.map((r) => JSON.parse(r.body).i)).toEqual([1]);
        expect(batch?.rows[0]?.at).toBe(t0 - HOUR);
        spool.complete((batch?.rows ?? []).map((r) => ({ id: r.id, state: 'accepted' as const, reportId: 'r1', message: null, at: r.at })));
        await spool.flush();
        expect(spool.lease(LANE, 10, 1 << 20)).toBeNull();
        expect(spool.counts()).toMatchObject({ pending: 0, inflight: 0, discarded: 2, accepted: 1 });
        const s = states(spool.path);
        expect(s['0']).toMatchObject({ state: 'discarded', reason: 'too-old' });
        expect(s['0']?.message).toMatch(/^Not sent: older than 168 h/);
        expect(s['2']).toMatchObject({ state: 'discarded', reason: 'too-old' });
        expect(s['1']).toMatchObject({ state: 'accepted', reason: null });
        const letters = spool.deadLetters({ limit: 10 });
        expect(letters.map((l) => [JSON.parse(l.body).i, l.reason, l.lane])).toEqual([
          [2, 'too-old', LANE],
          [0, 'too-old', LANE],
        ]);
        expect(spool.deadLetters({ limit: 10, reason: 'pcm' })).toEqual([]);
        expect(spool.deadLetters({ limit: 10, since: clock.t + 1 })).toEqual([]);
        const byDay = Object.fromEntries(spool.days(0).map((d) => [dayLabel(d.day), d]));
        expect(byDay[dayLabel(brtDay(t0 - 6 * DAY))]).toMatchObject({ received: 1, tooOld: 1, delivered: 0 });
        expect(byDay[dayLabel(brtDay(t0 - 7 * DAY + HOUR))]).toMatchObject({ received: 1, tooOld: 1 });
        // Delivered 1.5 days after its day began: after 08:00 of D+1, so not on time.
        expect(byDay[dayLabel(brtDay(t0 - HOUR))]).toMatchObject({ received: 1, delivered: 1, onTime: 0 });
      } finally {
        await spool.close();
      }
    });

    it('a page of nothing but too-old reports does not hide the reports behind it', async () => {
      const t0 = Date.parse('2026-12-10T12:00:00Z');
      const clock = new Clock(t0);
      const spool = await spoolAt(clock, writerThread);
      try {
        const old = Array.from({ length: 25 }, (_, i) => report(i, t0 - 8 * DAY));
        await spool.write({ reports: [...old, report(100, t0 - HOUR)], rejected: [] });
        const batch = spool.lease(LANE, 10, 1 << 20);
        expect(batch?.rows.map((r) => JSON.parse(r.body).i)).toEqual([100]);
        await spool.flush();
        expect(spool.counts()).toMatchObject({ discarded: 25, inflight: 1, pending: 0 });
      } finally {
        await spool.close();
      }
    });

    it('counts each day in BRT across the day boundary, on time until 08:00 BRT of D+1, and DISCARDED apart', async () => {
      // 02:30 UTC is 23:30 BRT of the day before; 03:30 UTC is 00:30 BRT.
      const late = Date.parse('2026-12-01T02:30:00Z');
      const early = Date.parse('2026-12-01T03:30:00Z');
      const clock = new Clock(Date.parse('2026-12-01T04:00:00Z'));
      const spool = await spoolAt(clock, writerThread);
      try {
        await spool.write({ reports: [report(0, late), report(1, late), report(2, early), report(3, early), report(4, early)], rejected: [] });
        // A duplicate is not received twice.
        await spool.write({ reports: [report(0, late)], rejected: [] });
        const first = spool.lease(LANE, 3, 1 << 20);
        const [a, b, c] = first?.rows ?? [];
        if (!a || !b || !c) throw new Error('expected three rows');
        // 10:59:59 UTC of 2026-12-01 is 07:59:59 BRT: on time for 2026-11-30.
        clock.t = Date.parse('2026-12-01T10:59:59Z');
        spool.complete([
          { id: a.id, state: 'accepted', reportId: 'r0', message: null, at: a.at },
          { id: b.id, state: 'discarded', reportId: null, message: 'Unlisted endpoint', at: b.at },
          { id: c.id, state: 'accepted', reportId: 'r2', message: null, at: c.at },
        ]);
        const rest = spool.lease(LANE, 10, 1 << 20);
        // 08:00:01 BRT on 2026-12-02: late for 2026-12-01.
        clock.t = Date.parse('2026-12-02T11:00:01Z');
        spool.complete((rest?.rows ?? []).map((r) => ({ id: r.id, state: 'accepted' as const, reportId: null, message: null, at: r.at })));
        await spool.flush();
        const byDay = Object.fromEntries(spool.days(0).map((d) => [dayLabel(d.day), d]));
        expect(byDay['2026-11-30']).toMatchObject({ lane: LANE, received: 2, delivered: 1, onTime: 1, discarded: 1, tooOld: 0 });
        expect(byDay['2026-12-01']).toMatchObject({ lane: LANE, received: 3, delivered: 3, onTime: 1, discarded: 0 });
        expect(spool.days(brtDay(early))).toHaveLength(1);
        expect(spool.deadLetters({ limit: 5 }).map((l) => [l.reason, l.message])).toEqual([['pcm', 'Unlisted endpoint']]);
      } finally {
        await spool.close();
      }
    });
  });
}

describe('a replayed dead letter', () => {
  it('counts once on its day: as delivered when its copy is accepted, no longer as discarded', async () => {
    const t0 = Date.parse('2026-12-01T12:00:00Z');
    const clock = new Clock(t0);
    const spool = await spoolAt(clock);
    try {
      const original = report(1, t0 - HOUR);
      await spool.write({ reports: [original], rejected: [] });
      const first = spool.lease(LANE, 10, 1 << 20);
      spool.complete((first?.rows ?? []).map((r) => ({ id: r.id, state: 'discarded' as const, reportId: null, message: 'Unlisted endpoint', at: r.at })));
      const [letter] = spool.deadLetters({ limit: 1 });
      expect(spool.replayDeadLetters([{ deadLetterId: letter!.id, report: original }])).toEqual(['stored']);
      const copy = spool.lease(LANE, 10, 1 << 20);
      spool.complete((copy?.rows ?? []).map((r) => ({ id: r.id, state: 'accepted' as const, reportId: 'r', message: null, at: r.at })));
      expect(spool.days(0)).toMatchObject([{ day: brtDay(t0 - HOUR), received: 1, delivered: 1, onTime: 1, discarded: 0, tooOld: 0 }]);
    } finally {
      await spool.close();
    }
  });
});

describe('late reports go first', () => {
  it('a report stored long after its timestamp is sent before older arrivals, once, across releases and a restart', async () => {
    const t0 = Date.parse('2026-12-05T12:00:00Z');
    const clock = new Clock(t0);
    const path = join(await tempDir('late'), 'spool.db');
    const open = (): Spool => new Spool({ path, sync: 'normal', maxAgeMs: MAX_AGE, now: clock.now });
    const order = (batch: { rows: { body: string }[] } | null): number[] => (batch?.rows ?? []).map((r) => JSON.parse(r.body).i as number);
    let spool = open();
    try {
      const fresh = (i: number): NewReport => report(i, t0 - 60_000);
      await spool.write({ reports: [1, 2, 3, 4, 5].map(fresh), rejected: [] });
      // 5 days old on arrival: late (PCM_SPOOL_LATE_ARRIVAL_MS, 1 h), and older than the lane's oldest waiting report.
      await spool.write({ reports: [report(6, t0 - 5 * DAY)], rejected: [] });
      // Late by 2 h but newer than the head: arrival order is right for it.
      await spool.write({ reports: [report(7, t0 - 2 * HOUR + 30 * 60_000), fresh(8)], rejected: [] });
      // 7's timestamp (t0 − 1.5 h) is older than the head's (t0 − 1 min): it goes first too, after 6.
      const first = spool.lease(LANE, 3, 1 << 20);
      expect(order(first)).toEqual([6, 7, 1]);
      spool.release((first?.rows ?? []).map((r) => r.id));
      expect(spool.counts().pending).toBe(8);
      const again = spool.lease(LANE, 2, 1 << 20);
      expect(order(again)).toEqual([6, 7]);
      spool.complete((again?.rows ?? []).map((r) => ({ id: r.id, state: 'accepted' as const, reportId: `r${r.id}`, message: null, at: r.at })));
      expect(spool.counts()).toMatchObject({ pending: 6, inflight: 0, accepted: 2 });
      const next = spool.lease(LANE, 2, 1 << 20);
      expect(order(next)).toEqual([1, 2]);
      // Stopped with 1 and 2 in flight: at the restart they are pending again; 6 and 7 stay answered.
      await spool.close();
      spool = open();
      expect(spool.counts()).toMatchObject({ pending: 6, inflight: 0, accepted: 2 });
      const rest = spool.lease(LANE, 10, 1 << 20);
      expect(order(rest)).toEqual([1, 2, 3, 4, 5, 8]);
      spool.complete((rest?.rows ?? []).map((r) => ({ id: r.id, state: 'accepted' as const, reportId: null, message: null, at: r.at })));
      expect(spool.lease(LANE, 10, 1 << 20)).toBeNull();
      expect(spool.counts()).toMatchObject({ pending: 0, inflight: 0, accepted: 8 });
      // The lane's cursor passed over what was taken ahead of it; new reports still come in order.
      await spool.write({ reports: [fresh(9), fresh(10)], rejected: [] });
      expect(order(spool.lease(LANE, 10, 1 << 20))).toEqual([9, 10]);
      // Whatever was leased twice is flagged as possibly at the PCM twice: 6 and 7 (released, then sent), 1 (released),
      // and 1 and 2 again (in flight at the restart); nothing else.
      const db = new Database(path, { readonly: true });
      const resent = (db.prepare("SELECT json_extract(body, '$.i') AS i FROM reports WHERE resent ORDER BY 1").pluck().all() as number[]);
      db.close();
      expect(resent).toEqual([1, 2, 6, 7]);
    } finally {
      await spool.close();
    }
  });
});

describe('a late report in flight at a crash', () => {
  it('is pending again at the restart, goes first again, and is flagged resent', async () => {
    const t0 = Date.parse('2026-12-05T12:00:00Z');
    const clock = new Clock(t0);
    const path = join(await tempDir('late-crash'), 'spool.db');
    let spool = new Spool({ path, sync: 'normal', maxAgeMs: MAX_AGE, now: clock.now });
    await spool.write({ reports: [report(1, t0 - 60_000), report(2, t0 - 3 * DAY)], rejected: [] });
    expect(spool.lease(LANE, 1, 1 << 20)?.rows.map((r) => JSON.parse(r.body).i)).toEqual([2]);
    await spool.close();
    spool = new Spool({ path, sync: 'normal', maxAgeMs: MAX_AGE, now: clock.now });
    try {
      expect(spool.recoveredInflight).toBe(1);
      const again = spool.lease(LANE, 10, 1 << 20);
      expect(again?.rows.map((r) => JSON.parse(r.body).i)).toEqual([2, 1]);
      await spool.flush();
      const db = new Database(path, { readonly: true });
      const resent = db.prepare("SELECT json_extract(body, '$.i') FROM reports WHERE resent").pluck().all();
      db.close();
      expect(resent).toEqual([2]);
    } finally {
      await spool.close();
    }
  });
});

describe('schema 3 → 4', () => {
  it('a version-3 file gains the columns and the day table, keeps its pending reports in order, and counts from then on', async () => {
    const t0 = Date.parse('2026-12-01T12:00:00Z');
    const clock = new Clock(t0);
    const spool = await spoolAt(clock);
    await spool.write({ reports: [report(0, t0 - HOUR), report(1, t0 - HOUR), report(2, t0 - HOUR)], rejected: [] });
    const leased = spool.lease(LANE, 1, 1 << 20);
    spool.complete((leased?.rows ?? []).map((r) => ({ id: r.id, state: 'discarded' as const, reportId: null, message: 'Refused by the PCM, not sent again: report API answered 422', at: r.at })));
    const path = spool.path;
    await spool.close();
    // Back to version 3: what this file would have looked like before.
    const db = new Database(path);
    db.exec(`DROP VIEW reports; ALTER TABLE log DROP COLUMN ts; ALTER TABLE discarded DROP COLUMN reason; ALTER TABLE discarded DROP COLUMN replayed_at; DROP TABLE days; DROP TABLE late; DROP TABLE endpoint_days; DROP TABLE counted_since;`);
    db.pragma('user_version = 3');
    db.close();

    const again = new Spool({ path, sync: 'normal', maxAgeMs: MAX_AGE, now: clock.now });
    try {
      const batch = again.lease(LANE, 10, 1 << 20);
      expect(batch?.rows.map((r) => JSON.parse(r.body).i)).toEqual([1, 2]);
      // Rows from version 3 have no timestamp of their own: their arrival stands in.
      for (const row of batch?.rows ?? []) expect(row.at).toBeGreaterThan(t0 - 60_000);
      expect(again.deadLetters({ limit: 5 }).map((l) => l.reason)).toEqual(['refused']);
      expect(again.days(0)).toEqual([]);
      await again.write({ reports: [report(9, t0)], rejected: [] });
      expect(again.days(0)).toMatchObject([{ day: brtDay(t0), received: 1 }]);
      const check = new Database(path, { readonly: true });
      expect(check.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
      check.close();
    } finally {
      await again.close();
    }
  });
});
