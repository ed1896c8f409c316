import type { Metrics } from '../metrics.js';
import { REQUEST_RESULTS, type Reconciler } from './reconciler.js';
import { RECORDED_STATUSES } from './status.js';

/** Reconciliation's Prometheus metrics, read from the reconciler at each scrape. */
export function registerReconcileMetrics(metrics: Metrics, reconciler: Pick<Reconciler, 'counters' | 'sampleRate' | 'pending'>): void {
  metrics.counter(
    'pcm_sidecar_reconcile_reports_total',
    "Reconciliation answers recorded, by the report's status (PAIRED, PAIRED_INCONSISTENT, UNPAIRED, SINGLE; ACCEPTED: not reconciled yet; NOT_FOUND: 404). Re-asks count again.",
    ['status'],
    () => {
      const { answers } = reconciler.counters();
      return RECORDED_STATUSES.map((status) => ({ labels: { status }, value: answers[status] }));
    },
  );
  metrics.counter(
    'pcm_sidecar_reconcile_requests_total',
    'Reconciliation GETs to the PCM, by result: ok, not_found (404), unauthorized (401), throttled (429), error (network, 5xx, other answers).',
    ['result'],
    () => {
      const { requests } = reconciler.counters();
      return REQUEST_RESULTS.map((result) => ({ labels: { result }, value: requests[result] }));
    },
  );
  metrics.gauge(
    'pcm_sidecar_reconcile_sample_rate',
    'Probability with which an accepted private report is taken into the reconciliation sample now (1: every report).',
    [],
    () => [{ labels: {}, value: reconciler.sampleRate }],
  );
  metrics.gauge('pcm_sidecar_reconcile_pending', 'Sampled reports waiting for an ask: their first, or another (UNPAIRED).', ['ask'], () => {
    const { first, again } = reconciler.pending();
    return [
      { labels: { ask: 'first' }, value: first },
      { labels: { ask: 'again' }, value: again },
    ];
  });
}
