import type { AddressInfo } from 'node:net';
import { readTokenIdPepper } from './config/pepper.js';
import { skipPathsOf, type Config } from './config/schema.js';
import { IngestGuard } from './ingest/auth.js';
import { createIngestServer } from './ingest/server.js';
import type { Logger } from './log.js';
import { Metrics } from './metrics.js';
import { loadCatalog } from './report/catalog.js';
import { reportRules, rulesInputOf } from './report/context.js';
import type { LaneStatus } from './sender/lane.js';
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

/** Lanes grouped by organisation (its private and opendata lanes), for metrics labelled by `org`. */
function byOrg(lanes: LaneStatus[]): { org: string; lanes: LaneStatus[] }[] {
  const groups = new Map<string, LaneStatus[]>();
  for (const lane of lanes) groups.set(lane.orgId, [...(groups.get(lane.orgId) ?? []), lane]);
  return [...groups].map(([org, members]) => ({ org, lanes: members }));
}

/** Routes a probe or a scraper reads without the ingest's token or client certificate. */
const OPEN_ROUTES: ReadonlySet<string> = new Set(['/healthz', '/readyz', '/metrics']);

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.') || host === '[::1]';
}

/** Settings that work but expose more than the operator may think: said once at start. */
function warnAboutExposure(config: Config, guard: IngestGuard, log: Logger): void {
  const { ingest, forward } = config;
  if (!isLoopback(ingest.host) && !guard.guarded) {
    log.warn(
      { host: ingest.host },
      'the ingest listens beyond loopback without PCM_INGEST_TOKEN_FILE or PCM_INGEST_CLIENT_CA_FILE: whatever reaches it is reported under your organisations',
    );
  }
  if (!isLoopback(ingest.host) && ingest.tokenFile !== undefined && guard.tls === null) {
    log.warn({ host: ingest.host }, 'the ingest token is checked over plain HTTP beyond loopback: it can be read on the network unless a mesh encrypts it (PCM_INGEST_TLS_CERT_FILE)');
  }
  if (forward.url !== undefined) {
    const host = new URL(forward.url).hostname;
    if (forward.tokenFile !== undefined && forward.url.startsWith('http:') && !isLoopback(host)) {
      log.warn({ forwardUrl: forward.url }, 'the forward token goes over plain HTTP: it can be read on the network unless a mesh encrypts it (use an https PCM_FORWARD_URL)');
    }
    const unused = config.organisations.some((o) => o.certFile !== undefined || o.keyFile !== undefined) || config.pcm.apiUrl !== undefined;
    if (unused) log.warn('forwarding to an aggregator: the organisation certificates and PCM URLs configured here are not used');
  }
}

export async function startSidecar(config: Config, log: Logger): Promise<RunningSidecar> {
  // The catalogue first: a bad catalogue file stops the start before anything is opened.
  const catalog = loadCatalog(config.catalog.file);
  // Then the ingest's own token and TLS files: without them it could not take remote agents safely.
  const guard = new IngestGuard(config.ingest);
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
  metrics.gauge('pcm_sidecar_lane_ready', '1 when the lane can deliver: a usable certificate, a token, no 403, no stall (GET /readyz says why not).', ['lane'], () =>
    sender.status().map((l) => ({ labels: { lane: l.lane }, value: l.ready ? 1 : 0 })),
  );
  metrics.gauge('pcm_sidecar_backlog_oldest_age_seconds', "Age of the lane's oldest report not yet answered by the PCM (pending or in flight); 0 when none waits.", ['lane'], () =>
    sender.status().map((l) => ({ labels: { lane: l.lane }, value: l.backlogOldestAgeSeconds })),
  );
  metrics.counter(
    'pcm_sidecar_token_refresh_total',
    'Token requests by organisation and result: ok, refused (a 4xx other than 429: invalid_client, ClientId not valid to the orgId), error (network, TLS, 5xx, 429).',
    ['org', 'result'],
    () => byOrg(sender.status()).flatMap(({ org, lanes }) =>
      (['ok', 'refused', 'error'] as const).map((result) => ({ labels: { org, result }, value: lanes.reduce((sum, l) => sum + l.tokenRefreshes[result], 0) })),
    ),
  );
  metrics.gauge('pcm_sidecar_token_expiry_seconds', "Seconds until the organisation's token in use expires (the soonest of its lanes'); absent before the first token.", ['org'], () =>
    byOrg(sender.status()).flatMap(({ org, lanes }) => {
      const left = lanes.flatMap((l) => (l.tokenExpiresInSeconds === null ? [] : [l.tokenExpiresInSeconds]));
      return left.length === 0 ? [] : [{ labels: { org }, value: Math.min(...left) }];
    }),
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
    tls: guard.tls,
    guard: guard.guarded ? guard : null,
    openRoutes: OPEN_ROUTES,
    routes: {
      '/healthz': () => (writerFailure === null ? { status: 200, body: { status: 'ok' } } : { status: 503, body: { status: 'failed', reason: writerFailure } }),
      '/metrics': async () => ({ status: 200, body: await metrics.registry.metrics(), contentType: metrics.registry.contentType }),
      // 503 while the spool cannot store or one lane cannot deliver: ingest still spools for every organisation, so
      // this is "reporting is healthy", for monitoring; README (Readiness) says why no Kubernetes probe uses it.
      '/readyz': () => {
        const lanes = sender.status();
        const ready = writerFailure === null && lanes.every((l) => l.ready);
        const spoolState = writerFailure === null ? { ready: true } : { ready: false, code: 'PCM_SPOOL_WRITER', reason: writerFailure };
        const organisations = lanes.map(({ orgId, stream, lane, ready, code, reason, since }) => ({ orgId, stream, lane, ready, code, reason, since }));
        return { status: ready ? 200 : 503, body: { ready, spool: spoolState, organisations } };
      },
      '/v1/status': () => ({
        status: 200,
        body: {
          spool: { path: spool.path, ...spool.counts(), recoveredInflight: spool.recoveredInflight, movedAside: spool.movedAside },
          organisations: sender.status(),
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
  // A rotated ingest token or certificate is used without a restart, checked at the pace of the sender's credentials.
  const guardCheck = setInterval(() => {
    const tls = guard.refresh(log);
    if (tls) ingest.setTls(tls);
  }, config.token.credentialRetryMs);
  guardCheck.unref();
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const ingestUrl = `${guard.tls ? 'https' : 'http'}://${host}:${address.port}`;
  warnAboutExposure(config, guard, log);
  log.info(
    { ingestUrl, spool: config.spool.path, sync: config.spool.sync, ...(config.forward.url ? { forwardTo: config.forward.url } : {}) },
    'pcm-sidecar is accepting reports',
  );

  let stopping: Promise<void> | null = null;
  return {
    ingestUrl,
    spool,
    sender,
    stop(graceMs = 10_000) {
      stopping ??= (async () => {
        clearInterval(pruner);
        clearInterval(guardCheck);
        await ingest.close(graceMs);
        await sender.stop(graceMs);
        await spool.close();
        log.info('pcm-sidecar stopped');
      })();
      return stopping;
    },
  };
}
