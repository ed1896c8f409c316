import { dayDeadline, dayLabel, type DayCounts } from '../spool/days.js';

/**
 * The daily SLA as the PCM judges it (pcm-rules.md §10): at least 95 % of day D's reports at the PCM by 08:00 BRT
 * on D+1. Only ACCEPTED reports count as arrived: a DISCARDED one is missing for the SLA, so is one too old to send.
 * Pure: the spool's counters, the clock and the recent drain rate in, a verdict per day out.
 */

/** Share of a day's reports that must be at the PCM by its deadline. */
export const SLA_DAILY_SHARE = 0.95;
/** Share that must be at the PCM within 7 days of their timestamp. */
export const SLA_WEEKLY_SHARE = 0.99;

export interface DayVerdict {
  /** YYYY-MM-DD, the BRT day of the reports' timestamps. */
  day: string;
  /** 08:00 BRT on D+1, ISO 8601. */
  deadline: string;
  received: number;
  delivered: number;
  onTime: number;
  discarded: number;
  tooOld: number;
  /** Received and not yet answered (pending or in flight). */
  pending: number;
  /** onTime / received: where the day stands for the daily SLA (until its deadline, so far). */
  onTimeShare: number | null;
  /** delivered / received: where it stands for the 7-day SLA. */
  deliveredShare: number | null;
  /** Before the deadline: the on-time share reachable if the backlog drains at the recent rate; null after it. */
  projectedShare: number | null;
  /** Before the deadline, the projection is below 95 %. */
  atRisk: boolean;
  /** `open` until the deadline; then `met` (95 % on time) or `missed`. */
  outcome: 'open' | 'met' | 'missed';
}

/** One verdict per day, lanes added up; `drainRate` is reports answered per second lately (whichever day). */
export function assessDays(counts: readonly DayCounts[], now: number, drainRate: number): DayVerdict[] {
  const byDay = new Map<number, DayCounts>();
  for (const c of counts) {
    const sum = byDay.get(c.day);
    if (!sum) byDay.set(c.day, { ...c, lane: '' });
    else {
      sum.received += c.received;
      sum.delivered += c.delivered;
      sum.onTime += c.onTime;
      sum.discarded += c.discarded;
      sum.tooOld += c.tooOld;
    }
  }
  // The drain serves the oldest reports first: a day past its deadline with reports still waiting uses it before
  // every day still open, and open days take it in the order of their deadlines.
  let capacityUsed = 0;
  const pendingOf = (d: DayCounts): number => Math.max(0, d.received - d.delivered - d.discarded - d.tooOld);
  return [...byDay.values()]
    .sort((a, b) => a.day - b.day)
    .map((d) => {
      if (now >= dayDeadline(d.day)) capacityUsed += pendingOf(d);
      return d;
    })
    .map((d) => {
      const deadline = dayDeadline(d.day);
      // A day counted from part of its reports on (a migration) or with resends can count more answers than arrivals.
      const pending = pendingOf(d);
      const share = (n: number): number | null => (d.received > 0 ? Math.min(1, n / d.received) : null);
      let projectedShare: number | null = null;
      if (now < deadline) {
        const capacity = Math.max(0, drainRate * ((deadline - now) / 1000) - capacityUsed);
        const drained = Math.min(pending, capacity);
        capacityUsed += drained;
        projectedShare = share(d.onTime + drained);
      }
      return {
        day: dayLabel(d.day),
        deadline: new Date(deadline).toISOString(),
        received: d.received,
        delivered: d.delivered,
        onTime: d.onTime,
        discarded: d.discarded,
        tooOld: d.tooOld,
        pending,
        onTimeShare: share(d.onTime),
        deliveredShare: share(d.delivered),
        projectedShare,
        atRisk: projectedShare !== null && projectedShare < SLA_DAILY_SHARE,
        outcome: now < deadline ? 'open' : d.received > 0 && d.onTime / d.received < SLA_DAILY_SHARE ? 'missed' : 'met',
      };
    });
}
