import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { FaultInjector, parseFaultConfig, type FaultConfig, type FaultDecision } from './faults.js';
import { QualityLog, ReportStore, type QualitySnapshot, type ReceivedReport } from './store.js';
import { RateLimiter, TokenIssuer } from './tokens.js';
import { checkOpendataReport, checkReport, loadAcceptedEndpoints, type AcceptedEndpoints, type CheckResult, type ErrorCodesAs } from './validate.js';

/**
 * A local PCM. Two HTTPS listeners, as the PCM has two hosts: the auth host (`/token/`, `/token-fresh/`) demands a
 * client certificate from the configured CA during the TLS handshake; the API host takes bearer tokens and serves the
 * report APIs plus `/emulator/*` inspection and control routes.
 */

export interface EmulatorOptions {
  host: string;
  /** Report API port (0 picks a free one). */
  port: number;
  /** Token (auth) port (0 picks a free one). */
  authPort: number;
  cert: Buffer;
  key: Buffer;
  /** CA that client certificates must chain to. */
  ca: Buffer;
  /** Lifetime of issued tokens, seconds. */
  tokenExpiresIn: number;
  /** client_id → organisationId; when absent, every client_id is taken and the organisation comes from the certificate. */
  clients?: ReadonlyMap<string, string> | undefined;
  maxItems: number;
  maxBodyBytes: number;
  /** Requests per second the report API takes before answering 429. */
  rateLimit: number;
  /** Send `Retry-After: 1` with rate-limit 429s. */
  retryAfter: boolean;
  /** How long a report waits for its counterpart before it is reconciled. */
  pairingDelayMs: number;
  /** SQLite file for the emulator's state; in memory when absent. */
  stateFile?: string | undefined;
  /** Endpoint catalogue file the emulator accepts (data/catalog/endpoints.json when absent). */
  endpointsFile?: string | undefined;
  faults?: FaultConfig | undefined;
  /** How additionalInfo.errorCodes must be sent (pcm-rules.md §13 item 6): one code string (default) or an array of strings. */
  errorCodesAs?: ErrorCodesAs | undefined;
  /** Reports kept before the oldest are deleted (EMULATOR_DEFAULTS.maxReports). */
  maxReports?: number | undefined;
  /** Listener timeouts (EMULATOR_LISTENER); tests make them short. */
  listener?: Partial<ListenerTimeouts> | undefined;
}

export const EMULATOR_DEFAULTS = {
  host: '127.0.0.1',
  port: 8443,
  authPort: 8444,
  tokenExpiresIn: 21_600,
  maxItems: 5000,
  maxBodyBytes: 10 * 1000 * 1000,
  rateLimit: 300,
  retryAfter: true,
  pairingDelayMs: 1000,
  errorCodesAs: 'string',
  /**
   * Reports kept; past it the oldest are deleted (down to 90 %), so a soak or a long load test cannot grow the
   * emulator without limit (≈ 1.7 KiB of RSS each, measured: ~340 MiB at the bound). Counts in /emulator/stats
   * cover the reports still kept.
   */
  maxReports: 200_000,
} as const;

/** The emulator's own listeners close slow or idle clients like the sidecar's ingest does (408, then close). */
export const EMULATOR_LISTENER = { headersTimeoutMs: 10_000, requestTimeoutMs: 30_000, keepAliveTimeoutMs: 65_000 };
export type ListenerTimeouts = typeof EMULATOR_LISTENER;

function limit(server: Server, timeouts: ListenerTimeouts): Server {
  server.headersTimeout = Math.min(timeouts.headersTimeoutMs, timeouts.requestTimeoutMs);
  server.requestTimeout = timeouts.requestTimeoutMs;
  server.keepAliveTimeout = timeouts.keepAliveTimeoutMs;
  return server;
}

export type { StoredReport } from './store.js';

export interface EmulatorStats {
  requests: Record<string, Record<string, number>>;
  /** Reports by the status they were answered with (ACCEPTED / DISCARDED). */
  reports: Record<string, number>;
  /** Reports by their current status, after reconciliation. */
  statuses: Record<string, number>;
  distinctFapiInteractionIds: number;
  duplicatesReceived: number;
  tokensIssued: number;
  peakRequestsPerSecond: number;
}

const PRIVATE_PATHS = new Set(['/report-api/v1/private/report', '/report-api/v1/private/report/']);
const OPENDATA_PATHS = new Set(['/report-api/v1/opendata/report', '/report-api/v1/opendata/report/']);
const PRIVATE_BY_ID = /^\/report-api\/v1\/private\/report\/([^/]+)\/?$/;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function readBody(req: IncomingMessage, limit: number): Promise<Buffer | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) return null;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}

/** The organisationId in a certificate subject's OU, as Open Finance Brasil transport certificates carry it. */
function certificateOrgId(socket: TLSSocket): string | null {
  const subject = socket.getPeerCertificate().subject as unknown as Record<string, string | string[] | undefined> | undefined;
  const ou = subject?.OU;
  return (Array.isArray(ou) ? ou[0] : ou)?.toLowerCase() ?? null;
}

export class PcmEmulator {
  private api: Server | null = null;
  private auth: Server | null = null;
  private readonly store: ReportStore;
  /** Quality findings of accepted reports (GET /emulator/quality); bounded, see QUALITY_LOG_LIMIT. */
  private readonly quality = new QualityLog();
  private readonly tokens: TokenIssuer;
  private readonly limiter: RateLimiter;
  readonly faults: FaultInjector;
  private readonly endpoints: AcceptedEndpoints;
  private requests: Record<string, Record<string, number>> = {};
  private reconciler: NodeJS.Timeout | null = null;

  constructor(private readonly options: EmulatorOptions) {
    this.endpoints = loadAcceptedEndpoints(options.endpointsFile);
    this.store = new ReportStore(options.stateFile, options.maxReports ?? EMULATOR_DEFAULTS.maxReports);
    this.tokens = new TokenIssuer(options.tokenExpiresIn, options.clients ?? null);
    this.limiter = new RateLimiter(options.rateLimit);
    this.faults = new FaultInjector(options.faults);
  }

  async start(): Promise<string> {
    const tls = { cert: this.options.cert, key: this.options.key, ca: this.options.ca };
    const timeouts = { ...EMULATOR_LISTENER, ...this.options.listener };
    // Node checks those timeouts on a sweep (30 s by default): often enough that they mean what they say.
    const sweep = { connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(timeouts.headersTimeoutMs / 4))) };
    this.api = limit(createServer({ ...tls, ...sweep }, (req, res) => void this.handleApi(req, res)), timeouts);
    // The auth host refuses the handshake without a client certificate signed by the CA.
    this.auth = limit(
      createServer({ ...tls, ...sweep, requestCert: true, rejectUnauthorized: true }, (req, res) => void this.handleAuth(req, res)),
      timeouts,
    );
    await Promise.all([
      listen(this.api, this.options.port, this.options.host),
      listen(this.auth, this.options.authPort, this.options.host),
    ]);
    const every = Math.max(50, Math.min(500, this.options.pairingDelayMs));
    this.reconciler = setInterval(() => this.reconcile(Date.now() - this.options.pairingDelayMs), every);
    this.reconciler.unref();
    return this.url;
  }

  get url(): string {
    return this.urlOf(this.api);
  }

  get authUrl(): string {
    return this.urlOf(this.auth);
  }

  private urlOf(server: Server | null): string {
    const address = server?.address() as AddressInfo | null;
    if (!address) throw new Error('emulator is not listening');
    return `https://${this.options.host}:${address.port}`;
  }

  async stop(): Promise<void> {
    if (this.reconciler) clearInterval(this.reconciler);
    await Promise.all(
      [this.api, this.auth].map(
        (server) =>
          new Promise<void>((resolve) => {
            if (!server) return resolve();
            server.close(() => resolve());
            server.closeAllConnections();
          }),
      ),
    );
    this.api = null;
    this.auth = null;
    this.store.close();
  }

  snapshot(): EmulatorStats {
    const { byStatus, distinctFapiInteractionIds, duplicatesReceived } = this.store.counts();
    const total = Object.values(byStatus).reduce((a, b) => a + b, 0);
    const discarded = byStatus.DISCARDED ?? 0;
    const reports: Record<string, number> = {};
    if (total - discarded > 0) reports.ACCEPTED = total - discarded;
    if (discarded > 0) reports.DISCARDED = discarded;
    return {
      requests: structuredClone(this.requests),
      reports,
      statuses: byStatus,
      distinctFapiInteractionIds,
      duplicatesReceived,
      tokensIssued: this.tokens.issued,
      peakRequestsPerSecond: this.limiter.peak,
    };
  }

  /** Access tokens currently valid; for in-process tests, never served over HTTP. */
  issuedTokens(): string[] {
    return this.tokens.live(Date.now());
  }

  /** Reconciles every report received before `before` (now: everything, regardless of the delay). */
  reconcile(before = Date.now()): number {
    return this.store.reconcile(before, Date.now());
  }

  /** The quality dashboard: findings of ACCEPTED reports, newest last (what GET /emulator/quality serves). */
  qualitySnapshot(): QualitySnapshot {
    return this.quality.snapshot();
  }

  private reset(): void {
    this.store.reset();
    this.quality.reset();
    this.tokens.revokeAll();
    this.limiter.reset();
    this.requests = {};
  }

  private reply(res: ServerResponse, route: string, status: number, body: unknown, headers: Record<string, string> = {}): void {
    const byStatus = (this.requests[route] ??= {});
    byStatus[status] = (byStatus[status] ?? 0) + 1;
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
    res.end(text);
  }

  /** Applies a fault decision; true when the request was answered (or dropped) by it. */
  private async applyFault(decision: FaultDecision, req: IncomingMessage, res: ServerResponse, route: string): Promise<boolean> {
    if (decision.kind === 'hang') {
      this.count(route, 'hang');
      return true; // never answered; the client's timeout or stop() ends it
    }
    if (decision.kind === 'reset') {
      this.count(route, 'reset');
      req.socket.destroy();
      return true;
    }
    if (decision.latencyMs > 0) await sleep(decision.latencyMs);
    if (decision.kind === 'status') {
      req.resume();
      const headers: Record<string, string> = decision.retryAfterSeconds !== null ? { 'retry-after': String(decision.retryAfterSeconds) } : {};
      this.reply(res, route, decision.status, { message: `injected fault: ${decision.reason}` }, headers);
      return true;
    }
    return false;
  }

  private count(route: string, outcome: string): void {
    const byStatus = (this.requests[route] ??= {});
    byStatus[outcome] = (byStatus[outcome] ?? 0) + 1;
  }

  private async handleAuth(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const target = requestTarget(req, 'https://auth');
    if (target === null) return this.reply(res, 'bad target', 400, { message: 'Bad Request: the request target is not a URL path' });
    const path = target.pathname;
    const route = `${req.method} ${path}`;
    try {
      const fresh = path === '/token-fresh/' || path === '/token-fresh';
      if (req.method !== 'POST' || !(fresh || path === '/token/' || path === '/token')) {
        return this.reply(res, route, 404, { message: 'Not Found' });
      }
      if (await this.applyFault(this.faults.decideToken(Date.now()), req, res, route)) return;
      const body = (await readBody(req, 64 * 1024)) ?? Buffer.alloc(0);
      const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim();
      let fields: Record<string, unknown>;
      try {
        if (type === 'application/json') fields = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
        else if (type === 'application/x-www-form-urlencoded') fields = Object.fromEntries(new URLSearchParams(body.toString('utf8')));
        else return this.reply(res, route, 415, { error: 'invalid_request', error_description: 'Unsupported Media Type' });
      } catch {
        return this.reply(res, route, 400, { error: 'invalid_request', error_description: 'body is not valid JSON' });
      }
      const answer = this.tokens.issue(fields ?? {}, certificateOrgId(req.socket as TLSSocket), fresh, Date.now());
      if (!answer.ok) return this.reply(res, route, answer.status, answer.body);
      this.reply(res, route, 200, { access_token: answer.token.accessToken, expires_in: answer.expiresIn, token_type: 'Bearer' });
    } catch (err) {
      this.reply(res, route, 500, { message: (err as Error).message });
    }
  }

  private async handleApi(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = requestTarget(req, 'https://emulator');
    if (url === null) return this.reply(res, 'bad target', 400, { message: 'Bad Request: the request target is not a URL path' });
    const path = url.pathname;
    let route = `${req.method} ${path}`;
    try {
      if (req.method === 'POST' && PRIVATE_PATHS.has(path)) return await this.report(req, res, route, 'private');
      if (req.method === 'POST' && OPENDATA_PATHS.has(path)) return await this.report(req, res, route, 'opendata');
      const byId = req.method === 'GET' ? PRIVATE_BY_ID.exec(path) : null;
      if (byId) {
        route = 'GET /report-api/v1/private/report/{fapiInteractionId}';
        return this.reportById(req, res, route, decodeURIComponent(byId[1] as string));
      }
      if (path.startsWith('/emulator/')) return await this.control(req, res, route, path, url);
      this.reply(res, route, 404, { message: 'Not Found' });
    } catch (err) {
      this.reply(res, route, 500, { message: (err as Error).message });
    }
  }

  private async control(req: IncomingMessage, res: ServerResponse, route: string, path: string, url: URL): Promise<void> {
    if (req.method === 'GET' && path === '/emulator/stats') return this.reply(res, route, 200, this.snapshot());
    if (req.method === 'GET' && path === '/emulator/reports') return this.listReports(url, res, route);
    if (req.method === 'GET' && path === '/emulator/quality') return this.reply(res, route, 200, this.qualitySnapshot());
    if (req.method === 'POST' && path === '/emulator/reset') {
      this.reset();
      return this.reply(res, route, 200, { reset: true });
    }
    if (req.method === 'POST' && path === '/emulator/tokens/revoke') return this.reply(res, route, 200, { revoked: this.tokens.revokeAll() });
    if (req.method === 'POST' && path === '/emulator/reconcile') return this.reply(res, route, 200, { changed: this.reconcile() });
    if (path === '/emulator/faults') {
      if (req.method === 'GET') return this.reply(res, route, 200, this.faults.current());
      if (req.method === 'DELETE') {
        // No faults at all: the configuration back to none and the queue emptied (PUT keeps the queue).
        const dropped = this.faults.clearQueue();
        this.faults.configure(parseFaultConfig({}, 'DELETE /emulator/faults'));
        return this.reply(res, route, 200, { ...this.faults.current(), droppedQueued: dropped });
      }
      let body: unknown;
      try {
        body = JSON.parse((await readBody(req, 64 * 1024))?.toString('utf8') || '{}') as unknown;
      } catch {
        // A control body that does not parse is the caller's mistake (400), not the emulator's (500).
        return this.reply(res, route, 400, { message: `${req.method} /emulator/faults: body is not valid JSON` });
      }
      if (req.method === 'PUT') {
        try {
          this.faults.configure(parseFaultConfig(body, 'PUT /emulator/faults'));
        } catch (err) {
          return this.reply(res, route, 400, { message: (err as Error).message });
        }
        return this.reply(res, route, 200, this.faults.current());
      }
      if (req.method === 'POST') {
        // The next `count` report requests get `status`: deterministic faults for tests.
        const spec = (body ?? {}) as { status?: unknown; count?: unknown; retryAfter?: unknown };
        if (typeof spec.status !== 'number' || spec.status < 400 || spec.status > 599) {
          return this.reply(res, route, 400, { message: 'status must be a number from 400 to 599' });
        }
        const count = typeof spec.count === 'number' && spec.count > 0 ? spec.count : 1;
        this.faults.enqueue(spec.status, count, typeof spec.retryAfter === 'number' ? spec.retryAfter : null);
        return this.reply(res, route, 200, { queued: count });
      }
    }
    this.reply(res, route, 404, { message: 'Not Found' });
  }

  private async report(req: IncomingMessage, res: ServerResponse, route: string, stream: 'private' | 'opendata'): Promise<void> {
    const now = Date.now();
    if (!this.limiter.admit(now)) {
      req.resume();
      return this.reply(res, route, 429, { message: 'Too Many Requests' }, this.options.retryAfter ? { 'retry-after': '1' } : {});
    }
    const token = this.tokens.verify(req.headers.authorization, now);
    if (!token) {
      req.resume();
      return this.reply(res, route, 401, { message: 'Unauthorized' });
    }
    if (await this.applyFault(this.faults.decideReport(now), req, res, route)) return;
    const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim();
    if (type !== 'application/json') {
      req.resume();
      return this.reply(res, route, 415, { message: 'Unsupported Media Type' });
    }
    const body = await readBody(req, this.faults.maxBodyBytes(this.options.maxBodyBytes));
    if (!body) return this.reply(res, route, 413, { message: 'Record limit exceeded' }, { connection: 'close' });
    let items: unknown;
    try {
      items = JSON.parse(body.toString('utf8'));
    } catch {
      return this.reply(res, route, 400, { message: 'Invalid payload format: MUST be an array' });
    }
    if (!Array.isArray(items)) return this.reply(res, route, 400, { message: 'Invalid payload format: MUST be an array' });
    if (items.length > this.faults.maxItems(this.options.maxItems)) return this.reply(res, route, 413, { message: 'Record limit exceeded' });
    if (stream === 'private') {
      const mismatch = items.map((item) => requesterMismatch(item, token.orgId)).find((m) => m !== null);
      if (mismatch) return this.reply(res, route, 403, { message: `Forbidden: ${mismatch}` });
    }

    const check = stream === 'private' ? checkReport : checkOpendataReport;
    const context = { now, endpoints: this.endpoints, errorCodesAs: this.options.errorCodesAs ?? 'string' };
    const verdicts: CheckResult[] = items.map((item: unknown) => check(item, context));
    const received: ReceivedReport[] = items.map((item: unknown, i) => {
      const message = (verdicts[i] as CheckResult).discard;
      return {
        reportId: randomUUID(),
        stream,
        status: message === null ? 'ACCEPTED' : 'DISCARDED',
        message,
        senderOrgId: token.orgId,
        receivedAt: now,
        report: item,
      };
    });
    this.store.add(received);
    received.forEach((r, i) => {
      for (const finding of (verdicts[i] as CheckResult).quality) {
        this.quality.add({
          fapiInteractionId: ownString(r.report, 'fapiInteractionId'),
          endpoint: ownString(r.report, 'endpoint'),
          role: ownString(r.report, 'role'),
          rule: finding.rule,
          field: finding.field,
          message: finding.message,
          reportId: r.reportId,
        });
      }
    });
    const results = received.map((r) => {
      const correlationId = ownString(r.report, 'correlationId');
      return {
        reportId: r.reportId,
        status: r.status,
        ...(typeof correlationId === 'string' ? { correlationId } : {}),
        ...(r.message !== null ? { message: r.message } : {}),
      };
    });
    this.reply(res, route, received.some((r) => r.status === 'DISCARDED') ? 207 : 200, results);
  }

  private reportById(req: IncomingMessage, res: ServerResponse, route: string, fapiInteractionId: string): void {
    const now = Date.now();
    // The PCM's 300 requests/s hold for every call of the report API (the GET lists 429 too): one limiter, one peak.
    if (!this.limiter.admit(now)) return this.reply(res, route, 429, { message: 'Too Many Requests' }, this.options.retryAfter ? { 'retry-after': '1' } : {});
    const token = this.tokens.verify(req.headers.authorization, now);
    if (!token) return this.reply(res, route, 401, { message: 'Unauthorized' });
    const found = this.store.visibleTo(fapiInteractionId, token.orgId);
    if (!found) return this.reply(res, route, 404, { message: 'Not Found' });
    this.reply(res, route, 200, {
      reportId: found.reportId,
      pairedReportId: found.pairedReportId,
      status: found.status,
      createdAt: found.receivedAt,
      updatedAt: found.updatedAt,
      ...(found.message ? { message: found.message } : {}),
    });
  }

  private listReports(url: URL, res: ServerResponse, route: string): void {
    const param = (name: string): string | undefined => url.searchParams.get(name) ?? undefined;
    const offset = Math.max(0, Number(param('_offset') ?? 0) || 0);
    const limit = Math.min(100_000, Math.max(1, Number(param('_limit') ?? 100) || 100));
    const { data, total } = this.store.list({
      fapiInteractionId: param('fapiInteractionId'),
      status: param('status'),
      role: param('role'),
      stream: param('stream'),
      senderOrgId: param('senderOrgId'),
      offset,
      limit,
    });
    this.reply(res, route, 200, { data, meta: { totalRecords: total, offset, limit } });
  }
}

/** A top-level string field of a report as sent (own properties only: `__proto__` from JSON.parse is an own key). */
function ownString(report: unknown, key: string): string | null {
  if (report === null || typeof report !== 'object' || !Object.hasOwn(report, key)) return null;
  const value = (report as Record<string, unknown>)[key];
  return typeof value === 'string' ? value : null;
}

/** §2.4: the token's organisation must be clientOrgId on CLIENT reports and serverOrgId on SERVER ones. */
function requesterMismatch(item: unknown, tokenOrgId: string): string | null {
  const role = ownString(item, 'role');
  const field = role === 'CLIENT' ? 'clientOrgId' : role === 'SERVER' ? 'serverOrgId' : null;
  const orgId = field === null ? null : ownString(item, field);
  if (field === null || orgId === null) return null; // left to item validation
  return orgId.toLowerCase() === tokenOrgId ? null : `Requester id mismatch with ${field}`;
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** The request target as a URL; null for one that is not (`//`, `//x:99999/`): a 400, never an unhandled rejection. */
function requestTarget(req: IncomingMessage, base: string): URL | null {
  try {
    return new URL(req.url ?? '/', base);
  } catch {
    return null;
  }
}
