import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { IngestError, SpoolFullError } from '../errors.js';
import { validatePrivateReport, type ReportProblem, type ValidationContext } from '../report/validate.js';
import type { NewReport, RejectedItem, Spool } from '../spool/spool.js';
import { bodyFormatOf, parseBody, readBody } from './body.js';

/**
 * The gateway-facing HTTP endpoint. `POST /v1/reports` answers only after the reports are committed:
 * 202 when every item was stored (or already was), 207 with one result per item when some were refused.
 */

export interface IngestOptions {
  spool: Spool;
  validation: ValidationContext;
  maxBodyBytes: number;
  log: Logger;
  /** Extra read-only routes (health, status) answered as JSON. */
  routes?: Record<string, () => { status: number; body: unknown }>;
}

export type ItemResult =
  | { index: number; status: 'accepted' | 'duplicate' }
  | { index: number; status: 'rejected'; errors: ReportProblem[] };

export interface IngestServer {
  server: Server;
  /** Stops accepting; resolves once every request in flight has been answered and its connection closed. */
  close(): Promise<void>;
}

export function createIngestServer(options: IngestOptions): IngestServer {
  const { spool, validation, maxBodyBytes, log } = options;
  let closing = false;

  function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    const text = JSON.stringify(body);
    // Once closing, a kept-alive connection closes after its answer: a connected gateway cannot hold the stop open.
    if (closing) res.shouldKeepAlive = false;
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
    res.end(text);
  }

  async function ingest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const format = bodyFormatOf(req.headers['content-type']);
    const items = parseBody(await readBody(req, maxBodyBytes), format);
    const source = `${req.socket.remoteAddress ?? 'unknown'} ${req.method} ${req.url}`;

    const reports: NewReport[] = [];
    const rejected: RejectedItem[] = [];
    const results: ItemResult[] = [];
    const storedAt: number[] = [];
    items.forEach((item, index) => {
      if (!item.ok) {
        const errors = [{ field: '', rule: 'json', message: `Invalid payload format: ${item.error}` }];
        results.push({ index, status: 'rejected', errors });
        rejected.push({ source, item: item.text, problems: JSON.stringify(errors) });
        return;
      }
      const checked = validatePrivateReport(item.value, validation);
      if (!checked.ok) {
        results.push({ index, status: 'rejected', errors: checked.problems });
        rejected.push({ source, item: JSON.stringify(item.value), problems: JSON.stringify(checked.problems) });
        return;
      }
      storedAt.push(results.length);
      results.push({ index, status: 'accepted' });
      reports.push({
        orgId: checked.reporterOrgId,
        dedupKey: checked.dedupKey,
        fapiInteractionId: checked.report.fapiInteractionId.toLowerCase(),
        json: checked.json,
      });
    });

    const outcome = reports.length + rejected.length > 0 ? await spool.write({ reports, rejected }) : [];
    let duplicates = 0;
    outcome.forEach((o, i) => {
      if (o === 'duplicate') {
        duplicates++;
        results[storedAt[i] as number] = { index: (results[storedAt[i] as number] as ItemResult).index, status: 'duplicate' };
      }
    });
    const accepted = reports.length - duplicates;
    if (rejected.length === 0) {
      send(res, 202, { accepted, duplicates });
    } else {
      log.info({ rejected: rejected.length, source }, 'ingest refused items; kept in quarantine');
      send(res, 207, { accepted, duplicates, rejected: rejected.length, results });
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    try {
      if (path === '/v1/reports') {
        if (req.method !== 'POST') return send(res, 405, { error: 'Method Not Allowed' }, { allow: 'POST' });
        return await ingest(req, res);
      }
      const route = req.method === 'GET' ? options.routes?.[path] : undefined;
      if (route) {
        const { status, body } = route();
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
    close() {
      closing = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      return closed;
    },
  };
}
