import { randomBytes, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { discardReason, loadAcceptedEndpoints, opendataDiscardReason, type AcceptedEndpoints } from './validate.js';

/**
 * A local PCM: `/token/` over mTLS, the private report API, and inspection routes under `/emulator/`.
 * State lives in memory. Issue #4 completes it (pairing, fault injection, opendata, rate limit).
 */

export interface EmulatorOptions {
  host: string;
  port: number;
  cert: Buffer;
  key: Buffer;
  /** CA that client certificates must chain to. */
  ca: Buffer;
  /** Lifetime of issued tokens, seconds. */
  tokenExpiresIn: number;
  maxItems: number;
  maxBodyBytes: number;
  /** Endpoint catalogue file the emulator accepts (data/catalog/endpoints.json when absent). */
  endpointsFile?: string | undefined;
}

export const EMULATOR_DEFAULTS = {
  host: '127.0.0.1',
  port: 8443,
  tokenExpiresIn: 21_600,
  maxItems: 5000,
  maxBodyBytes: 10 * 1000 * 1000,
} as const;

interface IssuedToken {
  orgId: string | null;
  clientId: string;
  expiresAt: number;
}

export interface StoredReport {
  reportId: string;
  status: 'ACCEPTED' | 'DISCARDED';
  message: string | null;
  receivedAt: string;
  report: unknown;
}

export interface EmulatorStats {
  requests: Record<string, Record<string, number>>;
  reports: Record<string, number>;
  distinctFapiInteractionIds: number;
  duplicatesReceived: number;
  tokensIssued: number;
}

/** Fault to apply to the next report requests (a minimal form; issue #4 brings the full set). */
interface PendingFault {
  status: number;
  remaining: number;
  retryAfter: string | undefined;
}

export class PcmEmulator {
  private server: Server | null = null;
  private tokens = new Map<string, IssuedToken>();
  private reports: StoredReport[] = [];
  private seenIdentities = new Set<string>();
  private fapiIds = new Set<string>();
  private faults: PendingFault[] = [];
  private stats: EmulatorStats = this.emptyStats();

  private readonly endpoints: AcceptedEndpoints;

  constructor(private readonly options: EmulatorOptions) {
    this.endpoints = loadAcceptedEndpoints(options.endpointsFile);
  }

  async start(): Promise<string> {
    const server = createServer(
      {
        cert: this.options.cert,
        key: this.options.key,
        ca: this.options.ca,
        requestCert: true,
        // The report API is called without a client certificate; /token/ checks `authorized` itself.
        rejectUnauthorized: false,
      },
      (req, res) => void this.handle(req, res),
    );
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.port, this.options.host, () => resolve());
    });
    this.server = server;
    return this.url;
  }

  get url(): string {
    const address = this.server?.address() as AddressInfo | null;
    if (!address) throw new Error('emulator is not listening');
    return `https://${this.options.host}:${address.port}`;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
    this.server = null;
  }

  snapshot(): EmulatorStats {
    return structuredClone(this.stats);
  }

  private emptyStats(): EmulatorStats {
    return { requests: {}, reports: {}, distinctFapiInteractionIds: 0, duplicatesReceived: 0, tokensIssued: 0 };
  }

  private reset(): void {
    this.tokens.clear();
    this.reports = [];
    this.seenIdentities.clear();
    this.fapiIds.clear();
    this.faults = [];
    this.stats = this.emptyStats();
  }

  private count(route: string, status: number): void {
    const byStatus = (this.stats.requests[route] ??= {});
    byStatus[status] = (byStatus[status] ?? 0) + 1;
  }

  private reply(res: ServerResponse, route: string, status: number, body: unknown, headers: Record<string, string> = {}): void {
    this.count(route, status);
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
    res.end(text);
  }

  private async readBody(req: IncomingMessage, limit: number): Promise<Buffer | null> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > limit) return null;
      chunks.push(chunk);
    }
    return Buffer.concat(chunks, size);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://emulator');
    const path = url.pathname;
    const route = `${req.method} ${path}`;
    try {
      if (req.method === 'POST' && (path === '/token/' || path === '/token')) return await this.token(req, res, route);
      if (req.method === 'POST' && (path === '/report-api/v1/private/report' || path === '/report-api/v1/private/report/')) {
        return await this.report(req, res, route, 'private');
      }
      if (req.method === 'POST' && (path === '/report-api/v1/opendata/report' || path === '/report-api/v1/opendata/report/')) {
        return await this.report(req, res, route, 'opendata');
      }
      if (req.method === 'GET' && path === '/emulator/stats') return this.reply(res, route, 200, this.stats);
      if (req.method === 'GET' && path === '/emulator/reports') return this.listReports(url, res, route);
      if (req.method === 'POST' && path === '/emulator/reset') {
        this.reset();
        return this.reply(res, route, 200, { reset: true });
      }
      if (req.method === 'POST' && path === '/emulator/tokens/revoke') {
        const revoked = this.tokens.size;
        this.tokens.clear();
        return this.reply(res, route, 200, { revoked });
      }
      if (req.method === 'POST' && path === '/emulator/faults') return await this.addFault(req, res, route);
      this.reply(res, route, 404, { message: 'Not Found' });
    } catch (err) {
      this.reply(res, route, 500, { message: (err as Error).message });
    }
  }

  private async token(req: IncomingMessage, res: ServerResponse, route: string): Promise<void> {
    const socket = req.socket as TLSSocket;
    if (!socket.authorized) {
      return this.reply(res, route, 401, { error: 'invalid_client', error_description: 'a client certificate signed by the PCM CA is required' });
    }
    const body = (await this.readBody(req, 64 * 1024)) ?? Buffer.alloc(0);
    const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim();
    let fields: Record<string, unknown> = {};
    try {
      if (type === 'application/json') fields = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
      else if (type === 'application/x-www-form-urlencoded') fields = Object.fromEntries(new URLSearchParams(body.toString('utf8')));
      else return this.reply(res, route, 415, { error: 'invalid_request', error_description: 'Unsupported Media Type' });
    } catch {
      return this.reply(res, route, 400, { error: 'invalid_request', error_description: 'body is not valid JSON' });
    }
    if (fields.grant_type !== 'client_credentials') {
      return this.reply(res, route, 400, { error: 'unsupported_grant_type', error_description: 'Unsupported grant_type' });
    }
    if (typeof fields.client_id !== 'string' || fields.client_id === '') {
      return this.reply(res, route, 400, { error: 'invalid_client', error_description: 'client_id is required' });
    }
    const subject = socket.getPeerCertificate().subject as unknown as Record<string, string | string[] | undefined> | undefined;
    const ou = subject?.OU;
    const orgId = (Array.isArray(ou) ? ou[0] : ou)?.toLowerCase() ?? null;
    const accessToken = randomBytes(32).toString('base64url');
    this.tokens.set(accessToken, { orgId, clientId: fields.client_id, expiresAt: Date.now() + this.options.tokenExpiresIn * 1000 });
    this.stats.tokensIssued++;
    this.reply(res, route, 200, { access_token: accessToken, expires_in: this.options.tokenExpiresIn, token_type: 'Bearer' });
  }

  private async report(req: IncomingMessage, res: ServerResponse, route: string, stream: 'private' | 'opendata'): Promise<void> {
    const auth = req.headers.authorization ?? '';
    const token = auth.startsWith('Bearer ') ? this.tokens.get(auth.slice(7)) : undefined;
    if (!token || token.expiresAt <= Date.now()) {
      req.resume();
      return this.reply(res, route, 401, { message: 'Unauthorized' });
    }
    const fault = this.faults[0];
    if (fault) {
      if (--fault.remaining <= 0) this.faults.shift();
      req.resume();
      return this.reply(res, route, fault.status, { message: 'injected fault' }, fault.retryAfter ? { 'retry-after': fault.retryAfter } : {});
    }
    const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim();
    if (type !== 'application/json') {
      req.resume();
      return this.reply(res, route, 415, { message: 'Unsupported Media Type' });
    }
    const body = await this.readBody(req, this.options.maxBodyBytes);
    if (!body) return this.reply(res, route, 413, { message: 'Record limit exceeded' }, { connection: 'close' });
    let items: unknown;
    try {
      items = JSON.parse(body.toString('utf8'));
    } catch {
      return this.reply(res, route, 400, { message: 'Invalid payload format: MUST be an array' });
    }
    if (!Array.isArray(items)) return this.reply(res, route, 400, { message: 'Invalid payload format: MUST be an array' });
    if (items.length > this.options.maxItems) return this.reply(res, route, 413, { message: 'Record limit exceeded' });

    const now = Date.now();
    const receivedAt = new Date(now).toISOString();
    let discarded = 0;
    const results = items.map((item: unknown) => {
      const check = stream === 'private' ? discardReason : opendataDiscardReason;
      const message = check(item, { now, endpoints: this.endpoints });
      const reportId = randomUUID();
      const status = message === null ? 'ACCEPTED' : 'DISCARDED';
      if (message !== null) discarded++;
      this.stats.reports[status] = (this.stats.reports[status] ?? 0) + 1;
      this.track(item);
      this.reports.push({ reportId, status, message, receivedAt, report: item });
      const record = item as { correlationId?: unknown };
      return {
        reportId,
        status,
        ...(typeof record?.correlationId === 'string' ? { correlationId: record.correlationId } : {}),
        ...(message !== null ? { message } : {}),
      };
    });
    this.reply(res, route, discarded > 0 ? 207 : 200, results);
  }

  /** Counts distinct interactions and reports received more than once (same role, id, endpoint, method, time). */
  private track(item: unknown): void {
    if (item === null || typeof item !== 'object') return;
    const r = item as Record<string, unknown>;
    if (typeof r.fapiInteractionId !== 'string') return;
    const fapi = r.fapiInteractionId.toLowerCase();
    this.fapiIds.add(fapi);
    this.stats.distinctFapiInteractionIds = this.fapiIds.size;
    const identity = [r.role, fapi, r.endpoint, r.httpMethod, r.timestamp].join('|');
    if (this.seenIdentities.has(identity)) this.stats.duplicatesReceived++;
    else this.seenIdentities.add(identity);
  }

  private listReports(url: URL, res: ServerResponse, route: string): void {
    const fapi = url.searchParams.get('fapiInteractionId')?.toLowerCase();
    const status = url.searchParams.get('status');
    const offset = Math.max(0, Number(url.searchParams.get('_offset') ?? 0) || 0);
    const limit = Math.min(100_000, Math.max(1, Number(url.searchParams.get('_limit') ?? 100) || 100));
    const matching = this.reports.filter((r) => {
      const report = r.report as { fapiInteractionId?: unknown };
      if (status && r.status !== status) return false;
      if (fapi && String(report?.fapiInteractionId).toLowerCase() !== fapi) return false;
      return true;
    });
    this.reply(res, route, 200, {
      data: matching.slice(offset, offset + limit),
      meta: { totalRecords: matching.length, offset, limit },
    });
  }

  private async addFault(req: IncomingMessage, res: ServerResponse, route: string): Promise<void> {
    const body = await this.readBody(req, 64 * 1024);
    const spec = JSON.parse(body?.toString('utf8') || '{}') as { status?: unknown; count?: unknown; retryAfter?: unknown };
    if (typeof spec.status !== 'number' || spec.status < 400 || spec.status > 599) {
      return this.reply(res, route, 400, { message: 'status must be a number from 400 to 599' });
    }
    this.faults.push({
      status: spec.status,
      remaining: typeof spec.count === 'number' && spec.count > 0 ? spec.count : 1,
      retryAfter: spec.retryAfter === undefined ? undefined : String(spec.retryAfter),
    });
    this.reply(res, route, 200, { queued: this.faults.length });
  }
}
