import type { Metrics } from '../metrics.js';
import type { DeadLetterReason, Spool } from './spool.js';
import { laneLabels } from './types.js';

/** What the spool's metrics read, at scrape time only: ledger figures, a few small queries, two file sizes. */
export type SpoolMetricsSource = Pick<Spool, 'laneBacklogs' | 'oldestUndelivered' | 'fileSizes' | 'backlog' | 'deadLetterCounts' | 'quarantineEvicted'>;

const DEAD_LETTER_REASONS: readonly DeadLetterReason[] = ['pcm', 'refused', 'too-old'];

/** The spool's Prometheus metrics, per organisation and stream where they are per lane. */
export function registerSpoolMetrics(metrics: Metrics, spool: SpoolMetricsSource, now: () => number = Date.now): void {
  metrics.gauge('pcm_sidecar_spool_reports', 'Reports in the spool not yet answered by the PCM, by organisation, stream and state: pending (waiting to be sent) or inflight (in a batch being sent); every lane the spool has stored reports for.', ['org', 'stream', 'state'], () =>
    spool.laneBacklogs().flatMap(({ lane, pending, inflight }) => {
      const labels = laneLabels(lane);
      return [
        { labels: { ...labels, state: 'pending' }, value: pending },
        { labels: { ...labels, state: 'inflight' }, value: inflight },
      ];
    }),
  );
  metrics.gauge(
    'pcm_sidecar_spool_oldest_pending_age_seconds',
    "Age of the lane's oldest report not yet answered by the PCM (pending or in flight), by organisation and stream; 0 when none waits.",
    ['org', 'stream'],
    () =>
      spool.laneBacklogs().map(({ lane }) => {
        const oldest = spool.oldestUndelivered(lane);
        return { labels: laneLabels(lane), value: oldest === null ? 0 : Math.max(0, (now() - oldest) / 1000) };
      }),
  );
  metrics.gauge('pcm_sidecar_spool_file_size_bytes', 'Bytes of the spool database file (PCM_SPOOL_PATH; PCM_SPOOL_MAX_BYTES caps it).', [], () => [{ labels: {}, value: spool.fileSizes().file }]);
  metrics.gauge('pcm_sidecar_spool_wal_size_bytes', "Bytes of the spool's write-ahead log (the spool file's name with -wal), emptied at each checkpoint.", [], () => [
    { labels: {}, value: spool.fileSizes().wal },
  ]);
  metrics.gauge('pcm_sidecar_spool_quarantine_items', 'Items in quarantine: refused at ingest, kept for `pcm-sidecar quarantine`.', [], () => [{ labels: {}, value: spool.backlog().quarantined }]);
  metrics.counter(
    'pcm_sidecar_spool_quarantine_evicted_total',
    'Quarantined items deleted because the quarantine reached PCM_SPOOL_QUARANTINE_MAX_ROWS or _MAX_BYTES.',
    [],
    () => [{ labels: {}, value: spool.quarantineEvicted }],
  );
  metrics.gauge(
    'pcm_sidecar_spool_dead_letters',
    "Dead letters kept in the spool and not replayed, by organisation, stream and reason: pcm (DISCARDED by the PCM), refused (refused as it stands by the PCM, or by an agent's aggregator), too_old (past the age limit before it could be sent).",
    ['org', 'stream', 'reason'],
    () => {
      const counts = new Map(spool.deadLetterCounts().map((d) => [`${d.lane}|${d.reason}`, d.count]));
      return spool.laneBacklogs().flatMap(({ lane }) =>
        DEAD_LETTER_REASONS.map((reason) => ({ labels: { ...laneLabels(lane), reason: reason.replace('-', '_') }, value: counts.get(`${lane}|${reason}`) ?? 0 })),
      );
    },
  );
}
