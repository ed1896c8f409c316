import { registerAlertsMetrics } from './alerts/metrics.js';
import { IngestMetrics } from './ingest/metrics.js';
import { Metrics, type MetricDefinition } from './metrics.js';
import { registerReconcileMetrics } from './reconcile/metrics.js';
import { registerSenderMetrics, senderPostMetrics } from './sender/metrics.js';
import { registerSlaMetrics } from './sla/metrics.js';
import { registerSpoolMetrics } from './spool/metrics.js';

/**
 * docs/metrics.md, generated from the registry (`npm run docs:metrics`): every room registers its metrics as
 * startSidecar does, with sources that are never read (the reference is built, not scraped).
 * test/metrics/reference.test.ts checks the file against this and a running sidecar's /metrics against the file.
 */

const unread = (): never => {
  throw new Error('the reference registry is never scraped');
};

/** A registry holding every metric a sidecar registers (reconciliation's included, which only runs when on). */
export function referenceMetrics(): Metrics {
  const metrics = new Metrics();
  // The order of startSidecar.
  senderPostMetrics(metrics);
  registerReconcileMetrics(metrics, { counters: unread, sampleRate: 0, pending: unread });
  registerSpoolMetrics(metrics, { laneBacklogs: unread, oldestUndelivered: unread, fileSizes: unread, backlog: unread, deadLetterCounts: unread, quarantineEvicted: 0 });
  registerSenderMetrics(metrics, { status: unread, rate: unread });
  registerSlaMetrics(metrics, { status: unread });
  registerAlertsMetrics(metrics, { notificationCounts: unread, pendingCounts: unread });
  new IngestMetrics(metrics);
  return metrics;
}

/** The table row standing for Node.js's default metrics (prom-client's collectDefaultMetrics, no prefix). */
export const NODE_DEFAULTS_ROW = {
  name: '`process_*`, `nodejs_*`',
  type: 'various',
  labels: 'various',
  help:
    "Node.js default metrics under their standard names (prom-client's defaults, no prefix): process_cpu_seconds_total, process_resident_memory_bytes, process_start_time_seconds, process_open_fds, nodejs_eventloop_lag_seconds, nodejs_heap_size_used_bytes, nodejs_gc_duration_seconds, nodejs_version_info and the others of the platform.",
} as const;

const cell = (text: string): string => text.replace(/\|/g, '\\|');

function row(d: MetricDefinition): string {
  const labels = d.labelNames.map((l) => `\`${l}\``).join(', ');
  return `| \`${d.name}\` | ${d.type} | ${labels} | ${cell(d.help)} |`;
}

/** The text of docs/metrics.md. */
export function metricsReference(metrics: Metrics = referenceMetrics()): string {
  const rows = [...metrics.definitions].sort((a, b) => a.name.localeCompare(b.name)).map(row);
  const node = NODE_DEFAULTS_ROW;
  return [
    '# Metrics',
    '',
    '<!-- Generated from the registry by `npm run docs:metrics` (src/metrics-doc.ts): edit the help texts in src/, not here. -->',
    '',
    '`GET /metrics` on the admin listener (PCM_ADMIN_PORT, 9431) serves these in the Prometheus text format, without a',
    'token. Counters end in `_total`; units are in the names (`_seconds`, `_bytes`); a histogram is served as its `_bucket{le}`, `_sum`',
    'and `_count` series. Labels: `org` the organisation\'s orgId (lower case), `stream` `private` or `opendata`,',
    '`route` the ingest route (`/v1/reports`, `/v1/interactions`, `/v1/gateways/kong`, `/v1/gateways/envoy`,',
    '`/v1/gateways/nginx`), `status_code` an HTTP status. `pcm_sidecar_reconcile_*` are served only while',
    'reconciliation runs (PCM_RECONCILE_SHARE above 0, not on an agent).',
    '',
    '| Name | Type | Labels | Help |',
    '| --- | --- | --- | --- |',
    ...rows,
    `| ${node.name} | ${node.type} | ${node.labels} | ${cell(node.help)} |`,
    '',
  ].join('\n');
}
