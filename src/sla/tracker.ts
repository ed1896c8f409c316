import type { Logger } from 'pino';
import { brtDay } from '../spool/days.js';
import type { DayCounts } from '../spool/days.js';
import { assessDays, type DayVerdict } from './assess.js';

/** Days looked at: the PCM takes reports up to 7 days old, plus today. */
const DAYS_KEPT = 8;
/** The drain rate is an average over about this long: a short pause in deliveries is not a verdict. */
const DRAIN_RATE_WINDOW_MS = 10 * 60_000;

export interface SlaStatus {
  /** Reports answered per second lately (averaged over about 10 minutes). */
  drainRatePerSecond: number;
  /** Some day still before its deadline cannot reach 95 % at that rate (event SLA.AT_RISK). */
  atRisk: boolean;
  days: DayVerdict[];
}

/**
 * Watches the spool's per-day counters: the recent drain rate, each day's verdict, and the SLA.AT_RISK state,
 * logged when a day enters or leaves it. Read on demand (status, metrics) and by a timer, so a change is noticed
 * without a scrape.
 */
export class SlaTracker {
  private rate: number | null = null;
  private last: { at: number; answered: number } | null = null;
  private readonly atRisk = new Set<string>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly days: (fromDay: number) => DayCounts[],
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
    /** Told each time a day enters SLA.AT_RISK (`atRisk` true) or leaves it, when it is logged (alerts). */
    private readonly onChange?: (verdict: DayVerdict) => void,
  ) {}

  /** Evaluates every `intervalMs` (unref'd: it never keeps the process up). */
  start(intervalMs: number): void {
    this.timer = setInterval(() => this.status(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  status(): SlaStatus {
    const now = this.now();
    const counts = this.days(brtDay(now) - DAYS_KEPT + 1);
    // Answers of the PCM only: too-old dead letters are decided here at no cost, and would inflate the rate.
    const answered = counts.reduce((n, d) => n + d.delivered + d.discarded, 0);
    this.sample(now, answered);
    const days = assessDays(counts, now, this.rate ?? 0);
    for (const d of days) {
      if (d.atRisk && !this.atRisk.has(d.day)) {
        this.atRisk.add(d.day);
        this.log.warn({ event: 'SLA.AT_RISK', ...d }, `day ${d.day} cannot reach 95 % at the PCM by ${d.deadline} at the current drain rate`);
        this.onChange?.(d);
      } else if (!d.atRisk && this.atRisk.delete(d.day)) {
        // Past its deadline a day is no longer "at risk" because it is decided: say which way, not "cleared".
        if (d.outcome === 'missed') this.log.warn({ event: 'SLA.AT_RISK', ...d }, `day ${d.day} missed 95 % at the PCM by ${d.deadline}`);
        else this.log.info({ event: 'SLA.AT_RISK', cleared: true, ...d }, d.outcome === 'met' ? `day ${d.day} met 95 % at the PCM by ${d.deadline}` : `day ${d.day} is no longer at risk`);
        this.onChange?.(d);
      }
    }
    for (const day of this.atRisk) if (!days.some((d) => d.day === day)) this.atRisk.delete(day);
    return { drainRatePerSecond: this.rate ?? 0, atRisk: days.some((d) => d.atRisk), days };
  }

  /** An exponential average of answers per second, weighted by the time between samples. */
  private sample(now: number, answered: number): void {
    // Samples closer than a second apart (two gauges of one scrape) would only add noise.
    if (this.last === null || now - this.last.at < 1000) {
      this.last ??= { at: now, answered };
      return;
    }
    const elapsed = now - this.last.at;
    const instant = Math.max(0, answered - this.last.answered) / (elapsed / 1000);
    const weight = 1 - Math.exp(-elapsed / DRAIN_RATE_WINDOW_MS);
    this.rate = this.rate === null ? instant : this.rate + weight * (instant - this.rate);
    this.last = { at: now, answered };
  }
}
