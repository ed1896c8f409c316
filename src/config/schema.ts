import { z } from 'zod';
import { RULES, type RuleId } from '../report/rules.js';
import { DEFAULTS } from './defaults.js';

function isRegex(text: string): boolean {
  try {
    new RegExp(text);
    return true;
  } catch {
    return false;
  }
}

/**
 * The whole configuration of `pcm-sidecar run`; every limit's default is in one place, defaults.ts. Each setting's
 * meaning is on its schema below (`.describe()`, or `.meta()` with `absent`: what an unset setting without a default
 * means, and `type` where the schema's own shape says too little); docs/configuration.md is generated from them
 * (`npm run docs:config`, src/config/reference.ts). `load.ts` maps the settings to PCM_* variables.
 */


const url = z.url({ protocol: /^https?$/ }).transform((u) => u.replace(/\/+$/, ''));

const file = z.string().min(1).meta({ type: 'file path' });

const NOT_FORWARDING = '— (required unless forwarding)';

export const organisationSchema = z.strictObject({
  orgId: z.uuid().describe(
    'The organisationId this credential reports for (clientOrgId of CLIENT reports, serverOrgId of SERVER ones). An agent needs it too: it validates and keeps a lane per organisation.',
  ),
  clientId: z.string().min(1).optional().meta({ description: 'client_id of the software statement bound to the certificate.', absent: NOT_FORWARDING }),
  certFile: file.optional().meta({ description: "Client certificate (PEM) for the token's mTLS.", absent: NOT_FORWARDING }),
  keyFile: file.optional().meta({ description: 'Its private key (PEM), encrypted or not.', absent: NOT_FORWARDING }),
  keyPassphrase: z.string().optional().describe('Passphrase of an encrypted key; never logged.'),
  clientSSId: z.uuid().optional().describe('Software statement (clientSSId) put on CLIENT reports built from raw interactions that do not carry one.'),
});

/** `ENTITY.EVENT` (seed 002's event code), or `*` for every event; src/alerts/events.ts lists the known ones. */
const eventCode = z.string().regex(/^(\*|[A-Z][A-Z_]*\.[A-Z][A-Z_]*)$/, 'must be an event code ENTITY.EVENT, e.g. REPORT.DISCARDED, or *');

/** Headers the HTTP client sets itself: a subscription cannot replace them. */
const RESERVED_HEADERS = new Set(['host', 'content-length', 'transfer-encoding', 'connection', 'content-type']);

const WITH_TOKEN_URL = '— (required with a token URL)';

export const webhookSubscriptionSchema = z.strictObject({
  id: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,64}$/, 'letters, digits, ".", "_" and "-", at most 64')
    .optional()
    .meta({
      description: 'Names the subscription in the store, logs and metrics.',
      absent: "`webhook-` + 12 hex digits of the URL's SHA-256 (not the URL itself, which may hold a secret)",
      type: 'letters, digits, `.`, `_`, `-`; at most 64',
    }),
  events: z
    .union([z.array(eventCode), z.string().transform((text) => text.split(',').map((e) => e.trim()).filter((e) => e !== '')).pipe(z.array(eventCode))])
    .pipe(z.array(eventCode).min(1, 'name at least one event code'))
    .meta({
      description: "The events notified: seed 002's event codes (`REPORT.DISCARDED`, …; src/alerts/events.ts lists the known ones), `*` for every event.",
      absent: '— (required with a URL)',
      type: 'list of `ENTITY.EVENT` or `*`, at least one; comma-separated in the variable',
    }),
  url: z.url({ protocol: /^https?$/ }).meta({ description: 'The webhook receiver (README, "Alerts (webhooks)").', absent: 'none (no alerts)' }),
  headers: z
    .record(z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'must be an HTTP header name'), z.string())
    .refine((h) => Object.keys(h).every((name) => !RESERVED_HEADERS.has(name.toLowerCase())), 'host, content-length, transfer-encoding, connection and content-type are set by the sidecar')
    .default({})
    .meta({
      description:
        'Extra request headers (`{"x-api-key": "…"}`). Not `host`, `content-length`, `content-type`, `connection`, `transfer-encoding` (the sidecar sets them), nor `authorization` with oauth2.',
      type: 'object: header name → text',
    }),
  rateLimitPerMinute: z.coerce
    .number()
    .int()
    .min(1)
    .max(6000)
    .default(DEFAULTS.alerts.rateLimitPerMinute)
    .describe("Requests to the receiver in every 60 s at most (seed 004's rate limit), retries included."),
  expectStatus: z
    .union([z.literal('2xx'), z.coerce.number().int().min(200).max(299)])
    .default(DEFAULTS.alerts.expectStatus)
    .describe('The answer that counts as received: `201` as seed 002 asks, another 2xx, or `2xx` for every 2xx.'),
  oauth2: z
    .strictObject({
      tokenUrl: z.url({ protocol: /^https?$/ }).meta({ description: 'OAuth2 token endpoint of a protected receiver (client_credentials).', absent: 'none (no OAuth2)' }),
      clientId: z.string().min(1).meta({ description: 'Its client id.', absent: WITH_TOKEN_URL }),
      clientSecretFile: file.meta({
        description: 'A file holding the client secret (one trailing newline dropped), read at each token request: the secret is never in the configuration itself.',
        absent: WITH_TOKEN_URL,
      }),
      scope: z.string().min(1).optional().describe('The `scope` asked for.'),
    })
    .optional()
    .describe('A receiver protected by OAuth2: a token by client_credentials, the secret in HTTP Basic auth (seed 001).'),
});

export type WebhookSubscription = z.infer<typeof webhookSubscriptionSchema>;

const configBase = z.strictObject({
  admin: z
    .strictObject({
      host: z.string().min(1).default(DEFAULTS.admin.host).describe('Address of the admin listener: `/metrics`, `/healthz` and `/readyz` (open, for scrapers and probes) and the admin API under `/v1/`.'),
      port: z.coerce.number().int().min(0).max(65535).default(DEFAULTS.admin.port).describe('Port of the admin listener (`0`: a free port, picked at start).'),
      tokenFile: file.optional().meta({
        description: 'A file of bearer tokens, one a line, one of which admin API requests must carry. Metrics, health and readiness stay open without it.',
        absent: 'none (the admin API is off: 404 with a message saying so)',
      }),
    })
    .describe('The admin listener (src/admin/). Apart from ingest, which stays on loopback, so Prometheus and probes can reach it from outside the pod.')
    .prefault({}),
  ingest: z
    .strictObject({
      host: z.string().min(1).default(DEFAULTS.ingest.host).describe('Ingest listen address.'),
      port: z.coerce.number().int().min(0).max(65535).default(DEFAULTS.ingest.port).describe('Ingest port (`0`: a free port, logged as `ingestUrl`).'),
      maxBodyBytes: z.coerce.number().int().positive().default(DEFAULTS.ingest.maxBodyBytes).describe('Largest ingest body accepted; a larger one is answered 413.'),
      maxItemsPerRequest: z.coerce
        .number()
        .int()
        .positive()
        .default(DEFAULTS.ingest.maxItemsPerRequest)
        .describe('Most items in one ingest body (a PCM request holds 5000); more is 413, so one body cannot exhaust memory.'),
      maxInflightBytes: z.coerce
        .number()
        .int()
        .min(64 * 1024)
        .default(DEFAULTS.ingest.maxInflightBytes)
        .describe(
          "Bytes of bodies held at once by every request being read, parsed and committed (src/ingest/body-budget.ts): past it, requests wait their turn, the oldest always proceeding. Bounds ingest's memory by construction: about 3× this plus one largest body. Ordinary traffic (32 connections of 100-report arrays ≈ 2 MB) never reaches it.",
        ),
      parseThreads: z.coerce
        .number()
        .int()
        .min(0)
        .max(64)
        .default(DEFAULTS.ingest.parseThreads)
        .describe(
          "Threads (piscina, src/ingest/parse-pool.ts) that parse and validate large bodies off the event loop. `0`: none, everything on the event loop, which is faster on 2 cores, where threads compete with the event loop and the spool's writer thread (bench/RESULTS.md); more for pods with more cores and large bodies (log shippers posting big chunks).",
        ),
      parseThreadMinBytes: z.coerce
        .number()
        .int()
        .min(0)
        .default(DEFAULTS.ingest.parseThreadMinBytes)
        .describe('Bodies at least this large go to a parse thread, when there are some; smaller ones cost less than the hand-over.'),
      largeBodyGcBytes: z.coerce
        .number()
        .int()
        .min(0)
        .default(DEFAULTS.ingest.largeBodyGcBytes)
        .describe(
          'After this many bytes of large bodies (256 KiB or more each) have been answered, a major garbage collection is asked for, at most four times a second, as a task after the answer (src/large-body-gc.ts): their text and parsed values otherwise stay in the heap until V8 collects on its own, which under a storm of them costs ~100 MiB of RSS (bench/RESULTS.md). `0`: leave it to V8. Ordinary bodies never trigger it.',
        ),
      headersTimeoutMs: z.coerce
        .number()
        .int()
        .positive()
        .default(DEFAULTS.ingest.headersTimeoutMs)
        .describe('Request line and headers must arrive within this, or 408 and the connection closes: a slow, idle or greedy client cannot hold connections.'),
      requestTimeoutMs: z.coerce
        .number()
        .int()
        .positive()
        .default(DEFAULTS.ingest.requestTimeoutMs)
        .describe("The whole request, body included, must arrive within this, or 408 (Node's default: 300 s)."),
      keepAliveTimeoutMs: z.coerce
        .number()
        .int()
        .positive()
        .default(DEFAULTS.ingest.keepAliveTimeoutMs)
        .describe('An idle kept-alive connection is closed after this (longer than the 60 s idle timeout of common load balancers).'),
      maxHeaderBytes: z.coerce.number().int().min(1024).default(DEFAULTS.ingest.maxHeaderBytes).describe('Largest request line and headers together; more is 431.'),
      maxConnections: z.coerce.number().int().positive().default(DEFAULTS.ingest.maxConnections).describe('Connections open at once; more are closed on arrival.'),
      partialStatus: z.coerce
        .number()
        .pipe(z.union([z.literal(200), z.literal(202), z.literal(207)]))
        .default(DEFAULTS.ingest.partialStatus)
        .describe(
          'The status of an answer in which some items were refused (and quarantined): `207` with one result per item, or `200`/`202` for log shippers that re-post a whole chunk on anything else (Fluent Bit counts only 200–205 as success). `?partialStatus=` on the request wins.',
        ),
      skipPaths: z
        .string()
        .refine((text) => isRegex(text), 'must be a regular expression over the URL path, e.g. ^/(healthz|metrics)(/|$)')
        .default(DEFAULTS.ingest.skipPaths)
        .meta({
          description:
            'Interactions and gateway records whose URL path matches are not Open Finance calls (health checks, metrics): counted as skipped, neither reported nor quarantined. Gateway and interaction routes only; `none` skips nothing.',
          type: 'regular expression, or `none`',
        }),
      tokenFile: file.optional().meta({
        description:
          'An aggregator\'s (README, "Topologies"): a file of bearer tokens, one a line (16+ visible ASCII characters each, e.g. `openssl rand -hex 32`), one of which every ingest POST must carry (`Authorization: Bearer …`, compared in constant time) or get 401. Several lines let a token be rotated without a flag day; read again when it changes.',
        absent: 'none (no token asked)',
      }),
      tlsCertFile: file.optional().meta({
        description: 'Server certificate (PEM, chain allowed) of an HTTPS ingest; with `tlsKeyFile` (both or neither); read again when it changes.',
        absent: "none (plain HTTP, as on a pod's loopback)",
      }),
      tlsKeyFile: file.optional().describe('Its private key (PEM).'),
      clientCaFile: file.optional().meta({
        description:
          'With TLS: a client without a certificate this CA bundle signs is refused in the TLS handshake. Probes and scrapers use the admin listener, which asks for neither.',
        absent: 'none (no client certificate asked)',
      }),
    })
    .describe('The gateway-facing listener: ingest POST routes, answered once their reports are committed.')
    .prefault({}),
  forward: z
    .strictObject({
      url: url.optional().meta({
        description:
          "An agent's: the aggregator's ingest base URL (e.g. `https://pcm-aggregator.pcm.svc:8431`). Spooled reports go to its `POST /v1/reports` instead of the PCM, and no PCM URL, certificate or client_id is needed.",
        absent: 'none (deliver to the PCM)',
      }),
      tokenFile: file
        .optional()
        .describe(
          "A file holding the bearer token the aggregator asks for (its first line; the aggregator's `PCM_INGEST_TOKEN_FILE` holds the same). This, a client certificate, or both are required with `PCM_FORWARD_URL`; read again when it changes.",
        ),
      certFile: file.optional().describe('Client certificate (PEM) for an aggregator that asks for one (`https` only); with `keyFile`.'),
      keyFile: file.optional().describe('Its private key (PEM, unencrypted).'),
      caFile: file.optional().meta({
        description: "The CA bundle that signs the aggregator's server certificate. It replaces Node's bundled CAs, so only the institution's own CA is trusted.",
        absent: "Node's bundled CAs",
      }),
    })
    .describe(
      'An agent forwards its validated, spooled reports to another pcm-sidecar (an aggregator) instead of the PCM: no organisation certificate and no PCM URL on the agent (README, "Topologies").',
    )
    .prefault({}),
  spool: z
    .strictObject({
      path: file.default(DEFAULTS.spool.path).describe('The SQLite spool file.'),
      sync: z.enum(['full', 'normal']).default(DEFAULTS.spool.sync).describe('`full`: an answered report survives power loss. `normal`: it survives a process crash only.'),
      retainDeliveredMs: z.coerce
        .number()
        .int()
        .positive()
        .default(DEFAULTS.spool.retainDeliveredMs)
        .describe(
          'Delivered rows (accepted or discarded) are deleted after this long. Duplicates are recognised only among rows still kept; the PCM refuses reports older than 7 days, so a week and a day covers every resend it would take.',
        ),
      maxBytes: z.coerce
        .number()
        .int()
        .min(64 * 1024)
        .optional()
        .meta({ description: 'Largest spool file in bytes; when full, delivered rows are deleted first, then ingest answers 503.', absent: 'none (as large as the disk allows)' }),
      retainQuarantineMs: z.coerce
        .number()
        .int()
        .positive()
        .default(DEFAULTS.spool.retainQuarantineMs)
        .describe('Quarantined items are deleted after this long (logged with the count): time enough to notice, fix and replay them.'),
      quarantineMaxRows: z.coerce
        .number()
        .int()
        .positive()
        .default(DEFAULTS.spool.quarantineMaxRows)
        .describe(
          'Most items in quarantine. Past it (or past `quarantineMaxBytes`) the items first received longest ago are deleted (logged, counted in `pcm_sidecar_spool_quarantine_evicted_total`) until it is under 90 % of both caps, so a storm of refused traffic cannot fill the disk. Identical items are folded anyway.',
        ),
      quarantineMaxBytes: z.coerce
        .number()
        .int()
        .min(64 * 1024)
        .default(DEFAULTS.spool.quarantineMaxBytes)
        .describe('Most bytes (UTF-8) of item and problem text in quarantine; past it, as past `quarantineMaxRows`.'),
      dedupWindow: z.coerce
        .number()
        .int()
        .min(0)
        .max(100_000_000)
        .default(DEFAULTS.spool.dedupWindow)
        .describe(
          'Report keys remembered in memory for de-duplication (tables that grow with the keys held, up to 24 bytes a key: 24 MiB by default). A report whose key is among the last 500,000 to 1,000,000 stored is answered `duplicate`. What gateways re-send after a lost answer is seconds to minutes old; an older repeat is stored and sent again (a duplicate at the PCM). `0` turns it off.',
        ),
      maxPendingReports: z.coerce
        .number()
        .int()
        .positive()
        .default(DEFAULTS.spool.maxPendingReports)
        .describe(
          'Reports waiting to be sent (pending and in flight) past which ingest answers 503 with `Retry-After`, as it does when the spool is full: a long PCM outage fills the disk slowly and predictably rather than all at once. About 5 GB of spool at ~500 bytes a report; it recovers by itself as the backlog drains.',
        ),
      lateArrivalMs: z.coerce
        .number()
        .int()
        .positive()
        .default(DEFAULTS.spool.lateArrivalMs)
        .describe(
          "A report stored this long after its own timestamp is late (a log shipper catching up, a gateway back from an outage). Oldest first is arrival order, which is timestamp order for everything else; a late report is sent before the lane's oldest waiting report when its timestamp is older, so it reaches the PCM before its 7 days.",
        ),
    })
    .describe('The durable SQLite spool: reports until the PCM answered them, the quarantine of refused items.')
    .prefault({}),
  pcm: z
    .strictObject({
      apiUrl: url.optional().meta({ description: 'Report API base, e.g. `https://api.pcm.openfinancebrasil.org.br`.', absent: NOT_FORWARDING }),
      authUrl: url.optional().meta({ description: 'Token (auth) base, e.g. `https://auth.pcm.openfinancebrasil.org.br`; `/token/` is appended.', absent: NOT_FORWARDING }),
      caFile: file.optional().meta({ description: "An extra CA bundle (PEM) trusted for the PCM's servers, besides Node's bundled ones.", absent: "Node's bundled CAs" }),
    })
    .describe('Where the PCM is.')
    .prefault({}),
  organisations: z
    .array(organisationSchema)
    .min(1, 'at least one organisation is needed')
    .describe(
      'The organisations reported for, each with its credential. Several (a participant reporting for more than one organisationId) go in the file as a list; the `PCM_ORG_ID` group of variables fills the first.',
    ),
  opendataOrgId: z.uuid().optional().meta({ description: 'The organisation whose token sends opendata reports: one of `organisations`.', absent: 'the only organisation, when there is one' }),
  catalog: z
    .strictObject({
      file: file.optional().meta({ description: 'The endpoint catalogue file.', absent: 'the one shipped: `data/catalog/endpoints.json`' }),
    })
    .describe('The endpoint catalogue: which Open Finance endpoints are reported, and how.')
    .prefault({}),
  rules: z
    .strictObject({
      processTimespan: z
        .enum(['number', 'integer'])
        .default(DEFAULTS.rules.processTimespan)
        .describe("§13 item 4: `number` (PCM-current and release 2026C) or `integer` (v1.0.2/v3.1.0's int16)."),
      errorCodesAs: z
        .enum(['string', 'array'])
        .default(DEFAULTS.rules.errorCodesAs)
        .describe('§13 item 6: `additionalInfo.errorCodes` as one code, a `string` (changelog 23/01/2026), or an `array` (older texts).'),
      requireTokenId: z
        .union([z.boolean(), z.stringbool()])
        .default(DEFAULTS.rules.requireTokenId)
        .describe('A missing `additionalInfo.tokenId` where §4.5 wants one (private CLIENT reports, since 2025D) is a quality finding; `false`: not even that.'),
      maxAgeMs: z.coerce
        .number()
        .int()
        .positive()
        .default(DEFAULTS.rules.maxAgeMs)
        .describe('Older timestamps are refused, as the PCM refuses reports older than 7 days ("Report is too old").'),
      maxFutureMs: z.coerce
        .number()
        .int()
        .min(0)
        .default(DEFAULTS.rules.maxFutureMs)
        .describe('Timestamps further ahead are refused, as the PCM refuses those more than 5 minutes ahead of its clock (release 2025D).'),
      quality: z
        .enum(['send', 'refuse'])
        .default(DEFAULTS.rules.quality)
        .describe('Quality findings (src/report/rules.ts): `send` the report and show the finding, or `refuse` it like a discard.'),
      overrides: z
        .record(z.string(), z.enum(['refuse', 'send', 'ignore']))
        .default({})
        .meta({
          description:
            'Per rule id (`pcm-sidecar rules`, src/report/rules.ts): `refuse`, `send` or `ignore`. A rule whose breach leaves a report that cannot be built or sent takes only `refuse`.',
          type: 'object: rule id → `refuse` | `send` | `ignore`',
        }),
    })
    .describe('How reports are checked; `pcm-sidecar validate` reads the same `PCM_RULE_*` variables, so CI checks with the rules the sidecar uses.')
    .prefault({}),
  tokenId: z
    .strictObject({
      pepperFile: file.optional().meta({
        description:
          'A file holding the §4.5 pepper (16–64 bytes: printable text without its trailing newline, e.g. `openssl rand -hex 32`, or raw bytes as they are; src/config/pepper.ts). With it, an `accessToken` posted with an interaction becomes `additionalInfo.tokenId`.',
        absent: 'none (tokens are not hashed)',
      }),
    })
    .prefault({}),
  sender: z
    .strictObject({
      maxBatchSize: z.coerce.number().int().min(1).max(5000).default(DEFAULTS.sender.maxBatchSize).describe('Reports per PCM request (PCM limit: 5000).'),
      maxBatchBytes: z.coerce.number().int().min(1024).max(10_000_000).default(DEFAULTS.sender.maxBatchBytes).describe('Body bytes per PCM request (PCM limit: 10 MB).'),
      maxBatchDelayMs: z.coerce.number().int().min(0).default(DEFAULTS.sender.maxBatchDelayMs).describe('Longest wait for a batch to fill: a partly filled batch leaves after this long.'),
      maxConcurrentBatches: z.coerce
        .number()
        .int()
        .min(1)
        .max(64)
        .default(DEFAULTS.sender.maxConcurrentBatches)
        .describe('Batches in flight at once per lane (an organisation and a report API).'),
      laneStallMs: z.coerce
        .number()
        .int()
        .min(0)
        .default(DEFAULTS.sender.laneStallMs)
        .describe(
          'A lane with reports waiting and none answered by the PCM for this long is not ready (`PCM_LANE_STALLED` on `/readyz`). Keep it above `exportTimeoutMs` and `retryMaxDelayMs`, so one slow answer or one long backoff does not count; `0` turns it off.',
        ),
      exportTimeoutMs: z.coerce.number().int().positive().default(DEFAULTS.sender.exportTimeoutMs).describe('Whole-request timeout of a report POST (headers and body).'),
      connectTimeoutMs: z.coerce.number().int().positive().default(DEFAULTS.sender.connectTimeoutMs).describe('TCP and TLS connect timeout.'),
      retryInitialDelayMs: z.coerce
        .number()
        .int()
        .positive()
        .default(DEFAULTS.sender.retryInitialDelayMs)
        .describe('First retry delay; it doubles per failed attempt up to `retryMaxDelayMs`, with jitter (src/sender/backoff.ts).'),
      retryMaxDelayMs: z.coerce.number().int().positive().default(DEFAULTS.sender.retryMaxDelayMs).describe('Longest retry delay.'),
      maxRefusals: z.coerce
        .number()
        .int()
        .min(1)
        .default(DEFAULTS.sender.maxRefusals)
        .describe(
          'A batch refused this many times (400 or 422: a 4xx that waiting does not fix) is split to set the refused report apart; a report refused alone is recorded as discarded (a dead letter).',
        ),
    })
    .describe('Batches to the PCM: one lane per organisation and report API.')
    .prefault({}),
  rate: z
    .strictObject({
      fleetSize: z.coerce
        .number()
        .int()
        .min(1)
        .default(DEFAULTS.rate.fleetSize)
        .describe(
          `Sidecar processes that send for one participant at the same time: every replica, a rolling update's surge included. The PCM answers 429 above 300 requests/s for the whole participant, so each process gets \`fleetLimit\` / \`fleetSize\`. ${DEFAULTS.rate.fleetSize} by default: ${DEFAULTS.rate.fleetLimit / DEFAULTS.rate.fleetSize} requests/s each, which at full batches (5000) still carries ${(DEFAULTS.rate.fleetLimit / DEFAULTS.rate.fleetSize) * 5000} reports/s per process, and a fleet of ${DEFAULTS.rate.fleetSize} that starts together stays under 300/s.`,
        ),
      fleetLimit: z.coerce
        .number()
        .positive()
        .default(DEFAULTS.rate.fleetLimit)
        .describe("Requests/s the whole fleet may make: 80 % of the PCM's 300 per participant, the rest a margin for processes in step."),
      limit: z.coerce
        .number()
        .positive()
        .optional()
        .meta({
          description: 'PCM calls per second of this process, all lanes and kinds together (report POSTs, token requests, reconciliation GETs).',
          absent: `\`fleetLimit\` / \`fleetSize\` (${DEFAULTS.rate.fleetLimit / DEFAULTS.rate.fleetSize})`,
        }),
      burst: z.coerce
        .number()
        .int()
        .min(1)
        .default(DEFAULTS.rate.burst)
        .describe("Permits saved up while idle: calls that may leave at once. `1`: processes that go busy together cannot spike the participant's second."),
      decrease: z.coerce.number().gt(0).lt(1).default(DEFAULTS.rate.decrease).describe("A 429 multiplies the rate by this (AIMD's multiplicative decrease) …"),
      decreaseHoldMs: z.coerce
        .number()
        .int()
        .min(0)
        .default(DEFAULTS.rate.decreaseHoldMs)
        .describe('… at most once per this long: the PCM counts per second, so the 429s of one second are one overload.'),
      increase: z.coerce.number().gt(0).max(1).default(DEFAULTS.rate.increase).describe('Each 2xx adds back this share of the configured rate, up to it (additive increase).'),
      min: z.coerce
        .number()
        .positive()
        .default(DEFAULTS.rate.min)
        .describe(`The rate never falls below this many requests/s: one call every ${1 / DEFAULTS.rate.min} s, ${DEFAULTS.rate.min * 5000} reports/s at full batches.`),
    })
    .describe('The budget of PCM calls, shared by every lane and kind of call (README, "Rate budget").')
    .prefault({}),
  reconcile: z
    .strictObject({
      share: z.coerce
        .number()
        .min(0)
        .max(0.5)
        .default(DEFAULTS.reconcile.share)
        .describe('Share of the rate budget that reconciliation GETs (§9) may use at most: report delivery keeps the rest even when reconciliation has a backlog. `0` turns reconciliation off.'),
      delayMs: z.coerce
        .number()
        .int()
        .min(0)
        .default(DEFAULTS.reconcile.delayMs)
        .describe('A report is first asked about this long after the PCM accepted it: its counterpart needs time to report.'),
      retryMs: z.coerce
        .number()
        .int()
        .positive()
        .default(DEFAULTS.reconcile.retryMs)
        .describe("UNPAIRED reports (and ones not reconciled or not visible yet: ACCEPTED, NOT_FOUND) are asked again after this: the PCM's Fechamento re-runs pairing."),
      errorRetryMs: z.coerce.number().int().positive().default(DEFAULTS.reconcile.errorRetryMs).describe('A GET that got no status (network, 5xx, 429, 401) is tried again after this.'),
      stopAfterMs: z.coerce
        .number()
        .int()
        .positive()
        .default(DEFAULTS.reconcile.stopAfterMs)
        .describe("No ask later than this after the report's timestamp: the PCM's D+7 window (§10)."),
      retainMs: z.coerce
        .number()
        .int()
        .positive()
        .default(DEFAULTS.reconcile.retainMs)
        .describe('Entries of days (BRT) older than this are deleted from the reconciliation file, which stays bounded. At least `stopAfterMs`: a report is kept while it is still asked about.'),
      maxEntries: z.coerce
        .number()
        .int()
        .min(1)
        .default(DEFAULTS.reconcile.maxEntries)
        .describe(
          'Most reports followed at once (≈ 480 bytes each in the file: ~100 MB); it also bounds the first asks planned per second (÷ the retention). The defaults follow ~50,000 over the 8 days kept; a large budget reaches the cap, and while full nothing more is sampled (the day\'s sample rate shows it).',
        ),
      reaskReserve: z.coerce
        .number()
        .min(0)
        .max(0.9)
        .default(DEFAULTS.reconcile.reaskReserve)
        .describe('When sampling, this part of the GET capacity is kept for asking UNPAIRED reports again; the rest plans first asks.'),
      sampleIntervalMs: z.coerce
        .number()
        .int()
        .min(10)
        .default(DEFAULTS.reconcile.sampleIntervalMs)
        .describe('The sample rate is recomputed from the accepted rate and the budget this often (old days pruned too).'),
      flushMs: z.coerce
        .number()
        .int()
        .min(10)
        .default(DEFAULTS.reconcile.flushMs)
        .describe('Sampled reports and answers are written together this often: a crash loses at most this much of them.'),
      timeoutMs: z.coerce.number().int().positive().default(DEFAULTS.reconcile.timeoutMs).describe('Timeout of one GET.'),
      concurrency: z.coerce.number().int().min(1).max(64).default(DEFAULTS.reconcile.concurrency).describe('GETs in flight at once.'),
      pageSize: z.coerce.number().int().min(1).max(10_000).default(DEFAULTS.reconcile.pageSize).describe('Due reports read from the file per pass.'),
      statusListed: z.coerce
        .number()
        .int()
        .min(0)
        .max(1000)
        .default(DEFAULTS.reconcile.statusListed)
        .describe('Divergent reports (UNPAIRED, PAIRED_INCONSISTENT) listed in `/v1/status`, last answered first; `0`: none.'),
      path: file.optional().meta({ description: "Reconciliation's SQLite file.", absent: '`<spool path>.reconcile.db`' }),
    })
    .refine((r) => r.retainMs >= r.stopAfterMs, { message: 'retainMs must be at least stopAfterMs: a report is kept while it is still asked about', path: ['retainMs'] })
    .describe('Asking the PCM, for a sample of accepted reports, whether their counterpart reported them too (README, "Reconciliation").')
    .prefault({}),
  token: z
    .strictObject({
      requestFormat: z
        .enum(['json', 'form'])
        .default(DEFAULTS.token.requestFormat)
        .describe('The token request body: `json` as in the integration manual (seed 000), or `form`-encoded as in the v3.1.0 spec.'),
      refreshMarginMs: z.coerce
        .number()
        .int()
        .min(0)
        .default(DEFAULTS.token.refreshMarginMs)
        .describe('Refresh this long before `expires_in` runs out (capped at a tenth of the lifetime).'),
      timeoutMs: z.coerce.number().int().positive().default(DEFAULTS.token.timeoutMs).describe('Timeout of a token request.'),
      credentialRetryMs: z.coerce
        .number()
        .int()
        .positive()
        .default(DEFAULTS.token.credentialRetryMs)
        .describe('How often an unusable certificate or key is read again, so mounting it later needs no restart.'),
    })
    .describe("The organisations' bearer tokens, over mTLS.")
    .prefault({}),
  shutdown: z
    .strictObject({
      graceMs: z.coerce
        .number()
        .int()
        .positive()
        .default(DEFAULTS.shutdown.graceMs)
        .describe('SIGTERM to exit at most, whatever the PCM, the spool or stdout do (also `emulate` and `demo`): past it, the stop is cut short and the exit is 1.'),
    })
    .prefault({}),
  log: z
    .strictObject({
      level: z
        .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
        .default(DEFAULTS.log.level)
        .describe(
          'The pino level of the JSON lines on stdout. `info`: one line per batch answered (`batch answered`) besides what needs attention; `debug` adds a line per refused ingest item and per token fetched; `trace` one per ingest request, batch attempt and token reuse (README, "Logs"). Secrets never reach a line.',
        ),
    })
    .prefault({}),
  alerts: z
    .strictObject({
      storePath: file.optional().meta({ description: 'The notification store (SQLite, src/alerts/store.ts), next to the spool and apart from its schema.', absent: '`<spool path>.alerts.db`' }),
      aggregateMs: z.coerce
        .number()
        .int()
        .min(0)
        .default(DEFAULTS.alerts.aggregateMs)
        .describe('Events of one kind (and lane, organisation, day, state, reason) within this long become one notification with their count; `0`: one each.'),
      sampleSize: z.coerce.number().int().min(0).max(100).default(DEFAULTS.alerts.sampleSize).describe('fapiInteractionIds a notification names at most, the first ones of its burst.'),
      retryIntervalMs: z.coerce
        .number()
        .int()
        .positive()
        .default(DEFAULTS.alerts.retryIntervalMs)
        .describe('A notification its receiver did not answer as expected is sent again after this long (seed 002: every 5 minutes) …'),
      retryWindowMs: z.coerce
        .number()
        .int()
        .min(0)
        .default(DEFAULTS.alerts.retryWindowMs)
        .describe('… until this long after it was made (seed 002: 24 hours); then it is given up (`failed`, logged, counted).'),
      timeoutMs: z.coerce.number().int().positive().default(DEFAULTS.alerts.timeoutMs).describe('Whole-request timeout of a webhook POST and of a token request.'),
      backlogMaxAgeMs: z.coerce
        .number()
        .int()
        .min(0)
        .default(DEFAULTS.alerts.backlogMaxAgeMs)
        .describe('`SPOOL.BACKLOG_HIGH` when the oldest report not yet answered by the PCM waited longer than this; `0`: off.'),
      backlogMaxReports: z.coerce
        .number()
        .int()
        .min(0)
        .default(DEFAULTS.alerts.backlogMaxReports)
        .describe('… or when more reports than this wait (pending and in flight); `0`: off.'),
      checkIntervalMs: z.coerce.number().int().positive().default(DEFAULTS.alerts.checkIntervalMs).describe('How often the backlog is compared with those thresholds.'),
      pageMax: z.coerce
        .number()
        .int()
        .min(1)
        .max(10_000)
        .default(DEFAULTS.alerts.pageMax)
        .describe('The largest page of `GET /v1/notifications` (its `acceptRange`); a larger `_limit` is 412 (seed 003).'),
      retainMs: z.coerce.number().int().positive().default(DEFAULTS.alerts.retainMs).describe('Delivered and failed notifications are deleted this long after they ended.'),
      subscriptions: z
        .array(webhookSubscriptionSchema)
        .default([...DEFAULTS.alerts.subscriptions])
        .describe(
          'Webhook subscriptions (README, "Alerts (webhooks)"); none: no notification is made. The `PCM_ALERTS_URL` group of variables fills the first; more go in the file.',
        ),
    })
    .describe('Notifications of events to webhook receivers (seed 002).')
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

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
export type Organisation = z.infer<typeof organisationSchema>;
