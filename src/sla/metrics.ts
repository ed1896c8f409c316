import type { Metrics } from '../metrics.js';
import type { SlaTracker } from './tracker.js';

/** The daily SLA's metrics, judged again at each scrape (tracker.ts). */
export function registerSlaMetrics(metrics: Metrics, sla: Pick<SlaTracker, 'status'>): void {
  metrics.gauge(
    'pcm_sidecar_sla_day_reports',
    "Reports of each of the last 8 days (BRT, of the report's timestamp) by outcome: received, delivered, on_time (delivered by 08:00 BRT of D+1), discarded, too_old, pending (received, not yet answered).",
    ['day', 'outcome'],
    () =>
      sla.status().days.flatMap((d) =>
        (
          [
            ['received', d.received],
            ['delivered', d.delivered],
            ['on_time', d.onTime],
            ['discarded', d.discarded],
            ['too_old', d.tooOld],
            ['pending', d.pending],
          ] as const
        ).map(([outcome, value]) => ({ labels: { day: d.day, outcome }, value })),
      ),
  );
  metrics.gauge(
    'pcm_sidecar_sla_at_risk',
    '1 while the day, before its deadline (08:00 BRT of D+1), cannot reach 95 % at the PCM at the current drain rate (event SLA.AT_RISK); absent once the deadline has passed.',
    ['day'],
    () => sla.status().days.flatMap((d) => (d.projectedShare === null ? [] : [{ labels: { day: d.day }, value: d.atRisk ? 1 : 0 }])),
  );
}
