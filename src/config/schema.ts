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

const configBase = z.strictObject({
  ingest: z
    .strictObject({
      host: z.string().min(1).default(DEFAULTS.ingest.host),
      port: z.coerce.number().int().min(0).max(65535).default(DEFAULTS.ingest.port),
      maxBodyBytes: z.coerce.number().int().positive().default(DEFAULTS.ingest.maxBodyBytes),
      maxItemsPerRequest: z.coerce.number().int().positive().default(DEFAULTS.ingest.maxItemsPerRequest),
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

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
export type Organisation = z.infer<typeof organisationSchema>;
