/**
 * Days as the PCM counts them (pcm-rules.md §10): day D is a calendar day in Brasília time, UTC−3 all year (Brazil
 * has had no daylight saving time since 2019), and 95 % of its reports must be at the PCM by 08:00 BRT on D+1.
 * A report belongs to the day of its own `timestamp` (when the API call happened), not of its arrival here.
 */

export const DAY_MS = 86_400_000;
export const BRT_OFFSET_MS = 3 * 3_600_000;
/** The daily deadline: this long after the start of D+1, in BRT. */
const DEADLINE_AFTER_MS = 8 * 3_600_000;

/** Days since 1970-01-01 in BRT. */
export function brtDay(ms: number): number {
  return Math.floor((ms - BRT_OFFSET_MS) / DAY_MS);
}

/** 08:00 BRT on the day after `day`, in epoch milliseconds. */
export function dayDeadline(day: number): number {
  return (day + 1) * DAY_MS + BRT_OFFSET_MS + DEADLINE_AFTER_MS;
}

/** The calendar date of a day number, YYYY-MM-DD. */
export function dayLabel(day: number): string {
  return new Date(day * DAY_MS).toISOString().slice(0, 10);
}

/** What the spool counted for one day of one lane (the `days` table). */
export interface DayCounts {
  day: number;
  lane: string;
  /** Stored (duplicates not counted). */
  received: number;
  /** ACCEPTED by the PCM. */
  delivered: number;
  /** ACCEPTED by the PCM by the day's deadline. */
  onTime: number;
  /** DISCARDED by the PCM, or refused by it until the sender gave up (dead letters). */
  discarded: number;
  /** Not sent: past the PCM's age limit while waiting here (dead letters, reason too-old). */
  tooOld: number;
}
