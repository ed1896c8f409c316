import type { AddressInfo, Server } from 'node:net';
import { AdminAuth } from './admin/auth.js';
import { AdminQueryThread } from './admin/query-thread.js';
import { adminRoutes } from './admin/routes.js';
import { createAdminServer } from './admin/server.js';
import { Alerts } from './alerts/alerts.js';
import { registerAlertsMetrics } from './alerts/metrics.js';
import { errorMessage } from './errors.js';
import { readTokenIdPepper } from './config/pepper.js';
import { reconcilePathOf, skipPathsOf } from './config/defaults.js';
import type { Config } from './config/schema.js';
import { IngestGuard } from './ingest/auth.js';
import { IngestMetrics } from './ingest/metrics.js';
import { createIngestServer } from './ingest/server.js';
import type { Logger } from './log.js';
import { Metrics } from './metrics.js';
import { registerReconcileMetrics } from './reconcile/metrics.js';
import { DIVERGENT_PAGE_MAX, Reconciler, divergentQueryOf, type ReconciliationOff } from './reconcile/reconciler.js';
import { loadCatalog, type EndpointCatalog } from './report/catalog.js';
import { reportRules, rulesInputOf, type RulesInput } from './report/context.js';
import type { ParsePool as ParsePoolType } from './ingest/parse-pool.js';
import { registerSenderMetrics, senderPostMetrics } from './sender/metrics.js';
import { Sender, opendataOrgOf } from './sender/sender.js';
import { registerSlaMetrics } from './sla/metrics.js';
import { SlaTracker } from './sla/tracker.js';
import { registerSpoolMetrics } from './spool/metrics.js';
import { Spool } from './spool/spool.js';
import { pageHeaders } from './paging.js';

/** The running pipeline: ingest → spool → sender, with an orderly stop. */
export interface RunningSidecar {
  ingestUrl: string;
  /** The admin listener: health, readiness, metrics and the admin API (src/admin/). */
  adminUrl: string;
  spool: Spool;
  sender: Sender;
  /** Reconciliation (§9); null when PCM_RECONCILE_SHARE is 0. */
  reconciler: Reconciler | null;
  /** Webhook alerts; `alerts.sink` (or `alerts.pairing`) is what reconciliation reports through. */
  alerts: Alerts;
  /** Where the admin API's questions and replays run (started at its first request). */
  adminQueries: AdminQueryThread;
  /**
   * Reads the endpoint catalogue, the rule settings (overrides included) and the webhook subscriptions of `next`
   * again, for what arrives from now on; everything else in `next` is left for a restart.
   */
  reload(next: Config): Promise<{ catalog: string; webhooks: { added: string[]; changed: string[]; removed: string[] } }>;
  /** Stops accepting, answers requests in flight, finishes or releases batches in flight, closes the spool. */
  stop(graceMs?: number): Promise<void>;
}

/** How often delivered rows past their retention are deleted; each pass deletes in bounded chunks. */
const PRUNE_INTERVAL_MS = 60_000;
/** How often the SLA is judged without being asked (an SLA.AT_RISK change is logged then). */
const SLA_INTERVAL_MS = 30_000;
/** Rows one pruning transaction deletes at most: a few milliseconds of the writer's lock, then the event loop runs. */
const PRUNE_CHUNK_ROWS = 1000;
/** Chunks per table per interval; a large first pass finishes over the next intervals. */
const PRUNE_CHUNKS_PER_RUN = 100;

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Deletes in bounded chunks with a turn of the event loop between them, so ingest is never held up for long. */
export async function pruneInChunks(prune: (limit: number) => number, stopped: () => boolean = () => false): Promise<number> {
  let total = 0;
  for (let i = 0; i < PRUNE_CHUNKS_PER_RUN && !stopped(); i++) {
    const deleted = prune(PRUNE_CHUNK_ROWS);
    total += deleted;
    if (deleted < PRUNE_CHUNK_ROWS) break;
    await turn();
  }
  return total;
}

async function pruneSpool(spool: Spool, config: Config, log: Logger, stopped: () => boolean): Promise<void> {
  const now = Date.now();
  const delivered = await pruneInChunks((limit) => spool.pruneDelivered(now - config.spool.retainDeliveredMs, limit), stopped);
  if (delivered > 0) log.info({ rows: delivered }, 'deleted delivered reports past their retention');
  await pruneInChunks((limit) => spool.pruneKeys(limit), stopped);
  const quarantined = await pruneInChunks((limit) => spool.pruneQuarantine(now - config.spool.retainQuarantineMs, limit), stopped);
  if (quarantined > 0) log.warn({ items: quarantined }, 'deleted quarantined items past their retention (PCM_SPOOL_RETAIN_QUARANTINE_MS)');
}

/** Routes a probe reads without the ingest's token or client certificate (the admin listener has the rest). */
const OPEN_ROUTES: ReadonlySet<string> = new Set(['/healthz']);

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.') || host === '[::1]';
}

/** A URL to reach a listener at; one on every address is reached on loopback. */
function urlOf(address: AddressInfo, scheme: 'http' | 'https'): string {
  const host = address.address === '0.0.0.0' ? '127.0.0.1' : address.address === '::' ? '[::1]' : address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `${scheme}://${host}:${address.port}`;
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
  if (!isLoopback(config.admin.host) && config.admin.tokenFile !== undefined) {
    log.warn({ host: config.admin.host }, 'the admin token is checked over plain HTTP beyond loopback: it can be read on the network unless a mesh encrypts it');
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

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

export async function startSidecar(config: Config, log: Logger): Promise<RunningSidecar> {
  // The catalogue first: a bad catalogue file stops the start before anything is opened.
  const catalog = loadCatalog(config.catalog.file);
  // Then the ingest's own token and TLS files: without them it could not take remote agents safely.
  const guard = new IngestGuard(config.ingest);
  // And the admin token file: a bad one stops the start; none leaves the admin API off (metrics and health answer).
  const adminAuth = config.admin.tokenFile === undefined ? null : new AdminAuth(config.admin.tokenFile, log.child({ component: 'admin' }));
  const metrics = new Metrics();
  // Before the spool, whose age limit reports too-old dead letters to it; a bad subscription stops the start here.
  const alerts = Alerts.open({ settings: config.alerts, storePath: config.alerts.storePath ?? `${config.spool.path}.alerts.db`, log: log.child({ component: 'alerts' }) });
  let writerFailure: string | null = null;
  const spool = await Spool.open({
    writerThread: true,
    dedupWindow: config.spool.dedupWindow,
    maxAgeMs: config.rules.maxAgeMs,
    lateArrivalMs: config.spool.lateArrivalMs,
    onTooOld: (lane, bodies, message) => alerts.tooOld(lane, bodies, message),
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
  // The sender tells the reconciler of accepted batches through a hook: it never imports the floor above it.
  let reconciler: Reconciler | null = null;
  let reconcileOff: ReconciliationOff = { enabled: false, reason: 'PCM_RECONCILE_SHARE is 0' };
  const sender = new Sender(config, spool, log, {
    onAccepted: (batch) => reconciler?.accepted(batch),
    onDiscarded: (discarded) => alerts.discarded(discarded),
    onReadinessChange: (change) => alerts.readinessChanged(change),
    onPosted: senderPostMetrics(metrics),
  });
  // An agent (PCM_FORWARD_URL) has no PCM to ask: its aggregator reconciles what it delivers.
  if (config.reconcile.share > 0 && config.forward.url !== undefined) reconcileOff = { enabled: false, reason: 'this sidecar forwards to an aggregator (PCM_FORWARD_URL), which reconciles' };
  else if (config.reconcile.share > 0 && config.pcm.apiUrl !== undefined) {
    const opened = Reconciler.open(
      { settings: config.reconcile, path: reconcilePathOf(config), apiUrl: config.pcm.apiUrl, caFile: config.pcm.caFile, connectTimeoutMs: config.sender.connectTimeoutMs },
      {
        budget: sender.budget,
        tokens: (lane) => sender.tokenSource(lane),
        log: log.child({ component: 'reconcile' }),
        onDivergent: (d) =>
          alerts.pairing({
            kind: d.kind,
            lane: d.lane,
            orgId: d.lane.slice(d.lane.indexOf(':') + 1),
            count: 1,
            fapiInteractionIds: [d.fapiInteractionId],
            ...(d.differing && d.differing.length > 0 ? { message: `Inconsistent fields: ${d.differing.join(', ')}` } : {}),
          }),
      },
    );
    if (opened instanceof Reconciler) {
      reconciler = opened;
      registerReconcileMetrics(metrics, reconciler);
    } else reconcileOff = opened;
  }
  const rulesInput = rulesInputOf(config, opendataOrgOf(config), readTokenIdPepper(config.tokenId.pepperFile));
  let rules = reportRules(rulesInput, catalog);
  // Loaded only when asked for: piscina costs memory in every process that imports it.
  const openParsePool = async (input: RulesInput, endpoints: EndpointCatalog): Promise<ParsePoolType | null> =>
    config.ingest.parseThreads > 0
      ? new (await import('./ingest/parse-pool.js')).ParsePool(config.ingest.parseThreads, config.ingest.parseThreadMinBytes, {
          rulesInput: input,
          catalog: endpoints,
          skipPaths: config.ingest.skipPaths,
        })
      : null;
  let parsePool = await openParsePool(rulesInput, catalog);
  log.info({ catalog: catalog.version, private: catalog.private.length, opendata: catalog.opendata.length }, 'endpoint catalogue loaded');
  registerSpoolMetrics(metrics, spool);
  registerSenderMetrics(metrics, sender);
  const sla = new SlaTracker((fromDay) => spool.days(fromDay), log.child({ component: 'sla' }), Date.now, (verdict) => alerts.slaChanged(verdict));
  registerSlaMetrics(metrics, sla);
  registerAlertsMetrics(metrics, alerts);
  const health = () => (writerFailure === null ? { status: 200, body: { status: 'ok' } } : { status: 503, body: { status: 'failed', reason: writerFailure } });
  const ingest = createIngestServer({
    spool,
    onQualityFindings: (found) => alerts.qualityFound(found),
    validation: () => rules.validation(),
    build: rules.build,
    metrics: new IngestMetrics(metrics),
    maxBodyBytes: config.ingest.maxBodyBytes,
    maxItemsPerRequest: config.ingest.maxItemsPerRequest,
    maxPendingReports: config.spool.maxPendingReports,
    maxInflightBytes: config.ingest.maxInflightBytes,
    largeBodyGcBytes: config.ingest.largeBodyGcBytes,
    parsePool,
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
    routes: { '/healthz': health },
  });
  // Started at the first admin API request: most sidecars never get one.
  const adminQueries = new AdminQueryThread(
    {
      path: config.spool.path,
      sync: config.spool.sync,
      maxBytes: config.spool.maxBytes,
      dedupWindow: config.spool.dedupWindow,
      lateArrivalMs: config.spool.lateArrivalMs,
    },
    { rulesInput, catalog, skipPaths: config.ingest.skipPaths },
    {},
    log.child({ component: 'admin' }),
  );
  const admin = createAdminServer({
    auth: adminAuth,
    log: log.child({ component: 'admin' }),
    routes: adminRoutes({
      spool,
      queries: adminQueries,
      slaDays: () => sla.status().days,
      health,
      metrics: async () => ({ status: 200, body: await metrics.registry.metrics(), contentType: metrics.registry.contentType }),
      // 503 while the spool cannot store or one lane cannot deliver: ingest still spools for every organisation, so
      // this is "reporting is healthy", for monitoring; README (Readiness) says why no Kubernetes probe uses it.
      readiness: () => {
        const lanes = sender.status();
        const ready = writerFailure === null && lanes.every((l) => l.ready);
        const spoolState = writerFailure === null ? { ready: true } : { ready: false, code: 'PCM_SPOOL_WRITER', reason: writerFailure };
        const organisations = lanes.map(({ orgId, stream, lane, ready, code, reason, since }) => ({ orgId, stream, lane, ready, code, reason, since }));
        return { status: ready ? 200 : 503, body: { ready, spool: spoolState, organisations } };
      },
      status: () => ({
        status: 200,
        body: {
          spool: { path: spool.path, ...spool.counts(), recoveredInflight: spool.recoveredInflight, movedAside: spool.movedAside },
          organisations: sender.status(),
          rateBudget: sender.rate(),
          sla: sla.status(),
          reconciliation: reconciler?.status() ?? reconcileOff,
        },
      }),
      reconciliation: ({ query }) => {
        if (!reconciler) return { status: 404, body: { message: `reconciliation is off: ${reconcileOff.reason}` } };
        const parsed = divergentQueryOf(query);
        if ('error' in parsed) return { status: 400, body: { message: parsed.error } };
        const { total, data } = reconciler.divergent(parsed);
        return { status: 200, body: { data }, headers: pageHeaders(total, DIVERGENT_PAGE_MAX) };
      },
      notifications: ({ query }) => alerts.listNotifications(query),
    }),
  });
  const { server } = ingest;
  await listen(server, config.ingest.port, config.ingest.host);
  try {
    await listen(admin.server, config.admin.port, config.admin.host);
  } catch (err) {
    await ingest.close(0);
    throw err;
  }
  sender.start();
  reconciler?.start();
  sla.start(SLA_INTERVAL_MS);
  alerts.start(() => {
    const lanes = sender.status();
    const oldest = lanes.reduce<{ age: number; lane: string | null }>((o, l) => (l.backlogOldestAgeSeconds > o.age ? { age: l.backlogOldestAgeSeconds, lane: l.lane } : o), { age: 0, lane: null });
    return { count: spool.undelivered(), oldestAgeMs: oldest.age * 1000, oldestLane: oldest.lane };
  });
  let pruning: Promise<void> | null = null;
  let closing = false;
  const pruner = setInterval(() => {
    // One pass at a time; a pass still running when the next is due simply carries on.
    pruning ??= pruneSpool(spool, config, log, () => closing)
      .catch((err: unknown) => log.error({ err: errorMessage(err) }, 'pruning the spool failed; tried again at the next interval'))
      .finally(() => (pruning = null));
  }, PRUNE_INTERVAL_MS);
  pruner.unref();
  // A rotated ingest token or certificate is used without a restart, checked at the pace of the sender's credentials.
  const guardCheck = setInterval(() => {
    const tls = guard.refresh(log);
    if (tls) ingest.setTls(tls);
  }, config.token.credentialRetryMs);
  guardCheck.unref();
  const ingestUrl = urlOf(server.address() as AddressInfo, guard.tls ? 'https' : 'http');
  const adminUrl = urlOf(admin.server.address() as AddressInfo, 'http');
  warnAboutExposure(config, guard, log);
  log.info(
    { ingestUrl, adminUrl, adminApi: adminAuth !== null, spool: config.spool.path, sync: config.spool.sync, ...(config.forward.url ? { forwardTo: config.forward.url } : {}) },
    'pcm-sidecar is accepting reports',
  );

  let stopping: Promise<void> | null = null;
  /** SIGHUP: the endpoint catalogue, the rule settings and the webhook subscriptions, read again; what is under way finishes with the old ones. */
  let reloading: Promise<unknown> = Promise.resolve();
  /** Reloads one at a time: a second SIGHUP waits for the first. */
  function reload(next: Config): ReturnType<RunningSidecar['reload']> {
    if (stopping) return Promise.reject(new Error('the sidecar is stopping; nothing was reloaded'));
    const done = reloading.then(() => reloadNow(next));
    reloading = done.catch(() => undefined);
    return done;
  }
  async function reloadNow(next: Config): ReturnType<RunningSidecar['reload']> {
    const nextCatalog = loadCatalog(next.catalog.file);
    const nextInput = rulesInputOf({ ...config, rules: next.rules }, opendataOrgOf(config), readTokenIdPepper(config.tokenId.pepperFile));
    const nextRules = reportRules(nextInput, nextCatalog);
    const nextPool = await openParsePool(nextInput, nextCatalog);
    // A stop that began meanwhile wins: nothing new is started after it (it closes what it finds).
    const abandon = async (): Promise<never> => {
      await nextPool?.close();
      throw new Error('the sidecar is stopping; nothing was reloaded');
    };
    if (stopping) return abandon();
    // Subscriptions are checked before anything else changes; a bad one leaves the catalogue and rules as they were.
    let webhooks: Awaited<ReturnType<Alerts['reloadSubscriptions']>>;
    try {
      webhooks = await alerts.reloadSubscriptions(next.alerts.subscriptions, config.shutdown.graceMs);
    } catch (err) {
      await nextPool?.close();
      throw err;
    }
    if (stopping) return abandon();
    const oldPool = parsePool;
    rules = nextRules;
    parsePool = nextPool;
    ingest.setRules(nextRules.build, nextPool);
    adminQueries.setRules({ rulesInput: nextInput, catalog: nextCatalog, skipPaths: config.ingest.skipPaths });
    // A body still on an old thread falls back to the event loop, with the new rules, when the thread goes.
    await oldPool?.close();
    log.info({ catalog: nextCatalog.version, private: nextCatalog.private.length, opendata: nextCatalog.opendata.length }, 'endpoint catalogue and rules reloaded');
    return { catalog: nextCatalog.version, webhooks };
  }
  return {
    reload,
    ingestUrl,
    adminUrl,
    spool,
    sender,
    reconciler,
    alerts,
    adminQueries,
    stop(graceMs = 10_000) {
      stopping ??= (async () => {
        clearInterval(pruner);
        closing = true;
        await pruning;
        sla.stop();
        // Webhook attempts under way finish alongside, not after, the rest of the stop (one grace for all).
        const deliveries = alerts.stopDeliveries(graceMs);
        clearInterval(guardCheck);
        await Promise.all([ingest.close(graceMs), admin.close(graceMs)]);
        await Promise.all([parsePool?.close(), adminQueries.close()]);
        // Asking stops first (it uses the lanes' tokens); batches the sender still records are sampled until close.
        await reconciler?.stop();
        await sender.stop(graceMs);
        await reconciler?.close();
        await deliveries;
        // After the sender, whose last answers may still raise events.
        alerts.close();
        await spool.close();
        log.info('pcm-sidecar stopped');
      })();
      return stopping;
    },
  };
}
