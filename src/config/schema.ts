import { z } from 'zod';
import { RULES, type RuleId } from '../report/rules.js';

function isRegex(text: string): boolean {
  try {
    new RegExp(text);
    return true;
  } catch {
    return false;
  }
}

/**
 * The whole configuration of `pcm-sidecar run`, with every limit and its default in one place.
 * README.md ("Configuration") documents each setting once; `load.ts` maps them to PCM_* variables.
 */

const MiB = 1024 * 1024;

export const DEFAULTS = {
  ingest: {
    host: '127.0.0.1',
    port: 8431,
    /** Largest ingest body accepted; larger bodies get 413. */
    maxBodyBytes: 10 * MiB,
    /** Most items in one ingest body (a PCM request holds 5000); more is 413, so one body cannot exhaust memory. */
    maxItemsPerRequest: 5000,
    /**
     * Bytes of bodies held at once by all requests being read, parsed and committed (src/ingest/body-budget.ts): past
     * it, requests wait their turn, the oldest always proceeding. Bounds ingest's memory by construction: about 3× this
     * plus one largest body. Ordinary traffic (32 connections of 100-report arrays ≈ 2 MB) never reaches it.
     */
    maxInflightBytes: 8 * MiB,
    /**
     * Threads that parse and validate large bodies off the event loop (src/ingest/parse-pool.ts, piscina). 0: none —
     * on 2 cores they compete with the event loop and the spool's writer thread (bench/RESULTS.md); for pods with
     * more cores and large bodies (log shippers posting big chunks).
     */
    parseThreads: 0,
    /** Bodies at least this large go to a parse thread when there are some; smaller ones cost less than the hand-over. */
    parseThreadMinBytes: 256 * 1024,
    /** Listener limits, so a slow, idle or greedy client cannot hold connections: headers arrive within this or 408. */
    headersTimeoutMs: 10_000,
    /** The whole request, body included, arrives within this or 408 (Node's default is 300 s). */
    requestTimeoutMs: 30_000,
    /** An idle kept-alive connection closes after this (longer than the 60 s idle timeout of common load balancers). */
    keepAliveTimeoutMs: 65_000,
    /** Request line and headers together at most this many bytes, or 431. */
    maxHeaderBytes: 16 * 1024,
    /** Connections open at once; more are closed on arrival. */
    maxConnections: 1024,
    /**
     * The answer when some items of a body were refused (and quarantined): 207 with one result per item, or 200/202
     * for log shippers that re-post a whole chunk on anything else (Fluent Bit counts only 200–205 as success).
     * `?partialStatus=` on the request wins.
     */
    partialStatus: 207 as 200 | 202 | 207,
    /**
     * Interactions whose URL path matches are not Open Finance calls (health checks, metrics): counted as skipped,
     * neither reported nor quarantined. Gateway and interaction routes only; empty = skip nothing.
     */
    skipPaths: '^/(healthz|readyz|livez|health|ready|ping|metrics)(/|$)',
    /**
     * For an aggregator that remote agents forward to (README, "Topologies"): a file of bearer tokens, one a line,
     * one of which every POST must carry; several lines let a token be rotated without a flag day. None: no token asked.
     */
    tokenFile: undefined as string | undefined,
    /** TLS on the ingest listener (both or neither); none: plain HTTP, as on a pod's loopback. */
    tlsCertFile: undefined as string | undefined,
    tlsKeyFile: undefined as string | undefined,
    /** With TLS: POSTs must come with a client certificate this CA bundle signs; none: no client certificate asked. */
    clientCaFile: undefined as string | undefined,
  },
  /**
   * The admin listener: /metrics, /healthz and /readyz (open, for scrapers and probes) and the admin API under /v1/
   * (src/admin/). Separate from ingest, which stays on loopback, so Prometheus can reach it from outside the pod.
   */
  admin: {
    host: '0.0.0.0',
    port: 9431,
    /** A file of bearer tokens, one a line, one of which admin API requests must carry; none: the admin API is off. */
    tokenFile: undefined as string | undefined,
  },
  /**
   * An agent forwards its validated, spooled reports to another pcm-sidecar (an aggregator) instead of the PCM: no
   * organisation certificate and no PCM URL on the agent. None: deliver to the PCM.
   */
  forward: {
    /** The aggregator's ingest base URL; reports go to its POST /v1/reports. */
    url: undefined as string | undefined,
    /** A file holding the bearer token the aggregator asks for (its PCM_INGEST_TOKEN_FILE holds the same). */
    tokenFile: undefined as string | undefined,
    /** Client certificate and key for an aggregator that asks for one (https only). */
    certFile: undefined as string | undefined,
    keyFile: undefined as string | undefined,
    /** The CA bundle that signs the aggregator's server certificate; it replaces Node's bundled CAs. None: those. */
    caFile: undefined as string | undefined,
  },
  spool: {
    path: './pcm-spool.db',
    /** `full`: an answered report survives power loss. `normal`: it survives a process crash only. */
    sync: 'full' as const,
    /**
     * Delivered rows (accepted or discarded) are deleted after this long. Duplicates are recognised only among rows
     * still kept; the PCM refuses reports older than 7 days, so a week and a day covers every resend it would take.
     */
    retainDeliveredMs: 8 * 24 * 60 * 60 * 1000,
    /** Quarantined items are deleted after this long (logged): time enough to notice, fix and replay them. */
    retainQuarantineMs: 30 * 24 * 60 * 60 * 1000,
    /**
     * The quarantine as a whole: past either cap the oldest items are deleted (logged, counted) until it is under 90 %
     * of both, so a storm of refused traffic cannot fill the disk. Identical items are folded anyway.
     */
    quarantineMaxRows: 100_000,
    quarantineMaxBytes: 128 * MiB,
    /**
     * Report keys remembered for de-duplication, in memory (tables that grow with the keys held, up to 24 bytes a
     * key, 24 MiB by default): a report whose key is among the last 500,000 to 1,000,000 stored is answered
     * "duplicate". What gateways re-send after a lost answer is seconds to minutes old; an older
     * repeat is stored and sent again (a duplicate at the PCM).
     */
    dedupWindow: 1_000_000,
    /**
     * Reports waiting to be sent (pending and in flight) past which ingest answers 503 with Retry-After, as it does
     * when the spool is full: a long PCM outage fills the disk slowly and predictably rather than all at once. About
     * 5 GB of spool at ~500 bytes a report; it recovers by itself as the backlog drains.
     */
    maxPendingReports: 10_000_000,
    /**
     * A report stored this long after its own timestamp is late (a log shipper catching up, a gateway back from an
     * outage). Oldest first is arrival order, which is timestamp order for everything else; a late report is sent
     * before the lane's oldest waiting report when its timestamp is older, so it reaches the PCM before its 7 days.
     */
    lateArrivalMs: 60 * 60 * 1000,
  },
  sender: {
    /** PCM limit: at most 5000 items per request. */
    maxBatchSize: 5000,
    /** PCM limit: at most 10 MB per request body. */
    maxBatchBytes: 10 * 1000 * 1000,
    /** A partly filled batch leaves after this long. */
    maxBatchDelayMs: 1000,
    /** Batches in flight at once, per reporting organisation. */
    maxConcurrentBatches: 2,
    /**
     * A lane with reports waiting and none answered by the PCM for this long is not ready (/readyz). Above the
     * export timeout and the longest retry delay, so one slow answer or one long backoff does not count; 0: off.
     */
    laneStallMs: 5 * 60_000,
    /** Whole-request timeout for a report POST (headers and body). */
    exportTimeoutMs: 30_000,
    connectTimeoutMs: 10_000,
    /** First retry delay; doubles per failed attempt up to retryMaxDelayMs, with jitter (src/sender/backoff.ts). */
    retryInitialDelayMs: 500,
    retryMaxDelayMs: 60_000,
    /** A batch refused this many times (a 4xx that waiting does not fix) is split to set the refused report apart. */
    maxRefusals: 5,
  },
  rate: {
    /**
     * Sidecar processes that send for one participant at the same time: every replica, a rolling update's surge
     * included. The PCM answers 429 above 300 requests/s for the whole participant, so each process gets
     * fleetLimit / fleetSize (README, "Rate budget"). 500 by default: 0.48 requests/s each, which at full batches
     * (5000) still carries 2400 reports/s per process, and a fleet of 500 that starts together stays under 300/s.
     */
    fleetSize: 500,
    /** Requests/s the whole fleet may make: 80 % of the PCM's 300, the rest a margin for processes in step. */
    fleetLimit: 240,
    /** Requests/s of this process (report POSTs, token requests, reconciliation); none: fleetLimit / fleetSize. */
    limit: undefined as number | undefined,
    /** Permits saved up while idle. 1: processes that go busy together cannot spike the participant's second. */
    burst: 1,
    /** A 429 multiplies the rate by this (AIMD's multiplicative decrease) … */
    decrease: 0.5,
    /** … at most once per this long: the PCM counts per second, so the 429s of one second are one overload. */
    decreaseHoldMs: 1000,
    /** Each 2xx adds back this share of the configured rate, up to it (additive increase). */
    increase: 0.05,
    /** The rate never falls below this many requests/s: one call every 50 s, 100 reports/s at full batches. */
    min: 0.02,
  },
  reconcile: {
    /**
     * Share of the rate budget that reconciliation GETs (§9) may use, at most: report delivery keeps the rest even
     * when reconciliation has a backlog. 0 turns reconciliation off.
     */
    share: 0.2,
    /** A report is first asked about this long after the PCM accepted it: its counterpart needs time to report. */
    delayMs: 60 * 60_000,
    /** UNPAIRED reports (and ones not reconciled or not visible yet) are asked again after this: the PCM's Fechamento re-runs pairing. */
    retryMs: 6 * 60 * 60_000,
    /** A GET that got no status (network, 5xx, 429, 401) is tried again after this. */
    errorRetryMs: 60_000,
    /** No ask later than this after the report's timestamp: the PCM's D+7 window (§10). */
    stopAfterMs: 7 * 24 * 60 * 60 * 1000,
    /** Entries of days (BRT) older than this are deleted: the file stays bounded. */
    retainMs: 8 * 24 * 60 * 60 * 1000,
    /**
     * Most reports followed at once (≈ 480 bytes each in the file: ~100 MB). The defaults follow ~50,000 over the 8
     * days kept; a large budget reaches the cap, and while full nothing more is sampled (the day's sample rate shows it).
     */
    maxEntries: 200_000,
    /** When sampling, this part of the GET capacity is kept for asking UNPAIRED reports again; the rest plans first asks. */
    reaskReserve: 0.25,
    /** The sample rate is recomputed from the accepted rate and the budget this often (old days pruned too). */
    sampleIntervalMs: 10_000,
    /** Sampled reports and answers are written together this often: a crash loses at most this much of them. */
    flushMs: 1000,
    /** Timeout of one GET. */
    timeoutMs: 15_000,
    /** GETs in flight at once. */
    concurrency: 4,
    /** Due reports read from the file per pass. */
    pageSize: 64,
    /** Divergent reports (UNPAIRED, PAIRED_INCONSISTENT) listed in /v1/status, last answered first. */
    statusListed: 20,
    /** The reconciliation file; none: `<spool path>.reconcile.db`. */
    path: undefined as string | undefined,
  },
  token: {
    /** JSON body as in the integration manual (seed 000), or form-encoded as in the v3.1.0 spec. */
    requestFormat: 'json' as const,
    /** Refresh this long before `expires_in` runs out (capped at a tenth of the lifetime). */
    refreshMarginMs: 5 * 60_000,
    timeoutMs: 15_000,
    /** How often an unusable certificate or key is read again, so mounting it later needs no restart. */
    credentialRetryMs: 10_000,
  },
  rules: {
    /** §13 item 4: PCM-current and release 2026C type it `number`; v1.0.2/v3.1.0 said int16. */
    processTimespan: 'number' as const,
    /** §13 item 6: one code as a string (changelog 23/01/2026) or a list (older texts). */
    errorCodesAs: 'string' as const,
    /** §4.5: tokenId on private CLIENT reports since 2025D. */
    requireTokenId: true,
    /** The PCM refuses reports older than 7 days ("Report is too old"). */
    maxAgeMs: 7 * 24 * 60 * 60 * 1000,
    /** … and timestamps more than 5 minutes ahead of its clock (release 2025D). */
    maxFutureMs: 5 * 60 * 1000,
    /** Quality findings (src/report/rules.ts): `send` the report with the finding, or `refuse` it like a discard. */
    quality: 'send' as 'send' | 'refuse',
    /** Per rule id (src/report/rules.ts): refuse, send or ignore; config file only. */
    overrides: {} as Readonly<Record<string, 'refuse' | 'send' | 'ignore'>>,
  },
  tokenId: {
    /** A file holding the pepper of §4.5 (src/config/pepper.ts says how it is read); none: tokens are not hashed. */
    pepperFile: undefined as string | undefined,
  },
  shutdown: {
    /** SIGTERM to exit, whatever the PCM, the spool or stdout do: past it, the stop is cut short and the exit is 1. */
    graceMs: 25_000,
  },
  log: { level: 'info' as const },
  alerts: {
    /**
     * The notification store (src/alerts/store.ts); none: `<spool path>.alerts.db`, next to the spool and apart from
     * its schema.
     */
    storePath: undefined as string | undefined,
    /** Events of one kind (and lane, day, state) within this long become one notification with their count; 0: each alone. */
    aggregateMs: 60_000,
    /** fapiInteractionIds a notification names at most, the first ones of its burst. */
    sampleSize: 5,
    /** A receiver that did not answer as expected is tried again after this long (seed 002: every 5 minutes) … */
    retryIntervalMs: 5 * 60_000,
    /** … for this long after the notification was made (seed 002: 24 hours); then it is given up (failed). */
    retryWindowMs: 24 * 60 * 60_000,
    /** Whole-request timeout of a webhook POST or a token request. */
    timeoutMs: 10_000,
    /** SPOOL.BACKLOG_HIGH when the oldest report not yet answered by the PCM waited longer than this; 0: off. */
    backlogMaxAgeMs: 60 * 60_000,
    /** … or when more reports than this wait (pending and in flight); 0: off. */
    backlogMaxReports: 1_000_000,
    /** How often the backlog is compared with those thresholds. */
    checkIntervalMs: 30_000,
    /** The largest page of GET /v1/notifications (its `acceptRange`); a larger `_limit` is 412 (seed 003). */
    pageMax: 100,
    /** Delivered and failed notifications are deleted this long after their end. */
    retainMs: 7 * 24 * 60 * 60_000,
    /** Requests per minute one subscription makes at most (seed 004's rate limit), retries included. */
    rateLimitPerMinute: 60,
    /** The answer that counts as received: 201 as seed 002 asks, another 2xx, or "2xx" for every 2xx. */
    expectStatus: 201 as number | '2xx',
    /** Webhook subscriptions (webhookSubscriptionSchema); none: no notification is made. */
    subscriptions: [] as readonly never[],
  },
} as const;

const url = z.url({ protocol: /^https?$/ }).transform((u) => u.replace(/\/+$/, ''));

const file = z.string().min(1);

export const organisationSchema = z.strictObject({
  /** The organisationId this credential reports for (clientOrgId of CLIENT reports, serverOrgId of SERVER ones). */
  orgId: z.uuid(),
  /** client_id of the software statement bound to the certificate; these three only when delivering to the PCM. */
  clientId: z.string().min(1).optional(),
  certFile: file.optional(),
  keyFile: file.optional(),
  keyPassphrase: z.string().optional(),
  /** Software statement (clientSSId) put on CLIENT reports built from raw interactions that do not carry one. */
  clientSSId: z.uuid().optional(),
});

/** `ENTITY.EVENT` (seed 002's event code), or `*` for every event; src/alerts/events.ts lists the known ones. */
const eventCode = z.string().regex(/^(\*|[A-Z][A-Z_]*\.[A-Z][A-Z_]*)$/, 'must be an event code ENTITY.EVENT, e.g. REPORT.DISCARDED, or *');

/** Headers the HTTP client sets itself: a subscription cannot replace them. */
const RESERVED_HEADERS = new Set(['host', 'content-length', 'transfer-encoding', 'connection', 'content-type']);

export const webhookSubscriptionSchema = z.strictObject({
  /** Names the subscription in the store, logs and metrics; none: derived from the URL (which may hold a secret). */
  id: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'letters, digits, ".", "_" and "-", at most 64').optional(),
  /** Event codes, a list in the file or comma-separated in PCM_ALERTS_EVENTS. */
  events: z
    .union([z.array(eventCode), z.string().transform((text) => text.split(',').map((e) => e.trim()).filter((e) => e !== '')).pipe(z.array(eventCode))])
    .pipe(z.array(eventCode).min(1, 'name at least one event code')),
  url: z.url({ protocol: /^https?$/ }),
  /** Extra request headers (an API key, say); config file only. */
  headers: z
    .record(z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'must be an HTTP header name'), z.string())
    .refine((h) => Object.keys(h).every((name) => !RESERVED_HEADERS.has(name.toLowerCase())), 'host, content-length, transfer-encoding, connection and content-type are set by the sidecar')
    .default({}),
  rateLimitPerMinute: z.coerce.number().int().min(1).max(6000).default(DEFAULTS.alerts.rateLimitPerMinute),
  expectStatus: z.union([z.literal('2xx'), z.coerce.number().int().min(200).max(299)]).default(DEFAULTS.alerts.expectStatus),
  /** A receiver protected by OAuth2: a token by client_credentials, the secret in HTTP Basic auth (seed 001). */
  oauth2: z
    .strictObject({
      tokenUrl: z.url({ protocol: /^https?$/ }),
      clientId: z.string().min(1),
      /** A file holding the client secret (its trailing newline dropped): the secret is never in the config itself. */
      clientSecretFile: z.string().min(1),
      scope: z.string().min(1).optional(),
    })
    .optional(),
});

export type WebhookSubscription = z.infer<typeof webhookSubscriptionSchema>;

const configBase = z.strictObject({
  admin: z
    .strictObject({
      host: z.string().min(1).default(DEFAULTS.admin.host),
      port: z.coerce.number().int().min(0).max(65535).default(DEFAULTS.admin.port),
      tokenFile: z.string().min(1).optional(),
    })
    .prefault({}),
  ingest: z
    .strictObject({
      host: z.string().min(1).default(DEFAULTS.ingest.host),
      port: z.coerce.number().int().min(0).max(65535).default(DEFAULTS.ingest.port),
      maxBodyBytes: z.coerce.number().int().positive().default(DEFAULTS.ingest.maxBodyBytes),
      maxItemsPerRequest: z.coerce.number().int().positive().default(DEFAULTS.ingest.maxItemsPerRequest),
      maxInflightBytes: z.coerce.number().int().min(64 * 1024).default(DEFAULTS.ingest.maxInflightBytes),
      parseThreads: z.coerce.number().int().min(0).max(64).default(DEFAULTS.ingest.parseThreads),
      parseThreadMinBytes: z.coerce.number().int().min(0).default(DEFAULTS.ingest.parseThreadMinBytes),
      headersTimeoutMs: z.coerce.number().int().positive().default(DEFAULTS.ingest.headersTimeoutMs),
      requestTimeoutMs: z.coerce.number().int().positive().default(DEFAULTS.ingest.requestTimeoutMs),
      keepAliveTimeoutMs: z.coerce.number().int().positive().default(DEFAULTS.ingest.keepAliveTimeoutMs),
      maxHeaderBytes: z.coerce.number().int().min(1024).default(DEFAULTS.ingest.maxHeaderBytes),
      maxConnections: z.coerce.number().int().positive().default(DEFAULTS.ingest.maxConnections),
      partialStatus: z.coerce
        .number()
        .pipe(z.union([z.literal(200), z.literal(202), z.literal(207)]))
        .default(DEFAULTS.ingest.partialStatus),
      skipPaths: z
        .string()
        .refine((text) => isRegex(text), 'must be a regular expression over the URL path, e.g. ^/(healthz|metrics)(/|$)')
        .default(DEFAULTS.ingest.skipPaths),
      tokenFile: file.optional(),
      tlsCertFile: file.optional(),
      tlsKeyFile: file.optional(),
      clientCaFile: file.optional(),
    })
    .prefault({}),
  forward: z
    .strictObject({
      url: url.optional(),
      tokenFile: file.optional(),
      certFile: file.optional(),
      keyFile: file.optional(),
      caFile: file.optional(),
    })
    .prefault({}),
  spool: z
    .strictObject({
      path: z.string().min(1).default(DEFAULTS.spool.path),
      sync: z.enum(['full', 'normal']).default(DEFAULTS.spool.sync),
      retainDeliveredMs: z.coerce.number().int().positive().default(DEFAULTS.spool.retainDeliveredMs),
      /** Largest spool file in bytes; none: as large as the disk allows. */
      maxBytes: z.coerce.number().int().min(64 * 1024).optional(),
      retainQuarantineMs: z.coerce.number().int().positive().default(DEFAULTS.spool.retainQuarantineMs),
      quarantineMaxRows: z.coerce.number().int().positive().default(DEFAULTS.spool.quarantineMaxRows),
      quarantineMaxBytes: z.coerce.number().int().min(64 * 1024).default(DEFAULTS.spool.quarantineMaxBytes),
      dedupWindow: z.coerce.number().int().min(0).max(100_000_000).default(DEFAULTS.spool.dedupWindow),
      maxPendingReports: z.coerce.number().int().positive().default(DEFAULTS.spool.maxPendingReports),
      lateArrivalMs: z.coerce.number().int().positive().default(DEFAULTS.spool.lateArrivalMs),
    })
    .prefault({}),
  pcm: z
    .strictObject({
      /** Report API base, e.g. https://api.pcm.openfinancebrasil.org.br; required unless forwarding. */
      apiUrl: url.optional(),
      /** Token (auth) base, e.g. https://auth.pcm.openfinancebrasil.org.br — `/token/` is appended. */
      authUrl: url.optional(),
      /** PEM bundle that signs the PCM's server certificates; the system store when absent. */
      caFile: z.string().min(1).optional(),
    })
    .prefault({}),
  organisations: z.array(organisationSchema).min(1, 'at least one organisation is needed'),
  /** The organisation whose token sends opendata reports; defaults to the only organisation when there is one. */
  opendataOrgId: z.uuid().optional(),
  catalog: z
    .strictObject({
      /** Endpoint catalogue file; the one shipped in data/catalog/ when absent. */
      file: z.string().min(1).optional(),
    })
    .prefault({}),
  rules: z
    .strictObject({
      processTimespan: z.enum(['number', 'integer']).default(DEFAULTS.rules.processTimespan),
      errorCodesAs: z.enum(['string', 'array']).default(DEFAULTS.rules.errorCodesAs),
      requireTokenId: z.union([z.boolean(), z.stringbool()]).default(DEFAULTS.rules.requireTokenId),
      maxAgeMs: z.coerce.number().int().positive().default(DEFAULTS.rules.maxAgeMs),
      maxFutureMs: z.coerce.number().int().min(0).default(DEFAULTS.rules.maxFutureMs),
      quality: z.enum(['send', 'refuse']).default(DEFAULTS.rules.quality),
      overrides: z.record(z.string(), z.enum(['refuse', 'send', 'ignore'])).default({}),
    })
    .prefault({}),
  tokenId: z
    .strictObject({
      pepperFile: z.string().min(1).optional(),
    })
    .prefault({}),
  sender: z
    .strictObject({
      maxBatchSize: z.coerce.number().int().min(1).max(5000).default(DEFAULTS.sender.maxBatchSize),
      maxBatchBytes: z.coerce.number().int().min(1024).max(10_000_000).default(DEFAULTS.sender.maxBatchBytes),
      maxBatchDelayMs: z.coerce.number().int().min(0).default(DEFAULTS.sender.maxBatchDelayMs),
      maxConcurrentBatches: z.coerce.number().int().min(1).max(64).default(DEFAULTS.sender.maxConcurrentBatches),
      laneStallMs: z.coerce.number().int().min(0).default(DEFAULTS.sender.laneStallMs),
      exportTimeoutMs: z.coerce.number().int().positive().default(DEFAULTS.sender.exportTimeoutMs),
      connectTimeoutMs: z.coerce.number().int().positive().default(DEFAULTS.sender.connectTimeoutMs),
      retryInitialDelayMs: z.coerce.number().int().positive().default(DEFAULTS.sender.retryInitialDelayMs),
      retryMaxDelayMs: z.coerce.number().int().positive().default(DEFAULTS.sender.retryMaxDelayMs),
      maxRefusals: z.coerce.number().int().min(1).default(DEFAULTS.sender.maxRefusals),
    })
    .prefault({}),
  rate: z
    .strictObject({
      fleetSize: z.coerce.number().int().min(1).default(DEFAULTS.rate.fleetSize),
      fleetLimit: z.coerce.number().positive().default(DEFAULTS.rate.fleetLimit),
      limit: z.coerce.number().positive().optional(),
      burst: z.coerce.number().int().min(1).default(DEFAULTS.rate.burst),
      decrease: z.coerce.number().gt(0).lt(1).default(DEFAULTS.rate.decrease),
      decreaseHoldMs: z.coerce.number().int().min(0).default(DEFAULTS.rate.decreaseHoldMs),
      increase: z.coerce.number().gt(0).max(1).default(DEFAULTS.rate.increase),
      min: z.coerce.number().positive().default(DEFAULTS.rate.min),
    })
    .prefault({}),
  reconcile: z
    .strictObject({
      share: z.coerce.number().min(0).max(0.5).default(DEFAULTS.reconcile.share),
      delayMs: z.coerce.number().int().min(0).default(DEFAULTS.reconcile.delayMs),
      retryMs: z.coerce.number().int().positive().default(DEFAULTS.reconcile.retryMs),
      errorRetryMs: z.coerce.number().int().positive().default(DEFAULTS.reconcile.errorRetryMs),
      stopAfterMs: z.coerce.number().int().positive().default(DEFAULTS.reconcile.stopAfterMs),
      retainMs: z.coerce.number().int().positive().default(DEFAULTS.reconcile.retainMs),
      maxEntries: z.coerce.number().int().min(1).default(DEFAULTS.reconcile.maxEntries),
      reaskReserve: z.coerce.number().min(0).max(0.9).default(DEFAULTS.reconcile.reaskReserve),
      sampleIntervalMs: z.coerce.number().int().min(10).default(DEFAULTS.reconcile.sampleIntervalMs),
      flushMs: z.coerce.number().int().min(10).default(DEFAULTS.reconcile.flushMs),
      timeoutMs: z.coerce.number().int().positive().default(DEFAULTS.reconcile.timeoutMs),
      concurrency: z.coerce.number().int().min(1).max(64).default(DEFAULTS.reconcile.concurrency),
      pageSize: z.coerce.number().int().min(1).max(10_000).default(DEFAULTS.reconcile.pageSize),
      statusListed: z.coerce.number().int().min(0).max(1000).default(DEFAULTS.reconcile.statusListed),
      path: z.string().min(1).optional(),
    })
    .refine((r) => r.retainMs >= r.stopAfterMs, { message: 'retainMs must be at least stopAfterMs: a report is kept while it is still asked about', path: ['retainMs'] })
    .prefault({}),
  token: z
    .strictObject({
      requestFormat: z.enum(['json', 'form']).default(DEFAULTS.token.requestFormat),
      refreshMarginMs: z.coerce.number().int().min(0).default(DEFAULTS.token.refreshMarginMs),
      timeoutMs: z.coerce.number().int().positive().default(DEFAULTS.token.timeoutMs),
      credentialRetryMs: z.coerce.number().int().positive().default(DEFAULTS.token.credentialRetryMs),
    })
    .prefault({}),
  shutdown: z
    .strictObject({
      graceMs: z.coerce.number().int().positive().default(DEFAULTS.shutdown.graceMs),
    })
    .prefault({}),
  log: z
    .strictObject({
      level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default(DEFAULTS.log.level),
    })
    .prefault({}),
  alerts: z
    .strictObject({
      storePath: z.string().min(1).optional(),
      aggregateMs: z.coerce.number().int().min(0).default(DEFAULTS.alerts.aggregateMs),
      sampleSize: z.coerce.number().int().min(0).max(100).default(DEFAULTS.alerts.sampleSize),
      retryIntervalMs: z.coerce.number().int().positive().default(DEFAULTS.alerts.retryIntervalMs),
      retryWindowMs: z.coerce.number().int().min(0).default(DEFAULTS.alerts.retryWindowMs),
      timeoutMs: z.coerce.number().int().positive().default(DEFAULTS.alerts.timeoutMs),
      backlogMaxAgeMs: z.coerce.number().int().min(0).default(DEFAULTS.alerts.backlogMaxAgeMs),
      backlogMaxReports: z.coerce.number().int().min(0).default(DEFAULTS.alerts.backlogMaxReports),
      checkIntervalMs: z.coerce.number().int().positive().default(DEFAULTS.alerts.checkIntervalMs),
      pageMax: z.coerce.number().int().min(1).max(10_000).default(DEFAULTS.alerts.pageMax),
      retainMs: z.coerce.number().int().positive().default(DEFAULTS.alerts.retainMs),
      subscriptions: z.array(webhookSubscriptionSchema).default([...DEFAULTS.alerts.subscriptions]),
    })
    .prefault({}),
});

export const configSchema = configBase.superRefine((config, ctx) => {
  for (const [rule, action] of Object.entries(config.rules.overrides)) {
    if (!Object.hasOwn(RULES, rule)) {
      ctx.addIssue({ code: 'custom', path: ['rules', 'overrides', rule], message: `unknown rule; the rules are: ${Object.keys(RULES).join(', ')}` });
    } else if (!RULES[rule as RuleId].overridable && action !== 'refuse') {
      ctx.addIssue({ code: 'custom', path: ['rules', 'overrides', rule], message: 'a report that breaks this rule cannot be built or sent; only "refuse" is possible' });
    }
  }
  // Opendata reports go out with this organisation's token: it must be one the sidecar has a certificate for.
  if (config.opendataOrgId && !config.organisations.some((o) => o.orgId.toLowerCase() === config.opendataOrgId?.toLowerCase())) {
    ctx.addIssue({ code: 'custom', path: ['opendataOrgId'], message: 'must be one of the configured organisations' });
  }
  deliveryIssues(config, ctx);
  ingestIssues(config.ingest, ctx);
});

type Issues = z.core.$RefinementCtx;

/**
 * What delivery needs: to the PCM, its URLs and each organisation's client_id, certificate and key; to an aggregator
 * (forward.url), none of those but a credential for the aggregator. Issues carry the setting's path, so the message
 * names the variable (load.ts).
 */
function deliveryIssues(config: z.output<typeof configBase>, ctx: Issues): void {
  const { forward } = config;
  const required = (path: (string | number)[]): void =>
    ctx.addIssue({ code: 'custom', path, message: 'required to deliver to the PCM (or set PCM_FORWARD_URL to forward to an aggregator)' });
  if (forward.url === undefined) {
    if (config.pcm.apiUrl === undefined) required(['pcm', 'apiUrl']);
    if (config.pcm.authUrl === undefined) required(['pcm', 'authUrl']);
    config.organisations.forEach((org, i) => {
      for (const key of ['clientId', 'certFile', 'keyFile'] as const) if (org[key] === undefined) required(['organisations', i, key]);
    });
    for (const key of ['tokenFile', 'certFile', 'keyFile', 'caFile'] as const) {
      if (forward[key] !== undefined) ctx.addIssue({ code: 'custom', path: ['forward', key], message: 'only used with PCM_FORWARD_URL' });
    }
    return;
  }
  if ((forward.certFile === undefined) !== (forward.keyFile === undefined)) {
    ctx.addIssue({ code: 'custom', path: ['forward', forward.certFile === undefined ? 'certFile' : 'keyFile'], message: 'the client certificate and its key go together' });
  }
  if (forward.tokenFile === undefined && forward.certFile === undefined) {
    ctx.addIssue({ code: 'custom', path: ['forward', 'tokenFile'], message: 'the aggregator must know the agent: a token file, or a client certificate (PCM_FORWARD_CERT_FILE, PCM_FORWARD_KEY_FILE), or both' });
  }
  if (!forward.url.startsWith('https:')) {
    for (const key of ['certFile', 'caFile'] as const) {
      if (forward[key] !== undefined) ctx.addIssue({ code: 'custom', path: ['forward', key], message: 'needs an https:// PCM_FORWARD_URL' });
    }
  }
}

function ingestIssues(ingest: z.output<typeof configBase>['ingest'], ctx: Issues): void {
  if ((ingest.tlsCertFile === undefined) !== (ingest.tlsKeyFile === undefined)) {
    ctx.addIssue({ code: 'custom', path: ['ingest', ingest.tlsCertFile === undefined ? 'tlsCertFile' : 'tlsKeyFile'], message: 'the server certificate and its key go together' });
  }
  if (ingest.clientCaFile !== undefined && ingest.tlsCertFile === undefined) {
    ctx.addIssue({ code: 'custom', path: ['ingest', 'clientCaFile'], message: 'client certificates need TLS on the ingest (PCM_INGEST_TLS_CERT_FILE, PCM_INGEST_TLS_KEY_FILE)' });
  }
}

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

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
export type Organisation = z.infer<typeof organisationSchema>;
