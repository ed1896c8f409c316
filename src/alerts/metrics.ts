import type { Metrics } from '../metrics.js';
import type { Alerts } from './alerts.js';

/** The webhook alerts' metrics, read from the notifier at each scrape. */
export function registerAlertsMetrics(metrics: Metrics, alerts: Pick<Alerts, 'notificationCounts' | 'pendingCounts'>): void {
  metrics.counter(
    'pcm_sidecar_alerts_notifications_total',
    'Webhook notifications by event and result: created, delivered, retried (an attempt failed), failed (given up after the retry window).',
    ['event', 'result'],
    () => alerts.notificationCounts(),
  );
  metrics.gauge('pcm_sidecar_alerts_notifications_pending', 'Webhook notifications not yet delivered nor given up, per subscription.', ['subscription'], () => alerts.pendingCounts());
}
