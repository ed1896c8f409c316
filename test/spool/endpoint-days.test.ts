import Database from 'better-sqlite3';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { brtDay } from '../../src/spool/days.js';
import { SCHEMA_VERSION } from '../../src/spool/schema.js';
import { laneOf, Spool, type EndpointDay, type NewReport } from '../../src/spool/spool.js';
import { tempDir } from '../helpers/pki.js';
import { scanEndpointDays } from '../helpers/spool-scan.js';

/**
 * The per-day, per-endpoint counters (endpoint-days.ts) against a brute-force count of the log: after appends
 * (in-process and through the writer thread), deliveries, discards, a dead-letter replay, pruning and a restart; and
 * a spool of schema 4 migrated to them.
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
      const open = (): Promise<Spool> => Spool.open({ path, sync: 'normal', now: clock.now, writerThread });
      let spool = await open();
      const check = async (): Promise<EndpointDay[]> => {
        await spool.flush();
        const counted = spool.queries().endpointDays(0);
        expect(counted.countedFrom).toBe(0);
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

        // Answers: every fourth discarded by the PCM, the rest accepted; one lane's second batch left in flight.
        for (const lane of ORGS.map((o) => laneOf('private', o))) {
          const batch = spool.lease(lane, 20, 1 << 20);
          spool.complete((batch?.rows ?? []).map((r, k) => ({ id: r.id, state: k % 4 === 0 ? ('discarded' as const) : ('accepted' as const), reportId: `r${r.id}`, message: k % 4 === 0 ? 'no' : null, at: r.at })));
        }
        expect(spool.lease(laneOf('private', ORGS[0]!), 3, 1 << 20)?.rows.length).toBe(3);
        await check();

        // A dead letter stored again: counted once, as its copy.
        const [letter] = spool.deadLetters({ limit: 1 });
        const body = JSON.parse(letter!.body) as { i: number };
        expect(spool.replayDeadLetters([{ deadLetterId: letter!.id, report: { ...report(body.i, letter!.reportAt, true), dedupKey: `k${body.i}` } }])).toEqual(['stored']);
        const beforePrune = await check();

        // A restart (the in-flight batch pending again) changes nothing counted.
        await spool.close();
        spool = await open();
        expect(await check()).toEqual(beforePrune.map((e) => ({ ...e })));

        // Pruning deletes delivered rows: received stays as counted; discarded is what is left of the dead letters.
        clock.t += HOUR;
        expect(spool.pruneDelivered(Number.POSITIVE_INFINITY, 1000)).toBeGreaterThan(0);
        await spool.flush();
        const left = scanned(path);
        const pruned = spool.queries().endpointDays(0).rows;
        expect(pruned.map((e) => [e.day, e.endpoint, e.received])).toEqual(beforePrune.map((e) => [e.day, e.endpoint, e.received]));
        for (const e of pruned) {
          const kept = left.find((x) => x.day === e.day && x.endpoint === e.endpoint);
          expect({ discarded: e.discarded, pending: e.pending }).toEqual({ discarded: kept?.discarded ?? 0, pending: kept?.pending ?? 0 });
          expect(e.accepted).toBe(e.received - e.discarded - e.pending);
        }
        expect(pruned.map((e) => e.day)).toEqual(expect.arrayContaining([brtDay(t0), brtDay(t0 - 30 * HOUR)]));
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
      expect(counted).toEqual({ countedFrom: brtDay(Date.now()) + 1, rows: [] });
      expect(spool.counts()).toMatchObject({ pending: 2, accepted: 1 });
      // Reports of the days counted are counted; the rest of the spool works as before.
      await spool.write({ reports: [report(3, now + 25 * HOUR, true), report(4, now - HOUR, true)], rejected: [] });
      expect(spool.queries().endpointDays(0).rows).toEqual([
        { day: brtDay(now + 25 * HOUR), endpoint: ENDPOINTS[0], received: 1, accepted: 0, discarded: 0, pending: 1 },
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
});
