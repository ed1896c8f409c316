import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { DEFAULTS } from '../config/defaults.js';
import { AdminUnavailableError, PageRequestError } from '../errors.js';
import { closeListener, createListener, type ListenerLimits } from '../ingest/listener.js';
import type { RouteAnswer } from '../ingest/server.js';
import type { AdminAuth } from './auth.js';

/**
 * The admin listener (PCM_ADMIN_HOST:PCM_ADMIN_PORT): health, readiness and metrics open for probes and scrapers, and
 * the admin API under /v1/ behind a bearer token (auth.ts). Apart from the ingest, which stays on loopback, so that
 * Prometheus and operators can reach this one without reaching the ingest. Every error is `{"message": …}` with the
 * status seed 003 gives: 400 a bad parameter, 401 no or a wrong token (with WWW-Authenticate: Bearer), 404 nothing
 * there, 405 a method the route does not take (with Allow), 412 a page larger than acceptRange, 503 a busy or
 * too long admin query (query-thread.ts; with Retry-After when waiting helps).
 */

/** As the ingest's extra routes answer: a JSON body, or text with its `contentType` (metrics), and extra headers. */
export type AdminAnswer = RouteAnswer;

export interface AdminRequest {
  query: URLSearchParams;
  /** Values of the route's `{name}` segments, decoded. */
  params: Record<string, string>;
}

export type AdminHandler = (request: AdminRequest) => Promise<AdminAnswer> | AdminAnswer;

export interface AdminRoute {
  /** `/v1/reports/{fapiInteractionId}`: a `{name}` segment matches one path segment. */
  path: string;
  /** Answered without a token (health, readiness, metrics). */
  open?: boolean;
  GET?: AdminHandler;
  POST?: AdminHandler;
}

export interface AdminOptions {
  routes: readonly AdminRoute[];
  /** null: no PCM_ADMIN_TOKEN_FILE, so the admin API is off (its routes answer 404 saying so); open routes still answer. */
  auth: AdminAuth | null;
  log: Logger;
  listener?: Partial<ListenerLimits>;
}

export interface AdminServer {
  server: Server;
  /** Stops accepting; idle kept-alive connections (a scraper's) close now, requests in flight within `graceMs`. */
  close(graceMs: number): Promise<void>;
}

/** A handful of scrapers, probes and operators: far fewer connections than the ingest takes. */
export const ADMIN_LIMITS: ListenerLimits = {
  headersTimeoutMs: DEFAULTS.ingest.headersTimeoutMs,
  requestTimeoutMs: DEFAULTS.ingest.requestTimeoutMs,
  keepAliveTimeoutMs: DEFAULTS.ingest.keepAliveTimeoutMs,
  maxHeaderBytes: DEFAULTS.ingest.maxHeaderBytes,
  maxConnections: 64,
};

export const API_OFF_MESSAGE = 'the admin API is off: set PCM_ADMIN_TOKEN_FILE';

const METHODS = ['GET', 'POST'] as const;

interface Matched {
  route: AdminRoute;
  params: Record<string, string>;
}

/** The route whose path matches, with its `{name}` segments as written (still percent-encoded). */
function match(routes: readonly AdminRoute[], path: string): Matched | null {
  const parts = path.split('/');
  for (const route of routes) {
    const pattern = route.path.split('/');
    if (pattern.length !== parts.length) continue;
    const params: Record<string, string> = {};
    let ok = true;
    for (let i = 0; i < pattern.length && ok; i++) {
      const want = pattern[i] as string;
      const got = parts[i] as string;
      if (want.startsWith('{') && want.endsWith('}')) {
        // Decoded once the caller may see the answer (decodeParams): a bad escape must not answer before the token.
        if (got === '') ok = false;
        else params[want.slice(1, -1)] = got;
      } else ok = want === got;
    }
    if (ok) return { route, params };
  }
  return null;
}

function decodeParams(params: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(params).map(([name, value]) => [name, decodeSegment(value)]));
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new PageRequestError('PCM_PAGE_INVALID', 400, 'a path segment is not valid percent-encoding');
  }
}

export function createAdminServer(options: AdminOptions): AdminServer {
  const { routes, auth, log } = options;
  let closing = false;

  function send(res: ServerResponse, answer: AdminAnswer): void {
    // Once closing, a kept-alive connection closes after its answer: a scraper cannot hold the stop open.
    if (closing) res.shouldKeepAlive = false;
    const text = answer.contentType ? String(answer.body) : JSON.stringify(answer.body);
    res.writeHead(answer.status, {
      ...answer.headers,
      'content-type': answer.contentType ?? 'application/json',
      'content-length': Buffer.byteLength(text),
    });
    res.end(text);
  }

  const message = (status: number, text: string, headers?: Record<string, string>): AdminAnswer => ({ status, body: { message: text }, ...(headers ? { headers } : {}) });

  async function answer(req: IncomingMessage): Promise<AdminAnswer> {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://admin');
    } catch {
      return message(400, 'Bad Request: the request target is not a path');
    }
    const found = match(routes, url.pathname);
    if (!found?.route.open) {
      // Before anything else about the path: without the token, nothing says which routes exist.
      if (auth === null) return message(404, API_OFF_MESSAGE);
      const refusal = auth.refusal(req.headers.authorization);
      if (refusal !== null) {
        log.debug({ remote: req.socket.remoteAddress, path: url.pathname }, 'admin: request refused, not authorised');
        return message(401, refusal, { 'www-authenticate': 'Bearer' });
      }
    }
    if (!found) return message(404, `Not Found: ${url.pathname.slice(0, 200)}`);
    const method = req.method as (typeof METHODS)[number];
    const handler = METHODS.includes(method) ? found.route[method] : undefined;
    if (!handler) {
      const allow = METHODS.filter((m) => found.route[m] !== undefined).join(', ');
      return message(405, `Method Not Allowed: ${url.pathname.slice(0, 200)} takes ${allow}`, { allow });
    }
    return handler({ query: url.searchParams, params: decodeParams(found.params) });
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // No route reads a body: one sent along is read and dropped, so the connection stays usable.
    req.resume();
    try {
      send(res, await answer(req));
    } catch (err) {
      if (err instanceof PageRequestError) return send(res, message(err.status, err.message));
      if (err instanceof AdminUnavailableError) {
        return send(res, message(err.status, err.message, err.retryAfterSeconds === undefined ? undefined : { 'retry-after': String(err.retryAfterSeconds) }));
      }
      log.error({ err, path: req.url }, 'admin request failed');
      send(res, message(500, 'internal error'));
    }
  }

  const server = createListener({ name: 'admin', maxConnectionsSetting: 'the admin listener\'s limit' }, { ...ADMIN_LIMITS, ...options.listener }, log, null, (req, res) => {
    void handle(req, res);
  }) as Server;
  return {
    server,
    async close(graceMs) {
      closing = true;
      await closeListener(server, graceMs);
    },
  };
}
