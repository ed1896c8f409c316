import { performance } from 'node:perf_hooks';
import { request, type Agent } from '../http-client.js';
import { DeliveryError } from '../errors.js';

/** What came back for one batch POST, read whole; the caller maps it to its answer. */
export interface PostedBatch {
  statusCode: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/** One batch POST as the metrics see it: the answer's HTTP status (null: none came), its seconds, its reports. */
export interface BatchPost {
  statusCode: number | null;
  seconds: number;
  reports: number;
}
export type BatchPostObserver = (post: BatchPost) => void;

/**
 * POSTs one batch body (a JSON array) with a bearer token, both timeouts set, and reads the whole answer. A request
 * that got no answer (network, TLS, timeout, abort) is DeliveryError PCM_DELIVERY_NETWORK, named after `what`.
 * `onPosted` is told of every POST once it is over, answered or not (`reports`: how many the body holds).
 */
export async function postBatch(
  agent: Agent,
  url: string,
  body: string,
  token: string | null,
  options: { timeoutMs: number; signal?: AbortSignal | undefined; what: string; reports: number; onPosted?: BatchPostObserver | undefined },
): Promise<PostedBatch> {
  const startedAt = performance.now();
  // Told once, after the outcome is settled: an observer that throws changes nothing about the batch.
  const posted = (statusCode: number | null): void => {
    try {
      options.onPosted?.({ statusCode, seconds: (performance.now() - startedAt) / 1000, reports: options.reports });
    } catch {
      // Metrics only.
    }
  };
  let answer: PostedBatch;
  try {
    const response = await request(url, {
      method: 'POST',
      dispatcher: agent,
      headers: { 'content-type': 'application/json', accept: 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body,
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
      signal: options.signal,
    });
    answer = { statusCode: response.statusCode, headers: response.headers, text: await response.body.text() };
  } catch (err) {
    // No whole answer (network, TLS, timeout, abort, or the body cut short): counted as none.
    posted(null);
    throw new DeliveryError('PCM_DELIVERY_NETWORK', `${options.what} failed: ${(err as Error).message}`, undefined, undefined, { cause: err });
  }
  posted(answer.statusCode);
  return answer;
}
