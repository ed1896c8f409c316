import type { AddressInfo } from 'node:net';
import { readTokenIdPepper } from './config/pepper.js';
import { skipPathsOf, type Config } from './config/schema.js';
import { createIngestServer } from './ingest/server.js';
import type { Logger } from './log.js';
import { Metrics } from './metrics.js';
import { loadCatalog } from './report/catalog.js';
import { reportRules, rulesInputOf } from './report/context.js';
import { RATE_CALLS, type RateBudgetStatus, type RateCall } from './sender/rate-budget.js';
import { Sender, opendataOrgOf } from './sender/sender.js';
import { Spool } from './spool/spool.js';

/** The running pipeline: ingest → spool → sender, with an orderly stop. */
export interface RunningSidecar {
  ingestUrl: string;
  spool: Spool;
  sender: Sender;
  /** Stops accepting, answers requests in flight, finishes or releases batches in flight, closes the spool. */
  stop(graceMs?: number): Promise<void>;
}

/** How often delivered rows past their retention are deleted; each pass deletes in bounded chunks. */
const PRUNE_INTERVAL_MS = 60_000;
const PRUNE_CHUNK_ROWS = 5000;

/** Deletes in bounded chunks, so each transaction stays short; a large first pass finishes over the next intervals. */
function pruneInChunks(prune: (limit: number) => number): number {
  let total = 0;
  for (let i = 0; i < 20; i++) {
    const deleted = prune(PRUNE_CHUNK_ROWS);
    total += deleted;
    if (deleted < PRUNE_CHUNK_ROWS) break;
  }
  return total;
}

function pruneSpool(spool: Spool, config: Config, log: Logger): void {
  const now = Date.now();
  const delivered = pruneInChunks((limit) => spool.pruneDelivered(now - config.spool.retainDeliveredMs, limit));
  if (delivered > 0) log.info({ rows: delivered }, 'deleted delivered reports past their retention');
  pruneInChunks((limit) => spool.pruneKeys(limit));
  const quarantined = pruneInChunks((limit) => spool.pruneQuarantine(now - config.spool.retainQuarantineMs, limit));
  if (quarantined > 0) log.warn({ items: quarantined }, 'deleted quarantined items past their retention (PCM_SPOOL_RETAIN_QUARANTINE_MS)');
}

export async function startSidecar(config: Config, log: Logger): Promise<RunningSidecar> {
  // The catalogue first: a bad catalogue file stops the start before anything is opened.
  const catalog = loadCatalog(config.catalog.file);
  const metrics = new Metrics();
  let writerFailure: string | null = null;
  const spool = await Spool.open({
    writerThread: true,
    dedupWindow: config.spool.dedupWindow,
    onWriterFailure: (err) => {
      writerFailure = err.message;
      log.fatal({ err: err.message, code: 'PCM_SPOOL_WRITER' }, 'the spool can no longer store reports; /healthz fails so the process is restarted');
    },
    onLedgerError: (err) =>
      log.error({ err: err.message, code: 'PCM_SPOOL_LEDGER' }, 'could not record leases or PCM answers in the spool; after a restart those batches are sent again'),
    path: config.spool.path,
    sync: config.spool.sync,
    maxBytes: config.spool.maxBytes,
    quarantineMaxRows: config.spool.quarantineMaxRows,
    quarantineMaxBytes: config.spool.quarantineMaxBytes,
    onQuarantineEvicted: (items) => {
      metrics.quarantineEvicted.inc(items);
      log.warn({ items, maxRows: config.spool.quarantineMaxRows, maxBytes: config.spool.quarantineMaxBytes }, 'quarantine full: deleted its oldest items');
    },
  });
  if (spool.movedAside) {
    log.error(
      { movedTo: spool.movedAside, code: 'PCM_SPOOL_UNREADABLE' },
      `the spool file could not be read as a database; it was moved to ${spool.movedAside} and a new spool started. Reports in it were not sent: inspect or recover that file`,
    );
  }
  if (spool.recoveredInflight > 0) {
    log.warn(
      { rows: spool.recoveredInflight },
      'reports that were in flight when the previous process stopped are pending again; the PCM may receive them twice',
    );
  }
  const sender = new Sender(config, spool, log);
  const rules = reportRules(rulesInputOf(config, opendataOrgOf(config), readTokenIdPepper(config.tokenId.pepperFile)), catalog);
  log.info({ catalog: catalog.version, private: catalog.private.length, opendata: catalog.opendata.length }, 'endpoint catalogue loaded');
  metrics.gauge('pcm_sidecar_spool_backlog', 'Reports waiting in the spool (pending, inflight) and items in quarantine.', ['state'], () =>
    Object.entries(spool.backlog()).map(([state, value]) => ({ labels: { state }, value })),
  );
  metrics.gauge('pcm_sidecar_lane_reports', 'Reports answered by the PCM per lane, by outcome.', ['lane', 'outcome'], () =>
    sender.status().flatMap((l) => [
      { labels: { lane: l.lane, outcome: 'accepted' }, value: l.reportsAccepted },
      { labels: { lane: l.lane, outcome: 'discarded' }, value: l.reportsDiscarded },
    ]),
  );
  metrics.gauge(
    'pcm_sidecar_rate_limit_requests_per_second',
    'PCM calls per second the rate budget allows this process: now (lowered by 429s, recovering with 2xx) and as configured.',
    ['limit'],
    () => {
      const rate = sender.rate();
      return [
        { labels: { limit: 'current' }, value: rate.rate },
        { labels: { limit: 'configured' }, value: rate.configuredRate },
      ];
    },
  );
  const perCall = (pick: (rate: RateBudgetStatus) => Record<RateCall, number>) => () =>
    RATE_CALLS.map((call) => ({ labels: { call }, value: pick(sender.rate())[call] }));
  metrics.counter('pcm_sidecar_rate_limit_wait_seconds_total', 'Seconds PCM calls waited for the rate budget, by call (report, token, reconcile).', ['call'], perCall((r) => r.waitSeconds));
  metrics.counter('pcm_sidecar_rate_limit_calls_total', 'PCM calls made under the rate budget, by call.', ['call'], perCall((r) => r.calls));
  metrics.counter('pcm_sidecar_rate_limit_throttled_total', 'PCM answers 429 (Too Many Requests), by call.', ['call'], perCall((r) => r.throttled));
  metrics.gauge('pcm_sidecar_lane_ready', '1 when the lane has a usable certificate.', ['lane'], () =>
    sender.status().map((l) => ({ labels: { lane: l.lane }, value: l.ready ? 1 : 0 })),
  );
  const ingest = createIngestServer({
    spool,
    validation: () => rules.validation(),
    build: rules.build,
    metrics,
    maxBodyBytes: config.ingest.maxBodyBytes,
    maxItemsPerRequest: config.ingest.maxItemsPerRequest,
    partialStatus: config.ingest.partialStatus,
    skipPaths: skipPathsOf(config.ingest.skipPaths),
    // The brackets of the batch body: one report alone must fit in a request.
    maxReportBytes: config.sender.maxBatchBytes - 2,
    listener: {
      headersTimeoutMs: config.ingest.headersTimeoutMs,
      requestTimeoutMs: config.ingest.requestTimeoutMs,
      keepAliveTimeoutMs: config.ingest.keepAliveTimeoutMs,
      maxHeaderBytes: config.ingest.maxHeaderBytes,
      maxConnections: config.ingest.maxConnections,
    },
    log: log.child({ component: 'ingest' }),
    routes: {
      '/healthz': () => (writerFailure === null ? { status: 200, body: { status: 'ok' } } : { status: 503, body: { status: 'failed', reason: writerFailure } }),
      '/metrics': async () => ({ status: 200, body: await metrics.registry.metrics(), contentType: metrics.registry.contentType }),
      '/readyz': () => {
        const ready = sender.ready() && writerFailure === null;
        return { status: ready ? 200 : 503, body: { ready, organisations: sender.status() } };
      },
      '/v1/status': () => ({
        status: 200,
        body: {
          spool: { path: spool.path, ...spool.counts(), recoveredInflight: spool.recoveredInflight, movedAside: spool.movedAside },
          organisations: sender.status(),
          rateBudget: sender.rate(),
        },
      }),
    },
  });
  const { server } = ingest;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.ingest.port, config.ingest.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  sender.start();
  const pruner = setInterval(() => pruneSpool(spool, config, log), PRUNE_INTERVAL_MS);
  pruner.unref();
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const ingestUrl = `http://${host}:${address.port}`;
  log.info({ ingestUrl, spool: config.spool.path, sync: config.spool.sync }, 'pcm-sidecar is accepting reports');

  let stopping: Promise<void> | null = null;
  return {
    ingestUrl,
    spool,
    sender,
    stop(graceMs = 10_000) {
      stopping ??= (async () => {
        clearInterval(pruner);
        await ingest.close(graceMs);
        await sender.stop(graceMs);
        await spool.close();
        log.info('pcm-sidecar stopped');
      })();
      return stopping;
    },
  };
}
