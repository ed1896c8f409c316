import type { Counter, Histogram } from 'prom-client';
import { DURATION_BUCKETS, type Metrics } from '../metrics.js';

/**
 * Ingest's Prometheus metrics, bumped on the request path (server.ts): per request a few label lookups, never per
 * item. The report room's repairs and quality findings are counted here too, where a report is stored.
 */
export class IngestMetrics {
  readonly items: Counter<'route' | 'outcome'>;
  readonly receivedBytes: Counter<'route'>;
  readonly requestDuration: Histogram<'route' | 'status_code'>;
  readonly parseThreadBodies: Counter;
  readonly largeBodyCollections: Counter;
  readonly repairs: Counter<'kind'>;
  readonly qualityFindings: Counter<'rule'>;

  constructor(metrics: Metrics) {
    this.items = metrics.liveCounter(
      'pcm_sidecar_ingest_items_total',
      'Items received on ingest routes, by route and outcome: accepted (stored), duplicate (stored before), rejected (kept in quarantine), skipped (PCM_INGEST_SKIP_PATHS).',
      ['route', 'outcome'],
    );
    this.receivedBytes = metrics.liveCounter('pcm_sidecar_ingest_received_bytes_total', 'Bytes of ingest request bodies read whole, by route.', ['route']);
    this.requestDuration = metrics.histogram(
      'pcm_sidecar_ingest_request_duration_seconds',
      'Seconds from an ingest request\'s arrival to its answer (after the commit for a 202 or 207), by route and HTTP status code; 401 counts requests without a token of PCM_INGEST_TOKEN_FILE (a client without a certificate of PCM_INGEST_CLIENT_CA_FILE is refused in the TLS handshake, before a request).',
      ['route', 'status_code'],
      DURATION_BUCKETS,
    );
    this.parseThreadBodies = metrics.liveCounter(
      'pcm_sidecar_ingest_parse_thread_bodies_total',
      'Ingest bodies parsed and validated on a parse thread (PCM_INGEST_PARSE_THREADS) rather than the event loop.',
    );
    this.largeBodyCollections = metrics.liveCounter(
      'pcm_sidecar_ingest_large_body_collections_total',
      'Major garbage collections ingest asked V8 for after PCM_INGEST_LARGE_BODY_GC_BYTES of large bodies (256 KiB or more each) were answered.',
    );
    this.repairs = metrics.liveCounter('pcm_sidecar_report_repairs_total', 'Normalisation repairs applied to stored reports, by kind.', ['kind']);
    this.qualityFindings = metrics.liveCounter(
      'pcm_sidecar_report_quality_findings_total',
      'Quality findings (src/report/rules.ts) on reports stored and sent, by rule: remarks the PCM may open a data-quality ticket for.',
      ['rule'],
    );
  }

  /** One answered request of an ingest route, timed from `startedAt` (process.hrtime.bigint()). */
  answered(route: string, statusCode: number, startedAt: bigint): void {
    this.requestDuration.observe({ route, status_code: String(statusCode) }, Number(process.hrtime.bigint() - startedAt) / 1e9);
  }
}
