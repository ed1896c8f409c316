import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { packageVersion } from './version.js';

/**
 * The Prometheus registry of one sidecar: the bottom floor every room registers its metrics in (src/<room>/metrics.ts).
 * Counters and histograms bumped where things happen are made with `liveCounter()` and `histogram()`; figures a room
 * already keeps are read at scrape time through `counter()` and `gauge()`. Every one is listed in `definitions`, which
 * docs/metrics.md is generated from (src/metrics-doc.ts); Node's default metrics are registered under their standard
 * names (process_*, nodejs_*) and are not listed there.
 */

export type MetricType = 'counter' | 'gauge' | 'histogram';

export interface MetricDefinition {
  name: string;
  type: MetricType;
  help: string;
  labelNames: readonly string[];
}

/** One sample a read-at-scrape metric reports. */
export interface Sample<L extends string> {
  labels: Record<L, string>;
  value: number;
}

/** Seconds of a request or a batch: 1 ms to 30 s. */
export const DURATION_BUCKETS: readonly number[] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export class Metrics {
  readonly registry = new Registry();
  private readonly defined: MetricDefinition[] = [];

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    const help = 'Always 1; its labels say which pcm-sidecar version runs on which Node.js.';
    const build = new Gauge({ name: 'pcm_sidecar_build_info', help, labelNames: this.define('pcm_sidecar_build_info', 'gauge', help, ['version', 'node_version']), registers: [this.registry] });
    build.set({ version: packageVersion(), node_version: process.version }, 1);
  }

  /** Every pcm_sidecar_* metric registered so far, in registration order. */
  get definitions(): readonly MetricDefinition[] {
    return this.defined;
  }

  /** A counter bumped where the thing it counts happens. */
  liveCounter<L extends string = never>(name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
    return new Counter({ name, help, labelNames: this.define(name, 'counter', help, labelNames), registers: [this.registry] });
  }

  /** A histogram observed where the thing it measures happens. */
  histogram<L extends string>(name: string, help: string, labelNames: readonly L[], buckets: readonly number[]): Histogram<L> {
    return new Histogram({ name, help, labelNames: this.define(name, 'histogram', help, labelNames), buckets: [...buckets], registers: [this.registry] });
  }

  /** A counter whose totals are read from `read` at each scrape (they only grow: their sources live as long as the process). */
  counter<L extends string>(name: string, help: string, labelNames: readonly L[], read: () => Sample<L>[]): void {
    new Counter({
      name,
      help,
      labelNames: this.define(name, 'counter', help, labelNames),
      registers: [this.registry],
      collect() {
        this.reset();
        for (const { labels, value } of read()) this.inc(labels as Partial<Record<L, string | number>>, value);
      },
    });
  }

  /** A gauge whose values are read from `read` at each scrape. */
  gauge<L extends string>(name: string, help: string, labelNames: readonly L[], read: () => Sample<L>[]): void {
    new Gauge({
      name,
      help,
      labelNames: this.define(name, 'gauge', help, labelNames),
      registers: [this.registry],
      collect() {
        this.reset();
        for (const { labels, value } of read()) this.set(labels as Partial<Record<L, string | number>>, value);
      },
    });
  }

  /** Records the definition for the reference; returns the label names for the prom-client constructor. */
  private define<L extends string>(name: string, type: MetricType, help: string, labelNames: readonly L[]): readonly L[] {
    this.defined.push({ name, type, help, labelNames });
    return labelNames;
  }
}
