import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

/** Prometheus metrics of one sidecar. Counters are bumped on the hot path; gauges are read at scrape time. */
export class Metrics {
  readonly registry = new Registry();
  readonly ingestItems = new Counter({
    name: 'pcm_sidecar_ingest_items_total',
    help: 'Items received on ingest routes, by route and outcome (accepted, duplicate, rejected).',
    labelNames: ['route', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly parseThreadBodies = new Counter({
    name: 'pcm_sidecar_ingest_parse_thread_bodies_total',
    help: 'Ingest bodies parsed and validated on a parse thread (PCM_INGEST_PARSE_THREADS) rather than the event loop.',
    registers: [this.registry],
  });
  readonly repairs = new Counter({
    name: 'pcm_sidecar_repairs_total',
    help: 'Normalisation repairs applied to accepted reports, by kind.',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });

  readonly qualityFindings = new Counter({
    name: 'pcm_sidecar_quality_findings_total',
    help: 'Quality findings (src/report/rules.ts) on reports stored and sent, by rule: remarks the PCM may open a data-quality ticket for.',
    labelNames: ['rule'] as const,
    registers: [this.registry],
  });

  readonly ingestUnauthorized = new Counter({
    name: 'pcm_sidecar_ingest_unauthorized_total',
    help: 'Ingest requests answered 401: no or a wrong bearer token (PCM_INGEST_TOKEN_FILE), no client certificate the client CA signs.',
    registers: [this.registry],
  });

  readonly quarantineEvicted = new Counter({
    name: 'pcm_sidecar_quarantine_evicted_total',
    help: 'Quarantined items deleted because the quarantine reached PCM_SPOOL_QUARANTINE_MAX_ROWS or _MAX_BYTES.',
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'pcm_sidecar_' });
  }

  /** A counter whose totals are read from `read` at each scrape (they only grow: lanes live as long as the process). */
  counter<L extends string>(name: string, help: string, labelNames: readonly L[], read: () => { labels: Record<L, string>; value: number }[]): void {
    new Counter({
      name,
      help,
      labelNames,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const { labels, value } of read()) this.inc(labels as Partial<Record<L, string | number>>, value);
      },
    });
  }

  /** A gauge whose values are read from `read` at each scrape. */
  gauge<L extends string>(name: string, help: string, labelNames: readonly L[], read: () => { labels: Record<L, string>; value: number }[]): void {
    new Gauge({
      name,
      help,
      labelNames,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const { labels, value } of read()) this.set(labels as Partial<Record<L, string | number>>, value);
      },
    });
  }
}
