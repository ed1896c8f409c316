import { Agent, request } from '../http-client.js';
import { ReconcileError, errorMessage } from '../errors.js';
import { parseRetryAfter } from '../sender/backoff.js';
import { caContext, loadCa } from '../sender/credentials.js';
import type { RateBudget } from '../sender/rate-budget.js';
import { REPORT_PATHS } from '../sender/sender.js';
import { differingFields, parseStatus, type ConsistencyField, type PcmStatus } from './status.js';

/**
 * `GET /report-api/v1/private/report/{fapiInteractionId}` (pcm-openapi-current.yaml, operation report-by-id): the
 * `ReportModel` of the report the token's organisation sent or is party to. The caller has taken the budget permit;
 * the answer is fed back to the budget here (a 429 slows every call of the process, a Retry-After blocks them).
 */

export type StatusAnswer =
  | { kind: 'found'; status: PcmStatus; pairedReportId: string | null; differing: ConsistencyField[] | null }
  | { kind: 'not-found' }
  | { kind: 'unauthorized' }
  | { kind: 'failed'; error: ReconcileError };

export interface ReportStatusClientOptions {
  apiUrl: string;
  caFile: string | undefined;
  timeoutMs: number;
  connectTimeoutMs: number;
  budget: RateBudget;
}

export class ReportStatusClient {
  private agent: Agent | null = null;

  constructor(private readonly options: ReportStatusClientOptions) {}

  async ask(fapiInteractionId: string, token: string, signal?: AbortSignal): Promise<StatusAnswer> {
    let statusCode: number;
    let text: string;
    let retryAfterMs: number | undefined;
    try {
      const response = await request(`${this.options.apiUrl}${REPORT_PATHS.private}/${encodeURIComponent(fapiInteractionId)}`, {
        method: 'GET',
        dispatcher: this.dispatcher(),
        headers: { accept: 'application/json', authorization: `Bearer ${token}` },
        headersTimeout: this.options.timeoutMs,
        bodyTimeout: this.options.timeoutMs,
        signal,
      });
      statusCode = response.statusCode;
      retryAfterMs = parseRetryAfter(response.headers['retry-after']);
      text = await response.body.text();
    } catch (err) {
      return failed('PCM_RECONCILE_NETWORK', `report GET failed: ${errorMessage(err)}`, undefined, undefined, err);
    }
    this.options.budget.observe('reconcile', statusCode, retryAfterMs);
    if (statusCode === 404) return { kind: 'not-found' };
    if (statusCode === 401) return { kind: 'unauthorized' };
    if (statusCode === 429) return failed('PCM_RECONCILE_THROTTLED', 'report GET answered 429', 429, retryAfterMs);
    if (statusCode !== 200) return failed('PCM_RECONCILE_REFUSED', `report GET answered ${statusCode}: ${text.slice(0, 200)}`, statusCode);
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      return failed('PCM_RECONCILE_BAD_ANSWER', 'report GET answered 200 with a body that is not JSON', 200);
    }
    const model = (body !== null && typeof body === 'object' ? body : {}) as { status?: unknown; pairedReportId?: unknown; message?: unknown };
    const status = parseStatus(model.status);
    if (status === null) return failed('PCM_RECONCILE_BAD_ANSWER', 'report GET answered 200 without a known status', 200);
    return {
      kind: 'found',
      status,
      pairedReportId: typeof model.pairedReportId === 'string' ? model.pairedReportId : null,
      differing: status === 'PAIRED_INCONSISTENT' ? differingFields(model.message) : null,
    };
  }

  async close(): Promise<void> {
    await this.agent?.close();
    this.agent = null;
  }

  /** Built at the first ask: an unreadable CA fails that ask (and is read again at the next), never the start. */
  private dispatcher(): Agent {
    this.agent ??= new Agent({
      connect: { secureContext: caContext(loadCa(this.options.caFile)), rejectUnauthorized: true, timeout: this.options.connectTimeoutMs },
      keepAliveTimeout: 30_000,
    });
    return this.agent;
  }
}

function failed(code: ReconcileError['code'], message: string, status?: number, retryAfterMs?: number, cause?: unknown): StatusAnswer {
  return { kind: 'failed', error: new ReconcileError(code, message, status, retryAfterMs, cause === undefined ? undefined : { cause }) };
}
