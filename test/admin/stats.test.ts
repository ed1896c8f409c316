import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminQueryThread } from '../../src/admin/query-thread.js';
import { stats } from '../../src/admin/stats-route.js';
import { DEFAULTS } from '../../src/config/defaults.js';
import { createLogger } from '../../src/log.js';
import { loadCatalog } from '../../src/report/catalog.js';
import { brtDay, dayLabel } from '../../src/spool/days.js';
import { Spool, type NewReport } from '../../src/spool/spool.js';
import { adminJson } from '../helpers/admin.js';
import { tempDir } from '../helpers/pki.js';
import { asSchema4Release } from '../helpers/spool-scan.js';
import { reportsFixture, type Fixture } from './fixture.js';

interface EndpointFigures {
  endpoint: string;
  received: number;
  delivered: number;
  status: { accepted: number; discarded: number; pending: number };
}

interface DayFigures {
  day: string;
  received: number;
  delivered: number;
  onTime: number;
  discarded: number;
  pending: number;
  onTimeShare: number | null;
  deliveredShare: number | null;
  endpoints: EndpointFigures[];
}

/** GET /v1/stats: per BRT day and endpoint, the figures of what was posted, and the day's SLA share. */
describe('admin API: stats per day and endpoint', () => {
  let f: Fixture;

  beforeAll(async () => {
    f = await reportsFixture('admin-stats');
  });
  afterAll(async () => f?.stop());

  it('counts per day and endpoint what was posted, by state, and each day its SLA share', async () => {
    const answer = await adminJson<{ days: DayFigures[] }>(`${f.sidecar.adminUrl}/v1/stats`);
    expect(answer.status).toBe(200);
    // What the fixture posted, grouped the same way.
    const expected = new Map<string, Map<string, EndpointFigures>>();
    for (const p of f.posted) {
      const day = dayLabel(brtDay(p.at));
      const endpoints = expected.get(day) ?? new Map<string, EndpointFigures>();
      expected.set(day, endpoints);
      const e = endpoints.get(p.endpoint) ?? { endpoint: p.endpoint, received: 0, delivered: 0, status: { accepted: 0, discarded: 0, pending: 0 } };
      endpoints.set(p.endpoint, e);
      e.received++;
      if (p.state === 'delivered') {
        e.delivered++;
        e.status.accepted++;
      } else if (p.state === 'discarded') e.status.discarded++;
      else e.status.pending++;
    }
    expect(answer.body.days.map((d) => d.day)).toEqual([...expected.keys()].sort());
    for (const d of answer.body.days) {
      const endpoints = [...(expected.get(d.day)?.values() ?? [])].sort((a, b) => (a.endpoint < b.endpoint ? -1 : 1));
      expect(d.endpoints, d.day).toEqual(endpoints);
      // The day's counters (the SLA's) say the same as its endpoints added up.
      const sum = (pick: (e: EndpointFigures) => number): number => endpoints.reduce((n, e) => n + pick(e), 0);
      expect({ received: d.received, delivered: d.delivered, discarded: d.discarded, pending: d.pending }, d.day).toEqual({
        received: sum((e) => e.received),
        delivered: sum((e) => e.delivered),
        discarded: sum((e) => e.status.discarded),
        pending: sum((e) => e.status.pending),
      });
      // On time: delivered by 08:00 BRT of the next day (the older reports' day may be past it already).
      expect(d.onTime).toBeLessThanOrEqual(d.delivered);
      expect(d.onTimeShare).toBeCloseTo(d.onTime / d.received, 10);
      expect(d.deliveredShare).toBeCloseTo(d.delivered / d.received, 10);
    }
  });

  it('needs the token like the rest of the admin API', async () => {
    expect((await adminJson(`${f.sidecar.adminUrl}/v1/stats`, { token: null })).status).toBe(401);
    expect((await adminJson(`${f.sidecar.adminUrl}/v1/stats`, { method: 'POST' })).status).toBe(405);
  });
});

const ENDPOINT = '/open-banking/accounts/v2/accounts';

/** A report of ENDPOINT as ingest stores it, with its timestamp. */
function spoolReport(i: number, at: number): NewReport {
  return { stream: 'private', orgId: 'org', dedupKey: `k${i}`, fapiInteractionId: null, at, endpoint: ENDPOINT, json: JSON.stringify({ i, endpoint: ENDPOINT }), repairs: [] };
}

/** An admin query thread on the spool file at `path`, as the sidecar runs it. */
function queryThread(path: string): AdminQueryThread {
  const rules = { rulesInput: { organisations: null, opendataOrgId: null, rules: { ...DEFAULTS.rules } }, catalog: loadCatalog(), skipPaths: '' };
  return new AdminQueryThread({ path, sync: 'normal' }, rules, { timeLimitMs: 30_000 }, createLogger('silent'));
}

/** A spool upgraded from schema 4 has no per-endpoint counts for the days before the upgrade's next one. */
describe('admin API: stats of a spool upgraded from schema 4', () => {
  it('shows endpoints: null for the days before counting began, with a note, and the counts from then on', async () => {
    const path = join(await tempDir('admin-stats-v4'), 'spool.db');
    const now = Date.now();
    const [endpoint, report] = [ENDPOINT, spoolReport];
    const before = new Spool({ path, sync: 'normal' });
    await before.write({ reports: [report(0, now - 3_600_000)], rejected: [] });
    await before.close();
    const db = new Database(path);
    db.exec('DROP TABLE endpoint_days; DROP TABLE counted_since;');
    db.pragma('user_version = 4');
    db.close();
    const spool = new Spool({ path, sync: 'normal' });
    const thread = queryThread(path);
    try {
      // A report of tomorrow (its timestamp): counted, the day after the upgrade.
      await spool.write({ reports: [report(1, now + 25 * 3_600_000)], rejected: [] });
      const today = dayLabel(brtDay(now));
      const tomorrow = dayLabel(brtDay(now + 25 * 3_600_000));
      const verdict = (day: string) => ({ day, received: 1, delivered: 0, onTime: 0, discarded: 0, tooOld: 0, pending: 1 });
      const answer = await stats({ days: () => [verdict(today), verdict(tomorrow)] as never, queries: thread, now: () => now })();
      const body = answer.body as { days: { day: string; endpoints: unknown }[]; note?: string };
      expect(body.days.map((d) => [d.day, d.endpoints])).toEqual([
        [today, null],
        [tomorrow, [{ endpoint, received: 1, delivered: 0, status: { accepted: 0, discarded: 0, pending: 1 } }]],
      ]);
      expect(body.note).toContain(`counted from ${tomorrow} on`);
    } finally {
      await thread.close();
      await spool.close();
    }
  });
});

/** After a rollback to a schema-4 release and forward again, the days it wrote into do not add up per endpoint. */
describe('admin API: stats after a rollback to schema 4', () => {
  it('shows endpoints: null for the days the older release wrote into, with a note naming them', async () => {
    const path = join(await tempDir('admin-stats-rollback'), 'spool.db');
    const now = Date.now();
    const spool = new Spool({ path, sync: 'normal' });
    const thread = queryThread(path);
    try {
      await spool.write({ reports: [spoolReport(0, now - 3_600_000)], rejected: [] });
      asSchema4Release(path, true);
      await spool.write({ reports: [spoolReport(1, now - 49 * 3_600_000)], rejected: [] });
      asSchema4Release(path, false);
      const [today, before] = [dayLabel(brtDay(now - 3_600_000)), dayLabel(brtDay(now - 49 * 3_600_000))];
      const verdict = (day: string) => ({ day, received: 1, delivered: 0, onTime: 0, discarded: 0, tooOld: 0, pending: 1 });
      const answer = await stats({ days: () => [verdict(before), verdict(today)] as never, queries: thread, now: () => now })();
      const body = answer.body as { days: { day: string; endpoints: unknown }[]; note?: string };
      expect(body.days.map((d) => [d.day, d.endpoints])).toEqual([
        [before, null],
        [today, [{ endpoint: ENDPOINT, received: 1, delivered: 0, status: { accepted: 0, discarded: 0, pending: 1 } }]],
      ]);
      expect(body.note).toContain(`per-endpoint figures of ${before} do not add up`);
    } finally {
      await thread.close();
      await spool.close();
    }
  });
});
