import { Agent } from '../http-client.js';
import { DeliveryError } from '../errors.js';
import { parseRetryAfter } from './backoff.js';
import { caContext } from './credentials.js';
import { postBatch, type BatchPostObserver } from './post-batch.js';
import type { RateBudget } from './rate-budget.js';

/** One POST of a batch to the PCM report API, and the classification of its answer. */

export interface ItemResult {
  status: 'ACCEPTED' | 'DISCARDED';
  reportId: string | null;
  message: string | null;
}

export type BatchAnswer =
  | { kind: 'results'; status: 200 | 207; items: ItemResult[] }
  | { kind: 'unauthorized' }
  | { kind: 'too-large' };

export interface ReportClientOptions {
  apiUrl: string;
  path: string;
  exportTimeoutMs: number;
  connectTimeoutMs: number;
  ca: Buffer | undefined;
  /** The process's budget of PCM calls: every POST waits for its permit and reports the answer back. */
  budget: RateBudget;
  /** Told of every POST once it is over (metrics). */
  onPosted?: BatchPostObserver | undefined;
}

export class ReportClient {
  private readonly agent: Agent;
  private readonly url: string;

  constructor(private readonly options: ReportClientOptions) {
    this.url = `${options.apiUrl}${options.path}`;
    this.agent = new Agent({
      // One secure context for every connection: parsing the CA bundle per connection showed in the drain profile.
      connect: { secureContext: caContext(options.ca), rejectUnauthorized: true, timeout: options.connectTimeoutMs },
      keepAliveTimeout: 30_000,
    });
  }

  /** Sends `body` (a JSON array of `count` reports). Throws DeliveryError for anything worth retrying later. */
  async send(body: string, count: number, token: string, signal?: AbortSignal): Promise<BatchAnswer> {
    // Outside the try: a wait cut short by `signal` is RateWaitAbortedError, not a network failure.
    await this.options.budget.take('report', signal);
    const { statusCode, headers, text } = await postBatch(this.agent, this.url, body, token, {
      timeoutMs: this.options.exportTimeoutMs,
      signal,
      what: 'report POST',
      reports: count,
      onPosted: this.options.onPosted,
    });

    const retryAfterMs = parseRetryAfter(headers['retry-after']);
    this.options.budget.observe('report', statusCode, retryAfterMs);
    if (statusCode === 200 || statusCode === 207) {
      return { kind: 'results', status: statusCode, items: parseItems(text, count, statusCode) };
    }
    if (statusCode === 401) return { kind: 'unauthorized' };
    if (statusCode === 413) return { kind: 'too-large' };
    const code = statusCode === 429 ? 'PCM_DELIVERY_THROTTLED' : statusCode >= 500 ? 'PCM_DELIVERY_SERVER_ERROR' : 'PCM_DELIVERY_REFUSED';
    throw new DeliveryError(code, `report API answered ${statusCode}: ${text.slice(0, 300)}`, statusCode, retryAfterMs);
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}

function parseItems(text: string, count: number, status: number): ItemResult[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new DeliveryError('PCM_DELIVERY_BAD_ANSWER', `report API answered ${status} with a body that is not JSON`, status);
  }
  // 200/207 map results to requests by index; anything else cannot be mapped safely, so the batch is retried.
  if (!Array.isArray(parsed) || parsed.length !== count) {
    throw new DeliveryError(
      'PCM_DELIVERY_BAD_ANSWER',
      `report API answered ${status} with ${Array.isArray(parsed) ? parsed.length : 'no'} results for ${count} reports`,
      status,
    );
  }
  return parsed.map((item: unknown, index): ItemResult => {
    const record = (item ?? {}) as { status?: unknown; reportId?: unknown; message?: unknown };
    if (record.status !== 'ACCEPTED' && record.status !== 'DISCARDED') {
      throw new DeliveryError('PCM_DELIVERY_BAD_ANSWER', `result ${index} has no ACCEPTED/DISCARDED status`, status);
    }
    return {
      status: record.status,
      reportId: typeof record.reportId === 'string' ? record.reportId : null,
      message: typeof record.message === 'string' ? record.message : null,
    };
  });
}
