import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { IngestError, SpoolFullError } from '../errors.js';
import type { Metrics } from '../metrics.js';
import type { BuildContext } from '../report/build.js';
import type { ReportProblem } from '../report/problem.js';
import { spoolEntry, type ValidationContext, type ValidationResult } from '../report/validate.js';
import type { NewReport, RejectedItem, Spool } from '../spool/spool.js';
import { bodyFormatOf, parseBody, readBody, type BodyItem } from './body.js';
import { ingestRoutes, type ToReport } from './routes.js';

/**
 * The gateway-facing HTTP endpoint. Every POST route answers only after its reports are committed:
 * 202 when every item was stored (or already was), 207 with one result per item when some were refused.
 *
 *   POST /v1/reports              PCM reports in the PCM's own field names
 *   POST /v1/interactions         what a gateway knows about a call (src/report/interaction.ts)
 *   POST /v1/gateways/kong        Kong http-log payloads          (?role=CLIENT|SERVER as default role)
 *   POST /v1/gateways/envoy       Envoy/Istio JSON access log lines
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
  log: Logger;
  metrics: Metrics;
  /** Extra read-only routes (health, status) answered as JSON or text. */
  routes?: Record<string, () => Promise<{ status: number; body: unknown; contentType?: string }> | { status: number; body: unknown; contentType?: string }>;
}

export type ItemResult =
  | { index: number; status: 'accepted' | 'duplicate'; repairs?: string[] }
  | { index: number; status: 'rejected'; errors: ReportProblem[] };

const MAX_PROBLEMS_PER_ITEM = 20;
/** Quarantine keeps at most this much of one refused item, so refused traffic cannot crowd out the spool. */
const MAX_QUARANTINED_CHARS = 64 * 1024;

function keepable(text: string): string {
  return text.length > MAX_QUARANTINED_CHARS ? `${text.slice(0, MAX_QUARANTINED_CHARS)}… [cut: ${text.length} characters received]` : text;
}

const MAX_VALUE_CHARS = 200;

/** Problems as the gateway sees them: at most 20 per item, long values cut, so an answer stays small. */
function slim(problems: ReportProblem[]): ReportProblem[] {
  return problems.slice(0, MAX_PROBLEMS_PER_ITEM).map((p) => {
    if (p.value === undefined) return p;
    const text = typeof p.value === 'string' ? p.value : JSON.stringify(p.value) ?? String(p.value);
    return text.length > MAX_VALUE_CHARS ? { ...p, value: `${text.slice(0, MAX_VALUE_CHARS)}… (${text.length} characters)` } : p;
  });
}

/** A report larger than one PCM request could never be sent: refuse it now rather than hold it forever. */
function tooLarge(result: ValidationResult, maxBytes: number): ValidationResult {
  if (!result.ok) return result;
  const bytes = Buffer.byteLength(result.json);
  if (bytes <= maxBytes) return result;
  return { ok: false, problems: [{ field: '', rule: 'too_large', message: `Report too large: ${bytes} bytes; a PCM request holds at most ${maxBytes}` }] };
}

export interface IngestServer {
  server: Server;
  /**
   * Stops accepting; resolves once every request in flight has been answered and its connection closed, or after
   * `graceMs`, when the connections still open are closed.
   */
  close(graceMs: number): Promise<void>;
}

export function createIngestServer(options: IngestOptions): IngestServer {
  const { spool, validation, maxBodyBytes, maxItemsPerRequest, maxReportBytes, log, metrics } = options;
  let closing = false;

  function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    const text = JSON.stringify(body);
    // Once closing, a kept-alive connection closes after its answer: a connected gateway cannot hold the stop open.
    if (closing) res.shouldKeepAlive = false;
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
    res.end(text);
  }

  const routes = ingestRoutes(options.build);

  /** A body refused as a whole is still recorded in quarantine: the text when it was read, the reason always. */
  async function recordRefusedBody(err: IngestError, body: Buffer | null, route: string, source: string): Promise<void> {
    const problems = JSON.stringify([{ field: '', rule: err.code, message: err.message }]);
    try {
      await spool.write({ reports: [], rejected: [{ source, route, item: body ? keepable(body.toString('utf8')) : '', problems }] });
      metrics.ingestItems.inc({ route, outcome: 'rejected' });
    } catch (writeErr) {
      log.error({ err: String(writeErr), code: err.code }, 'could not record a refused body in quarantine');
    }
  }

  async function ingest(req: IncomingMessage, res: ServerResponse, route: string, toReport: ToReport, query: URLSearchParams): Promise<void> {
    const source = `${req.socket.remoteAddress ?? 'unknown'} ${req.method} ${req.url}`;
    let body: Buffer | null = null;
    let items: BodyItem[];
    try {
      const format = bodyFormatOf(req.headers['content-type']);
      body = await readBody(req, maxBodyBytes);
      items = parseBody(body, format);
      if (items.length > maxItemsPerRequest) {
        throw new IngestError('PCM_INGEST_TOO_MANY_ITEMS', 413, `Payload Too Large: ${items.length} items, the limit is ${maxItemsPerRequest}`);
      }
    } catch (err) {
      if (err instanceof IngestError) await recordRefusedBody(err, body, route, source);
      throw err;
    }
    const context = validation();

    const reports: NewReport[] = [];
    const rejected: RejectedItem[] = [];
    const results: ItemResult[] = [];
    const storedAt: number[] = [];
    items.forEach((item, index) => {
      if (!item.ok) {
        const errors = [{ field: '', rule: 'json', message: `Invalid payload format: ${item.error}` }];
        results.push({ index, status: 'rejected', errors });
        rejected.push({ source, route, item: keepable(item.text), problems: JSON.stringify(errors) });
        return;
      }
      const checked = tooLarge(toReport(item.value, context, query), maxReportBytes);
      if (!checked.ok) {
        const errors = slim(checked.problems);
        results.push({ index, status: 'rejected', errors });
        rejected.push({ source, route, item: keepable(JSON.stringify(item.value)), problems: JSON.stringify(errors) });
        return;
      }
      storedAt.push(results.length);
      results.push({ index, status: 'accepted', ...(checked.repairs.length > 0 ? { repairs: checked.repairs } : {}) });
      reports.push(spoolEntry(checked));
    });

    const outcome = reports.length + rejected.length > 0 ? await spool.write({ reports, rejected }) : [];
    let duplicates = 0;
    outcome.forEach((o, i) => {
      const at = storedAt[i] as number;
      if (o === 'duplicate') {
        duplicates++;
        results[at] = { index: (results[at] as ItemResult).index, status: 'duplicate' };
      } else {
        for (const kind of reports[i]?.repairs ?? []) metrics.repairs.inc({ kind });
      }
    });
    const accepted = reports.length - duplicates;
    metrics.ingestItems.inc({ route, outcome: 'accepted' }, accepted);
    metrics.ingestItems.inc({ route, outcome: 'duplicate' }, duplicates);
    metrics.ingestItems.inc({ route, outcome: 'rejected' }, rejected.length);
    if (rejected.length === 0) {
      send(res, 202, { accepted, duplicates });
    } else {
      log.info({ rejected: rejected.length, source }, 'ingest refused items; kept in quarantine');
      send(res, 207, { accepted, duplicates, rejected: rejected.length, results });
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://ingest');
    const path = url.pathname;
    try {
      const toReport = routes[path];
      if (toReport) {
        if (req.method !== 'POST') return send(res, 405, { error: 'Method Not Allowed' }, { allow: 'POST' });
        return await ingest(req, res, path, toReport, url.searchParams);
      }
      const route = req.method === 'GET' ? options.routes?.[path] : undefined;
      if (route) {
        const { status, body, contentType } = await route();
        if (contentType) {
          if (closing) res.shouldKeepAlive = false;
          res.writeHead(status, { 'content-type': contentType });
          return void res.end(String(body));
        }
        return send(res, status, body);
      }
      send(res, 404, { error: 'Not Found' });
    } catch (err) {
      if (err instanceof IngestError) {
        // Stop reading a body we refused, and close so the client does not keep streaming it.
        if (err.status === 413) res.setHeader('connection', 'close');
        return send(res, err.status, { error: err.message, code: err.code });
      }
      if (err instanceof SpoolFullError) {
        log.error({ code: err.code }, err.message);
        return send(res, 503, { error: err.message, code: err.code }, { 'retry-after': '5' });
      }
      log.error({ err }, 'ingest failed');
      send(res, 500, { error: 'internal error; nothing from this request was stored' });
    }
  }

  const server = createServer((req, res) => {
    void handle(req, res);
  });
  server.keepAliveTimeout = 65_000;
  return {
    server,
    async close(graceMs) {
      closing = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const timer = setTimeout(() => server.closeAllConnections(), graceMs);
      await closed;
      clearTimeout(timer);
    },
  };
}
