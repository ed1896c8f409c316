import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { brtDay, dayLabel } from '../../src/spool/days.js';
import { adminJson } from '../helpers/admin.js';
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
