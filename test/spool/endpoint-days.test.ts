import Database from 'better-sqlite3';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULTS } from '../../src/config/defaults.js';
import { loadCatalog } from '../../src/report/catalog.js';
import { reportRules } from '../../src/report/context.js';
import { prepareReport, spoolEntry } from '../../src/report/validate.js';
import { brtDay } from '../../src/spool/days.js';
import { MAX_ENDPOINT_CHARS, UNLISTED_ENDPOINT } from '../../src/spool/endpoint-days.js';
import { SCHEMA_VERSION } from '../../src/spool/schema.js';
import { laneOf, Spool, type EndpointDay, type NewReport } from '../../src/spool/spool.js';
import { tempDir } from '../helpers/pki.js';
import { validReport } from '../helpers/reports.js';
import { asSchema4Release, scanEndpointDays } from '../helpers/spool-scan.js';

/**
 * The per-day, per-endpoint counters (endpoint-days.ts) against a brute-force count of the log: after appends
 * (in-process and through the writer thread), deliveries, discards, too-old reports, a dead-letter replay and a
 * restart, and unchanged by pruning; pending without reading the unanswered reports; endpoints outside the catalogue
 * under one key; the days a schema-4 release wrote into (a rollback) named; a spool of schema 4 migrated to them.
 */

const ORGS = ['062c5edb-4e83-5002-9981-e2a96c5ad41e', 'c160a6f5-e5df-5067-9e97-ec6fba62fd87'];
const ENDPOINTS = ['/open-banking/accounts/v2/accounts', '/open-banking/consents/v3/consents', ''];
const HOUR = 3_600_000;

class Clock {
  constructor(public t: number) {}
  readonly now = (): number => this.t;
}

/** Endpoint i % 3 (the third: none in the body), given with the report or left for the spool to read. */
function report(i: number, at: number, given: boolean): NewReport {
  const endpoint = ENDPOINTS[i % ENDPOINTS.length] as string;
  const json = JSON.stringify({ i, ...(endpoint === '' ? {} : { endpoint }) });
  return { stream: 'private', orgId: ORGS[i % 2] as string, dedupKey: `k${i}`, fapiInteractionId: null, at, json, repairs: [], ...(given ? { endpoint } : {}) };
}

function scanned(path: string): EndpointDay[] {
  const db = new Database(path, { readonly: true });
  try {
    return scanEndpointDays(db);
  } finally {
    db.close();
  }
}

describe('per-endpoint counters', () => {
  for (const writerThread of [false, true]) {
    it(`equal a count of the log after appends, answers, a replay and a restart, and outlive pruning (writer thread: ${writerThread})`, async () => {
      const t0 = Date.parse('2026-12-01T12:00:00Z');
      const clock = new Clock(t0);
      const path = join(await tempDir('endpoint-days'), 'spool.db');
      // Reports 30 h old are past this age limit when their turn comes: too-old dead letters.
      const open = (): Promise<Spool> => Spool.open({ path, sync: 'normal', now: clock.now, writerThread, maxAgeMs: 24 * HOUR });
      let spool = await open();
      const check = async (): Promise<EndpointDay[]> => {
        await spool.flush();
        const counted = spool.queries().endpointDays(0);
        expect({ ...counted, rows: undefined }).toEqual({ countedFrom: 0, rows: undefined, unbalanced: [], truncated: false });
        expect(counted.rows).toEqual(scanned(path));
        return counted.rows;
      };
      try {
        // Two days (yesterday's late arrivals among them), three endpoints, both lanes; some posted twice.
        const reports = Array.from({ length: 60 }, (_, i) => report(i, t0 - (i % 4 === 0 ? 30 * HOUR : HOUR) - i, i % 5 !== 0));
        expect(await spool.write({ reports: reports.slice(0, 40), rejected: [] })).toEqual(Array(40).fill('stored'));
        const again = await spool.write({ reports: reports.slice(30), rejected: [] });
        expect(again.filter((o) => o === 'duplicate').length).toBe(10);
        expect((await check()).reduce((n, e) => n + e.received, 0)).toBe(60);

        // Answers: every fourth discarded by the PCM, the rest accepted (the endpoint given by the sender, or read by
        // the spool); the old ones too old; one lane's second batch left in flight.
        for (const lane of ORGS.map((o) => laneOf('private', o))) {
          const batch = spool.lease(lane, 10, 1 << 20);
          spool.complete(
            (batch?.rows ?? []).map((r, k) => ({
              id: r.id, state: k % 4 === 0 ? ('discarded' as const) : ('accepted' as const), reportId: `r${r.id}`, message: k % 4 === 0 ? 'no' : null, at: r.at,
              ...(k % 2 === 0 ? { endpoint: r.endpoint } : {}),
            })),
          );
        }
        expect(spool.lease(laneOf('private', ORGS[0]!), 3, 1 << 20)?.rows.length).toBe(3);
        const answered = await check();
        const total = (pick: (e: EndpointDay) => number): number => answered.reduce((n, e) => n + pick(e), 0);
        expect([total((e) => e.accepted), total((e) => e.discarded - e.tooOld), total((e) => e.tooOld)].every((n) => n > 0)).toBe(true);

        // A dead letter stored again: counted once, as its copy.
        const [letter] = spool.deadLetters({ limit: 1 });
        const body = JSON.parse(letter!.body) as { i: number };
        expect(spool.replayDeadLetters([{ deadLetterId: letter!.id, report: { ...report(body.i, letter!.reportAt, true), dedupKey: `k${body.i}` } }])).toEqual(['stored']);
        const beforePrune = await check();

        // A restart (the in-flight batch pending again) changes nothing counted.
        await spool.close();
        spool = await open();
        expect(await check()).toEqual(beforePrune.map((e) => ({ ...e })));

        // Pruning deletes delivered rows, dead letters among them: every figure stays as counted, and the endpoints
        // still add up to the day (as the lanes' counters do).
        clock.t += HOUR;
        const deadLetters = spool.countDeadLetters({});
        expect(spool.pruneDelivered(Number.POSITIVE_INFINITY, 1000)).toBeGreaterThan(0);
        await spool.flush();
        expect(spool.countDeadLetters({})).toBeLessThan(deadLetters);
        expect(scanned(path)).not.toEqual(beforePrune);
        const pruned = spool.queries().endpointDays(0);
        expect(pruned).toEqual({ countedFrom: 0, rows: beforePrune, unbalanced: [], truncated: false });
        const perDay = (pick: (d: { received: number; delivered: number; discarded: number; tooOld: number }) => number): Map<number, number> => {
          const out = new Map<number, number>();
          for (const d of spool.days(0)) out.set(d.day, (out.get(d.day) ?? 0) + pick(d));
          return out;
        };
        const perEndpoint = (pick: (e: EndpointDay) => number): Map<number, number> => {
          const out = new Map<number, number>();
          for (const e of pruned.rows) out.set(e.day, (out.get(e.day) ?? 0) + pick(e));
          return out;
        };
        expect(perEndpoint((e) => e.discarded - e.tooOld)).toEqual(perDay((d) => d.discarded));
        expect(perEndpoint((e) => e.tooOld)).toEqual(perDay((d) => d.tooOld));
        expect(perEndpoint((e) => e.accepted)).toEqual(perDay((d) => d.delivered));
        expect(pruned.rows.map((e) => e.day)).toEqual(expect.arrayContaining([brtDay(t0), brtDay(t0 - 30 * HOUR)]));
      } finally {
        await spool.close();
      }
    });
  }

  it('a spool of schema 4 migrates: it keeps working, and counts per endpoint from the day after the migration', async () => {
    const path = join(await tempDir('endpoint-days-v4'), 'spool.db');
    const now = Date.now();
    const first = new Spool({ path, sync: 'normal' });
    await first.write({ reports: [report(0, now - HOUR, true), report(1, now - HOUR, true), report(2, now - HOUR, true)], rejected: [] });
    const batch = first.lease(laneOf('private', ORGS[0]!), 1, 1 << 20);
    first.complete((batch?.rows ?? []).map((r) => ({ id: r.id, state: 'accepted' as const, reportId: 'r', message: null, at: r.at })));
    await first.close();
    // Back to schema 4: what this file looked like before.
    const db = new Database(path);
    db.exec('DROP TABLE endpoint_days; DROP TABLE counted_since;');
    db.pragma('user_version = 4');
    db.close();

    const spool = new Spool({ path, sync: 'normal' });
    try {
      const counted = spool.queries().endpointDays(0);
      expect(counted).toEqual({ countedFrom: brtDay(Date.now()) + 1, rows: [], unbalanced: [], truncated: false });
      expect(spool.counts()).toMatchObject({ pending: 2, accepted: 1 });
      // Reports of the days counted are counted; the rest of the spool works as before.
      await spool.write({ reports: [report(3, now + 25 * HOUR, true), report(4, now - HOUR, true)], rejected: [] });
      expect(spool.queries().endpointDays(0).rows).toEqual([
        { day: brtDay(now + 25 * HOUR), endpoint: ENDPOINTS[0], received: 1, accepted: 0, discarded: 0, tooOld: 0, pending: 1 },
      ]);
      expect(spool.lease(laneOf('private', ORGS[1]!), 10, 1 << 20)?.rows.map((r) => (JSON.parse(r.body) as { i: number }).i)).toEqual([1, 3]);
      expect(spool.queries().reports({}, { offset: 0, limit: 10 }).total).toBe(5);
    } finally {
      await spool.close();
    }
    // Opened again: not migrated again, the same first day.
    const check = new Database(path, { readonly: true });
    try {
      expect(check.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
      expect(check.prepare('SELECT day FROM counted_since').pluck().all()).toEqual([brtDay(Date.now()) + 1]);
    } finally {
      check.close();
    }
  });

  it('answers pending from the counters while the PCM is out of reach: the unanswered reports are not read', async () => {
    const path = join(await tempDir('endpoint-days-outage'), 'spool.db');
    const t0 = Date.parse('2026-12-01T12:00:00Z');
    const spool = new Spool({ path, sync: 'normal', now: () => t0 });
    const lane = laneOf('private', ORGS[0]!);
    try {
      const reports = Array.from({ length: 3000 }, (_, i) => ({ ...report(2 * i, t0 - HOUR, true), dedupKey: `o${i}` }));
      await spool.write({ reports, rejected: [] });
      const batch = spool.lease(lane, 100, 1 << 24);
      spool.complete((batch?.rows ?? []).map((r) => ({ id: r.id, state: 'accepted' as const, reportId: null, message: null, at: r.at, endpoint: r.endpoint })));
      expect(spool.lease(lane, 50, 1 << 24)?.rows.length).toBe(50);
      const before = spool.queries().endpointDays(0);
      expect(before.rows.map((e) => [e.received, e.accepted, e.pending])).toEqual([
        [1000, 33, 967],
        [1000, 34, 966],
        [1000, 33, 967],
      ]);
      // The unanswered reports made unreadable as JSON: a scan of them would fail; the figures do not change.
      const db = new Database(path);
      db.prepare('UPDATE log SET body = ? WHERE id NOT IN (SELECT l.id FROM log l JOIN deliveries d ON l.id BETWEEN d.first AND d.last)').run('not JSON');
      db.close();
      expect(spool.queries().endpointDays(0)).toEqual(before);
    } finally {
      await spool.close();
    }
  });

  it('counts endpoints outside the catalogue under one key, and an endpoint no key was given for cut short', async () => {
    const path = join(await tempDir('endpoint-days-unlisted'), 'spool.db');
    const now = Date.now();
    // A policy that sends reports of endpoints not in the catalogue: their strings are the gateways'.
    const rules = reportRules({ organisations: null, opendataOrgId: null, rules: { ...DEFAULTS.rules, overrides: { listed_endpoint: 'send' } } }, loadCatalog());
    const context = rules.validation(now);
    const listed = validReport(1, now);
    const entries = [listed, ...Array.from({ length: 6 }, (_, i) => ({ ...validReport(1, now), endpoint: `/open-banking/x${i}/v1/${'y'.repeat(300)}` }))].map((item) => {
      const result = prepareReport(item, context);
      if (!result.ok) throw new Error(JSON.stringify(result.problems));
      return spoolEntry(result);
    });
    expect(entries.map((e) => e.endpoint)).toEqual([listed.endpoint, ...Array(6).fill(UNLISTED_ENDPOINT)]);
    const long = `/${'z'.repeat(1000)}`;
    const spool = new Spool({ path, sync: 'normal' });
    try {
      await spool.write({ reports: [...entries, { ...report(0, now - HOUR, false), json: JSON.stringify({ i: 0, endpoint: long }) }], rejected: [] });
      // Answered: the listed one and two unlisted ones accepted, one unlisted DISCARDED, the rest waiting.
      const batch = spool.lease(laneOf('private', entries[0]!.orgId), 4, 1 << 24);
      expect(batch?.rows.length).toBe(4);
      spool.complete((batch?.rows ?? []).map((r, k) => ({ id: r.id, state: k === 3 ? ('discarded' as const) : ('accepted' as const), reportId: null, message: null, at: r.at, endpoint: r.endpoint })));
      const lane = laneOf('private', ORGS[0]!);
      const other = spool.lease(lane, 1, 1 << 24);
      spool.complete((other?.rows ?? []).map((r) => ({ id: r.id, state: 'accepted' as const, reportId: null, message: null, at: r.at })));
      const figures = spool.queries().endpointDays(0);
      const day = brtDay(now - 1000);
      expect(figures.rows.filter((e) => e.endpoint !== long.slice(0, MAX_ENDPOINT_CHARS))).toEqual([
        { day, endpoint: UNLISTED_ENDPOINT, received: 6, accepted: 2, discarded: 1, tooOld: 0, pending: 3 },
        { day, endpoint: listed.endpoint, received: 1, accepted: 1, discarded: 0, tooOld: 0, pending: 0 },
      ].sort((a, b) => (a.endpoint < b.endpoint ? -1 : 1)));
      expect(figures.rows.find((e) => e.endpoint === long.slice(0, MAX_ENDPOINT_CHARS))).toMatchObject({ received: 1, accepted: 1, pending: 0 });
      expect(figures.unbalanced).toEqual([]);
    } finally {
      await spool.close();
    }
  });

  it('names the days a schema-4 release wrote into after a rollback, and leaves their endpoints out', async () => {
    const path = join(await tempDir('endpoint-days-rollback'), 'spool.db');
    const t0 = Date.parse('2026-12-01T12:00:00Z');
    const spool = new Spool({ path, sync: 'normal', now: () => t0 });
    const lane = laneOf('private', ORGS[0]!);
    const [today, before, earlier] = [brtDay(t0 - HOUR), brtDay(t0 - 48 * HOUR), brtDay(t0 - 72 * HOUR)];
    const day = (d: number, i: number): NewReport => report(2 * i, t0 - HOUR - (brtDay(t0 - HOUR) - d) * 24 * HOUR, true);
    try {
      await spool.write({ reports: [day(today, 0), day(today, 1), day(earlier, 2)], rejected: [] });
      // Rolled back: the older release stores reports of one day, and answers some of another.
      asSchema4Release(path, true);
      await spool.write({ reports: [day(before, 3), day(before, 4)], rejected: [] });
      const batch = spool.lease(lane, 10, 1 << 24);
      expect(batch?.rows.map((r) => brtDay(r.at)).sort()).toEqual([earlier, before, before, today, today].sort());
      const answeredEarlier = (batch?.rows ?? []).filter((r) => brtDay(r.at) === earlier);
      spool.complete(answeredEarlier.map((r) => ({ id: r.id, state: 'accepted' as const, reportId: null, message: null, at: r.at, endpoint: r.endpoint })));
      asSchema4Release(path, false);
      // Forward again: today's answers are counted as before (the other day's two are left in flight).
      spool.complete((batch?.rows ?? []).filter((r) => brtDay(r.at) === today).map((r) => ({ id: r.id, state: 'accepted' as const, reportId: null, message: null, at: r.at })));
      await spool.write({ reports: [day(today, 5)], rejected: [] });
      const figures = spool.queries().endpointDays(0);
      expect(figures.unbalanced).toEqual([earlier, before]);
      expect(figures.rows.map((e) => e.day)).toEqual([today, today, today]);
      const db = new Database(path, { readonly: true });
      try {
        expect(figures.rows).toEqual(scanEndpointDays(db).filter((e) => e.day === today));
      } finally {
        db.close();
      }
    } finally {
      await spool.close();
    }
  });
});
