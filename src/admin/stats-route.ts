import type { DayVerdict } from '../sla/assess.js';
import { brtDay, dayLabel } from '../spool/days.js';
import type { EndpointDay, Range } from '../spool/spool.js';
import type { AdminQueryThread } from './query-thread.js';
import type { AdminAnswer } from './server.js';

/**
 * GET /v1/stats — per BRT day (of the reports' timestamps) the spool's counters and the SLA verdict (src/sla: the
 * on-time and delivered shares, the projection, at risk), and per endpoint of that day its reports by state, the last
 * STATS_DAYS days. The per-endpoint figures are counters too (SpoolQueries.endpointDays: no scan of the log); a spool
 * migrated from schema 4 has them from the day after its migration on, and the days before show `endpoints: null`.
 */

/** The PCM takes reports up to 7 days old: those days and today. */
export const STATS_DAYS = 8;

export interface StatsSources {
  /** The SLA's verdict per day, from the spool's counters (SlaTracker.status().days). */
  days: () => readonly DayVerdict[];
  queries: AdminQueryThread;
  /** Where the running sidecar's ledger has its pending reports (Spool.pendingRanges). */
  pending: () => Range[];
  now?: () => number;
}

function endpointView(e: EndpointDay): Record<string, unknown> {
  return { endpoint: e.endpoint, received: e.received, delivered: e.accepted, status: { accepted: e.accepted, discarded: e.discarded, pending: e.pending } };
}

export function stats(sources: StatsSources) {
  return async (): Promise<AdminAnswer> => {
    const now = (sources.now ?? Date.now)();
    const verdicts = sources.days();
    const byDay = new Map<string, EndpointDay[]>();
    const fromDay = brtDay(now) - STATS_DAYS + 1;
    const { countedFrom, rows } = await sources.queries.run('endpointDays', () => ({ fromDay, pending: sources.pending() }));
    const counted = dayLabel(countedFrom);
    for (const e of rows) {
      const label = dayLabel(e.day);
      byDay.set(label, [...(byDay.get(label) ?? []), e]);
    }
    const labels = [...new Set([...verdicts.map((v) => v.day), ...byDay.keys()])].sort();
    const days = labels.map((day) => {
      const v = verdicts.find((d) => d.day === day);
      return {
        ...(v ?? { day, received: 0, delivered: 0, onTime: 0, discarded: 0, tooOld: 0, pending: 0 }),
        endpoints: day < counted ? null : (byDay.get(day) ?? []).map(endpointView),
      };
    });
    const uncounted = labels.some((day) => day < counted);
    const note = `per-endpoint figures are counted from ${counted} on (the spool was upgraded the day before); earlier days have endpoints: null`;
    return { status: 200, body: uncounted ? { days, note } : { days } };
  };
}
