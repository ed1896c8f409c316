import type { Config } from './schema.js';

/**
 * Every limit's default, in one place, and the few pure helpers over settings that the running sidecar needs.
 * Apart from schema.ts so that what runs (every room, every worker thread) never loads zod, which only reading the
 * configuration needs (issue #8: zod is ~11 MiB of RSS in each isolate that imports it). The settings' meanings are
 * on the schema (schema.ts), documented once in docs/configuration.md.
 */

const MiB = 1024 * 1024;

/** The defaults, also for the code that runs without a whole configuration (tests, the spool's own options). */
export const DEFAULTS = {
  ingest: {
    host: '127.0.0.1',
    port: 8431,
    maxBodyBytes: 10 * MiB,
    maxItemsPerRequest: 5000,
    maxInflightBytes: 8 * MiB,
    parseThreads: 0,
    parseThreadMinBytes: 256 * 1024,
    largeBodyGcBytes: 8 * MiB,
    headersTimeoutMs: 10_000,
    requestTimeoutMs: 30_000,
    keepAliveTimeoutMs: 65_000,
    maxHeaderBytes: 16 * 1024,
    maxConnections: 1024,
    partialStatus: 207 as 200 | 202 | 207,
    skipPaths: '^/(healthz|readyz|livez|health|ready|ping|metrics)(/|$)',
  },
  admin: {
    host: '0.0.0.0',
    port: 9431,
  },
  spool: {
    path: './pcm-spool.db',
    sync: 'full' as const,
    retainDeliveredMs: 8 * 24 * 60 * 60 * 1000,
    retainQuarantineMs: 30 * 24 * 60 * 60 * 1000,
    quarantineMaxRows: 100_000,
    quarantineMaxBytes: 128 * MiB,
    dedupWindow: 1_000_000,
    maxPendingReports: 10_000_000,
    lateArrivalMs: 60 * 60 * 1000,
  },
  sender: {
    maxBatchSize: 5000,
    maxBatchBytes: 10 * 1000 * 1000,
    maxBatchDelayMs: 1000,
    maxConcurrentBatches: 2,
    laneStallMs: 5 * 60_000,
    exportTimeoutMs: 30_000,
    connectTimeoutMs: 10_000,
    retryInitialDelayMs: 500,
    retryMaxDelayMs: 60_000,
    maxRefusals: 5,
  },
  rate: {
    fleetSize: 500,
    fleetLimit: 240,
    burst: 1,
    decrease: 0.5,
    decreaseHoldMs: 1000,
    increase: 0.05,
    min: 0.02,
  },
  reconcile: {
    share: 0.2,
    delayMs: 60 * 60_000,
    retryMs: 6 * 60 * 60_000,
    errorRetryMs: 60_000,
    stopAfterMs: 7 * 24 * 60 * 60 * 1000,
    retainMs: 8 * 24 * 60 * 60 * 1000,
    maxEntries: 200_000,
    reaskReserve: 0.25,
    sampleIntervalMs: 10_000,
    flushMs: 1000,
    timeoutMs: 15_000,
    concurrency: 4,
    pageSize: 64,
    statusListed: 20,
  },
  token: {
    requestFormat: 'json' as const,
    refreshMarginMs: 5 * 60_000,
    timeoutMs: 15_000,
    credentialRetryMs: 10_000,
  },
  rules: {
    processTimespan: 'number' as const,
    errorCodesAs: 'string' as const,
    requireTokenId: true,
    maxAgeMs: 7 * 24 * 60 * 60 * 1000,
    maxFutureMs: 5 * 60 * 1000,
    quality: 'send' as 'send' | 'refuse',
    overrides: {} as Readonly<Record<string, 'refuse' | 'send' | 'ignore'>>,
  },
  shutdown: {
    graceMs: 25_000,
  },
  log: { level: 'info' as const },
  alerts: {
    aggregateMs: 60_000,
    sampleSize: 5,
    retryIntervalMs: 5 * 60_000,
    retryWindowMs: 24 * 60 * 60_000,
    timeoutMs: 10_000,
    backlogMaxAgeMs: 60 * 60_000,
    backlogMaxReports: 1_000_000,
    checkIntervalMs: 30_000,
    pageMax: 100,
    retainMs: 7 * 24 * 60 * 60_000,
    rateLimitPerMinute: 60,
    expectStatus: 201 as number | '2xx',
    subscriptions: [] as readonly never[],
  },
} as const;

/** PCM_INGEST_SKIP_PATHS as a pattern; `none` (an empty variable means "default") skips nothing. */
export function skipPathsOf(text: string): RegExp | null {
  return text === '' || text === 'none' ? null : new RegExp(text);
}

/** The reconciliation file: PCM_RECONCILE_PATH, or next to the spool. */
export function reconcilePathOf(config: Pick<Config, 'reconcile' | 'spool'>): string {
  if (config.reconcile.path) return config.reconcile.path;
  return config.spool.path === ':memory:' ? ':memory:' : `${config.spool.path}.reconcile.db`;
}

/** Requests/s of this process: PCM_RATE_LIMIT, or the fleet rule — the fleet's budget shared by its processes. */
export function rateLimitOf(rate: Config['rate']): number {
  return rate.limit ?? rate.fleetLimit / rate.fleetSize;
}
