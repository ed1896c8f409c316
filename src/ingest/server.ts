import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Server as TlsServer } from 'node:https';
import type { Logger } from 'pino';
import { DEFAULTS } from '../config/defaults.js';
import { BacklogFullError, IngestError, SpoolFullError } from '../errors.js';
import type { BuildContext } from '../report/build.js';
import type { ReportProblem } from '../report/problem.js';
import type { ValidationContext } from '../report/validate.js';
import type { Spool, WriteRequest } from '../spool/spool.js';
import { BodyBudget, type BudgetTicket } from './body-budget.js';
import { LARGE_BODY_GC_INTERVAL_MS, LARGE_BODY_MIN_BYTES, LargeBodyGc } from '../large-body-gc.js';
import type { Denial, IngestTls } from './auth.js';
import { bodyFormatOf, parseBody, readBody, type BodyFormat } from './body.js';
import { closeListener, createListener, type ListenerLimits } from './listener.js';
import { checkItems, fullResults, type CheckedBody, type ItemResult } from './check-items.js';
import type { ParseOutcome, ParseTask } from './parse-task.js';
import { keepableText, problemsText, quarantineText, type ItemProblem } from './quarantine-view.js';
import { redactUrl } from './redact.js';
import type { IngestMetrics } from './metrics.js';
import { ingestRoutes, type ToReport } from './routes.js';

export type PartialStatus = 200 | 202 | 207;

/** What the answer to one ingest request says about the request itself (and its trace line). */
interface AnsweredRequest {
  route: string;
  query: URLSearchParams;
  /** Remote address, method and URL (secrets in the query redacted). */
  source: string;
  bytes: number;
  /** process.hrtime.bigint() when the request arrived: the same start as its duration metric. */
  startedAt: bigint;
}

/**
 * The gateway-facing HTTP endpoint. Every POST route answers only after its reports are committed:
 * 202 when every item was stored (or already was), 207 (or PCM_INGEST_PARTIAL_STATUS) with one result per item
 * when some were refused. Quality findings (src/report/rules.ts) do not refuse: they come back as `warnings`.
 *
 *   POST /v1/reports              PCM reports in the PCM's own field names
 *   POST /v1/interactions         what a gateway knows about a call (src/report/interaction.ts)
 *   POST /v1/gateways/kong        Kong http-log payloads          (?role=CLIENT|SERVER as default role)
 *   POST /v1/gateways/envoy       Envoy/Istio JSON access log lines
 *   POST /v1/gateways/nginx       nginx JSON access log lines (escape=json), as Fluent Bit / Vector ship them
 */

export interface IngestOptions {
  spool: Spool;
  /** The validation context as of now (the clock moves; the catalogue may be reloaded). */
  validation: () => ValidationContext;
  build: BuildContext;
  maxBodyBytes: number;
  maxItemsPerRequest: number;
  /** Largest report the sender can put in a PCM request; a larger one could never be sent. */
  maxReportBytes: number;
  /** The status of an answer in which some items were refused (PCM_INGEST_PARTIAL_STATUS); 207 by default. */
  partialStatus?: PartialStatus;
  /** Interaction URL paths that are not Open Finance calls (PCM_INGEST_SKIP_PATHS); null skips nothing. */
  skipPaths?: RegExp | null;
  log: Logger;
  metrics: IngestMetrics;
  /** Extra read-only GET routes (the sidecar's: /healthz) answered as JSON or text, given the query string. */
  routes?: Record<string, (query: URLSearchParams) => Promise<RouteAnswer> | RouteAnswer>;
  /** Told, per request, the stored reports that carry quality findings (alerts); not called when none does. */
  onQualityFindings?: (found: QualityFindings) => void;
  /** Parse threads for bodies of at least `minBytes` (parse-pool.ts); none: every body on the event loop. */
  parsePool?: { minBytes: number; run(task: ParseTask): Promise<ParseOutcome> } | null;
  /** Bytes of bodies held at once (body-budget.ts); DEFAULTS.ingest.maxInflightBytes when not given. */
  maxInflightBytes?: number | undefined;
  /** Bytes of large bodies answered between two asked-for collections (large-body-gc.ts); DEFAULTS when not given, 0 off. */
  largeBodyGcBytes?: number | undefined;
  /** Reports waiting to be sent past which ingest answers 503 (PCM_SPOOL_MAX_PENDING_REPORTS); none: no limit. */
  maxPendingReports?: number | undefined;
  /** Timeouts and connection limits of the listener (PCM_INGEST_*); DEFAULTS.ingest for those not given. */
  listener?: Partial<ListenerLimits>;
  /** TLS on the listener (PCM_INGEST_TLS_*); none: plain HTTP. */
  tls?: IngestTls | null;
  /**
   * Who may post (auth.ts): asked before every ingest route and every extra route not in `openRoutes`; a denial is
   * answered as it is, nothing of the body parsed, stored or quarantined. None: everyone may.
   */
  guard?: { authorize(req: IncomingMessage): Denial | null } | null;
  /** Extra routes answered without the guard: health, for probes (readiness and metrics are on the admin listener). */
  openRoutes?: ReadonlySet<string>;
}

/** What an extra route answers; `headers` are added to the answer (a listing's paging headers). */
export interface RouteAnswer {
  status: number;
  body: unknown;
  contentType?: string;
  headers?: Record<string, string>;
}

/** Reports of one request stored with quality findings: how many, the findings per rule, their fapiInteractionIds. */
export interface QualityFindings {
  reports: number;
  byRule: Record<string, number>;
  fapiInteractionIds: string[];
}

/**
 * A body refused as a whole, as the quarantine keeps it: when it is JSON after all (too many items, too deep), its
 * secrets are redacted by structure, wherever and however they are written; otherwise by pattern.
 */
function refusedBodyText(body: Buffer): string {
  const text = body.toString('utf8');
  try {
    return quarantineText(JSON.parse(text) as unknown);
  } catch {
    return keepableText(text);
  }
}

export type { ItemProblem, ItemResult, ListenerLimits };

/** A body's reports and refused items, for the spool; the body keeps none of them. */
function handOver(checked: CheckedBody): WriteRequest {
  const { reports, rejected } = checked;
  checked.reports = [];
  checked.rejected = [];
  return { reports, rejected };
}

/** `?partialStatus=` (or PCM_INGEST_PARTIAL_STATUS): the status of an answer in which some items were refused. */
function partialStatusOf(query: URLSearchParams, fallback: PartialStatus): PartialStatus {
  const asked = Number(query.get('partialStatus'));
  return asked === 200 || asked === 202 || asked === 207 ? asked : fallback;
}

export interface IngestServer {
  server: Server | TlsServer;
  /** Swaps the reports' build context (a new catalogue, new rule settings: SIGHUP) and, when given, the parse threads. */
  setRules(build: BuildContext, pool?: IngestOptions['parsePool']): void;
  /** Swaps the listener's certificate, key and client CA for new connections (a rotated Secret). */
  setTls(tls: IngestTls): void;
  /**
   * Stops accepting; resolves once every request in flight has been answered and its connection closed, or after
   * `graceMs`, when the connections still open are closed.
   */
  close(graceMs: number): Promise<void>;
}

export function createIngestServer(options: IngestOptions): IngestServer {
  const { spool, validation, maxBodyBytes, maxItemsPerRequest, maxReportBytes, log, metrics } = options;
  const partialStatus = options.partialStatus ?? 207;
  let closing = false;
  let lastBacklogLog = 0;

  function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    const text = JSON.stringify(body);
    // Once closing, a kept-alive connection closes after its answer: a connected gateway cannot hold the stop open.
    if (closing) res.shouldKeepAlive = false;
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
    res.end(text);
  }

  let routes = ingestRoutes(options.build, { skipPaths: options.skipPaths ?? null });
  let parsePool = options.parsePool ?? null;

  /** A body refused as a whole is still recorded in quarantine: the text when it was read, the reason always. */
  async function recordRefusedBody(err: IngestError, body: Buffer | null, route: string, source: string): Promise<void> {
    const problems = problemsText([{ field: '', rule: err.code, message: err.message }]);
    try {
      await spool.write({ reports: [], rejected: [{ source, route, item: body ? refusedBodyText(body) : '', problems }] });
      metrics.items.inc({ route, outcome: 'rejected' });
    } catch (writeErr) {
      log.error({ err: String(writeErr), code: err.code }, 'could not record a refused body in quarantine');
    }
  }

  const budget = new BodyBudget(options.maxInflightBytes ?? DEFAULTS.ingest.maxInflightBytes);
  const largeBodies = new LargeBodyGc({
    minBodyBytes: LARGE_BODY_MIN_BYTES,
    bytes: options.largeBodyGcBytes ?? DEFAULTS.ingest.largeBodyGcBytes,
    intervalMs: LARGE_BODY_GC_INTERVAL_MS,
  });

  /** One ingest request, its bytes charged to the budget until it is answered or fails. */
  async function ingest(req: IncomingMessage, res: ServerResponse, route: string, toReport: ToReport, query: URLSearchParams, startedAt: bigint): Promise<void> {
    const ticket = budget.ticket();
    try {
      await ingestBody(req, res, route, toReport, query, ticket, startedAt);
    } finally {
      ticket.release();
      if (largeBodies.answered(ticket.bytes)) metrics.largeBodyCollections.inc();
    }
  }

  async function ingestBody(
    req: IncomingMessage,
    res: ServerResponse,
    route: string,
    toReport: ToReport,
    query: URLSearchParams,
    ticket: BudgetTicket,
    startedAt: bigint,
  ): Promise<void> {
    // Refused before the body is read: a gateway retries later, nothing of this request was taken.
    if (options.maxPendingReports !== undefined && spool.undelivered() >= options.maxPendingReports) {
      throw new BacklogFullError(`the backlog holds ${options.maxPendingReports} reports or more (PCM_SPOOL_MAX_PENDING_REPORTS); nothing from this request was stored`);
    }
    const source = `${req.socket.remoteAddress ?? 'unknown'} ${req.method} ${redactUrl(req.url ?? '/')}`;
    let body: Buffer | null = null;
    let checked: CheckedBody;
    try {
      const format = bodyFormatOf(req.headers['content-type']);
      body = await readBody(req, maxBodyBytes, ticket);
      metrics.receivedBytes.inc({ route }, body.length);
      const pool = parsePool;
      if (pool && body.length >= pool.minBytes) {
        // A large body is parsed and validated on a parse thread, with the same rules (parse-worker.ts); if the
        // thread fails (it crashed, it could not start), the event loop does it, as without threads.
        const outcome = await pool.run({ body, format, route, query: query.toString(), source, maxReportBytes, maxItemsPerRequest }).catch((err: unknown) => {
          log.warn({ err: String(err) }, 'a parse thread failed; this body is parsed on the event loop');
          return null;
        });
        if (outcome !== null) {
          metrics.parseThreadBodies.inc();
          if ('refused' in outcome) throw new IngestError(outcome.refused.code, outcome.refused.status, outcome.refused.message);
          return await answer(res, { route, query, source, bytes: body.length, startedAt }, outcome.checked);
        }
      }
      checked = parseAndCheck(body, format, toReport, query, { source, route, maxReportBytes });
    } catch (err) {
      if (err instanceof IngestError) await recordRefusedBody(err, body, route, source);
      throw err;
    }
    await answer(res, { route, query, source, bytes: body.length, startedAt }, checked);
  }

  /**
   * Parses and checks a body on the event loop. Apart from ingestBody so that the parsed items are never held by its
   * suspended frame while the commit is awaited: they die young, where collecting them costs least.
   */
  function parseAndCheck(body: Buffer, format: BodyFormat, toReport: ToReport, query: URLSearchParams, where: { source: string; route: string; maxReportBytes: number }): CheckedBody {
    const items = parseBody(body, format);
    if (items.length > maxItemsPerRequest) {
      throw new IngestError('PCM_INGEST_TOO_MANY_ITEMS', 413, `Payload Too Large: ${items.length} items, the limit is ${maxItemsPerRequest}`);
    }
    return checkItems(items, toReport, validation(), query, where);
  }

  /** Stores what a body's items became and answers the gateway with one result per item where needed. */
  async function answer(res: ServerResponse, request: AnsweredRequest, checked: CheckedBody): Promise<void> {
    const { route, query, source } = request;
    const { notable, skipped, warned } = checked;
    const stored = checked.reports.length;
    const refused = checked.rejected.length;
    // The reports and refused items are handed over and let go: from here they live only in the writer's copy, so a
    // body waiting for its commit keeps little in the young generation for the collector to copy and promote.
    const outcome = stored + refused > 0 ? await spool.write(handOver(checked)) : [];
    let duplicates = 0;
    for (const o of outcome) if (o === 'duplicate') duplicates++;
    const found: QualityFindings = { reports: 0, byRule: {}, fapiInteractionIds: [] };
    for (const { report, repairs, rules, fapiInteractionId } of notable) {
      if (outcome[report] === 'duplicate') continue;
      for (const kind of repairs) metrics.repairs.inc({ kind });
      if (rules.length === 0) continue;
      for (const rule of rules) {
        metrics.qualityFindings.inc({ rule });
        found.byRule[rule] = (found.byRule[rule] ?? 0) + 1;
      }
      found.reports++;
      if (fapiInteractionId) found.fapiInteractionIds.push(fapiInteractionId);
    }
    if (found.reports > 0) {
      try {
        options.onQualityFindings?.(found);
      } catch (err) {
        // The reports are stored: a listener's fault must not turn this answer into a 500.
        log.error({ err: String(err) }, 'the quality-findings listener failed');
      }
    }
    const accepted = stored - duplicates;
    metrics.items.inc({ route, outcome: 'accepted' }, accepted);
    metrics.items.inc({ route, outcome: 'duplicate' }, duplicates);
    metrics.items.inc({ route, outcome: 'rejected' }, refused);
    metrics.items.inc({ route, outcome: 'skipped' }, skipped);
    const counts = { accepted, duplicates, warnings: warned, ...(skipped > 0 ? { skipped } : {}) };
    let status = 202;
    if (refused === 0) {
      // Items are listed only when one has something to say (warnings, skips); a clean answer stays small.
      send(res, status, warned + skipped > 0 ? { ...counts, results: fullResults(checked, outcome) } : counts);
    } else {
      log.info({ rejected: refused, source }, 'ingest refused items; kept in quarantine');
      if (log.isLevelEnabled('debug')) logRefusedItems(route, source, checked.results);
      status = partialStatusOf(query, partialStatus);
      send(res, status, { ...counts, rejected: refused, results: fullResults(checked, outcome) });
    }
    log.trace(
      { route, source, bytes: request.bytes, items: checked.items, accepted, duplicates, rejected: refused, skipped, warned, status, ms: Number((process.hrtime.bigint() - request.startedAt) / 1_000_000n) },
      'ingest: request answered',
    );
  }

  /** One line per refused item, with what refused it as the answer says it: fields and rules, values redacted (slim()). */
  function logRefusedItems(route: string, source: string, results: readonly ItemResult[]): void {
    for (const result of results) {
      if (result.status !== 'rejected') continue;
      log.debug({ route, source, index: result.index, errors: result.errors }, 'ingest: item refused');
    }
  }

  /** Answers one request; an ingest route's answer is timed by route and status (a client gone before it is not). */
  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const startedAt = process.hrtime.bigint();
    const url = targetOf(req);
    // A target such as `//` or `//host:99999/` is no URL: answered here, or the rejection would go unhandled.
    if (url === null) return send(res, 400, { error: 'Bad Request: the request target is not a path' });
    const toReport = routes[url.pathname];
    await respond(req, res, url, toReport, startedAt);
    if (toReport && res.headersSent) metrics.answered(url.pathname, res.statusCode, startedAt);
  }

  async function respond(req: IncomingMessage, res: ServerResponse, url: URL, toReport: ToReport | undefined, startedAt: bigint): Promise<void> {
    const path = url.pathname;
    try {
      const guarded = toReport !== undefined || (options.routes?.[path] !== undefined && !options.openRoutes?.has(path));
      const denied = guarded ? (options.guard?.authorize(req) ?? null) : null;
      if (denied) {
        log.debug({ remote: req.socket.remoteAddress, path, err: denied.error }, 'ingest: request refused, not authorised');
        return send(res, denied.status, { error: denied.error, code: denied.code }, denied.headers);
      }
      if (toReport) {
        if (req.method !== 'POST') return send(res, 405, { error: 'Method Not Allowed' }, { allow: 'POST' });
        return await ingest(req, res, path, toReport, url.searchParams, startedAt);
      }
      const route = req.method === 'GET' ? options.routes?.[path] : undefined;
      if (route) {
        const { status, body, contentType, headers } = await route(url.searchParams);
        if (contentType) {
          if (closing) res.shouldKeepAlive = false;
          res.writeHead(status, { ...headers, 'content-type': contentType });
          return void res.end(String(body));
        }
        return send(res, status, body, headers);
      }
      send(res, 404, { error: 'Not Found' });
    } catch (err) {
      if (err instanceof IngestError) {
        // Stop reading a body we refused, and close so the client does not keep streaming it.
        if (err.status === 413) res.setHeader('connection', 'close');
        log.debug({ route: path, status: err.status, code: err.code, err: err.message }, 'ingest: body refused');
        return send(res, err.status, { error: err.message, code: err.code });
      }
      if (err instanceof BacklogFullError) {
        // Every request says so while it lasts: one line per 10 s is enough.
        if (Date.now() - lastBacklogLog > 10_000) {
          lastBacklogLog = Date.now();
          log.warn({ code: err.code }, err.message);
        }
        res.setHeader('connection', 'close');
        return send(res, 503, { error: err.message, code: err.code }, { 'retry-after': '5' });
      }
      if (err instanceof SpoolFullError) {
        log.error({ code: err.code }, err.message);
        return send(res, 503, { error: err.message, code: err.code }, { 'retry-after': '5' });
      }
      if (clientGone(err, req)) return void log.debug({ err: String(err), path }, 'ingest: the client went away before its request was read; nothing stored');
      log.error({ err }, 'ingest failed');
      send(res, 500, { error: 'internal error; nothing from this request was stored' });
    }
  }

  const server = createListener({ name: 'ingest', maxConnectionsSetting: 'PCM_INGEST_MAX_CONNECTIONS' }, options.listener ?? {}, log, options.tls ?? null, (req, res) => {
    void handle(req, res);
  });
  return {
    server,
    setRules(build, pool) {
      // Requests under way keep the routes they started with; the next ones get these.
      routes = ingestRoutes(build, { skipPaths: options.skipPaths ?? null });
      if (pool !== undefined) parsePool = pool;
    },
    setTls(tls) {
      if ('setSecureContext' in server) server.setSecureContext({ cert: tls.cert, key: tls.key, ca: tls.ca });
    },
    async close(graceMs) {
      closing = true;
      await closeListener(server, graceMs);
    },
  };
}

/** The request target as a URL (origin-form or absolute-form), or null when it is not one. */
function targetOf(req: IncomingMessage): URL | null {
  try {
    return new URL(req.url ?? '/', 'http://ingest');
  } catch {
    return null;
  }
}

/** The client went away while its request was read (a reset, an abort, or closed for a timeout): no one to answer. */
function clientGone(err: unknown, req: IncomingMessage): boolean {
  const code = err instanceof Error ? (err as NodeJS.ErrnoException).code : undefined;
  const aborted = code === 'ECONNRESET' || code === 'ERR_STREAM_PREMATURE_CLOSE' || (err instanceof Error && err.message === 'aborted');
  return aborted && (req.destroyed || req.socket.destroyed);
}
