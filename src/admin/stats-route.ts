import type { DayVerdict } from '../sla/assess.js';
import { brtDay, dayLabel } from '../spool/days.js';
import type { EndpointDay } from '../spool/spool.js';
import type { AdminQueryThread } from './query-thread.js';
import type { AdminAnswer } from './server.js';

/**
 * GET /v1/stats — per BRT day (of the reports' timestamps) the spool's counters and the SLA verdict (src/sla: the
 * on-time and delivered shares, the projection, at risk), and per endpoint of that day its reports by state, the last
 * STATS_DAYS days. The per-endpoint figures are counters too (SpoolQueries.endpointDays: no scan of the log); a day
 * shows `endpoints: null`, and the answer a note saying why, where they are missing: before a spool migrated from
 * schema 4 began counting, and on a day whose counters per endpoint do not add up to the day's (a schema-4 release
 * wrote to the file for a while).
 */

/** The PCM takes reports up to 7 days old: those days and today. */
export const STATS_DAYS = 8;

export interface StatsSources {
  /** The SLA's verdict per day, from the spool's counters (SlaTracker.status().days). */
  days: () => readonly DayVerdict[];
  queries: AdminQueryThread;
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
    const { countedFrom, rows, unbalanced, truncated } = await sources.queries.run('endpointDays', () => ({ fromDay }));
    const counted = dayLabel(countedFrom);
    const unbalancedDays = new Set(unbalanced.map(dayLabel));
    for (const e of rows) {
      const label = dayLabel(e.day);
      byDay.set(label, [...(byDay.get(label) ?? []), e]);
    }
    const labels = [...new Set([...verdicts.map((v) => v.day), ...byDay.keys(), ...unbalancedDays])].sort();
    const days = labels.map((day) => {
      const v = verdicts.find((d) => d.day === day);
      return {
        ...(v ?? { day, received: 0, delivered: 0, onTime: 0, discarded: 0, tooOld: 0, pending: 0 }),
        endpoints: day < counted || unbalancedDays.has(day) ? null : (byDay.get(day) ?? []).map(endpointView),
      };
    });
    const notes: string[] = [];
    if (labels.some((day) => day < counted)) {
      notes.push(`per-endpoint figures are counted from ${counted} on (the spool was upgraded the day before); earlier days have endpoints: null`);
    }
    if (unbalancedDays.size > 0) {
      notes.push(
        `per-endpoint figures of ${[...unbalancedDays].join(', ')} do not add up to the day's (an older release wrote to the spool then, counting per day only); those days have endpoints: null`,
      );
    }
    if (truncated) notes.push('more endpoints than one answer holds: the oldest days have fewer of them than they counted');
    return { status: 200, body: notes.length > 0 ? { days, note: notes.join('; ') } : { days } };
  };
}
