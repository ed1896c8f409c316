import { request, type Agent } from 'undici';
import { DeliveryError } from '../errors.js';

/** What came back for one batch POST, read whole; the caller maps it to its answer. */
export interface PostedBatch {
  statusCode: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/**
 * POSTs one batch body (a JSON array) with a bearer token, both timeouts set, and reads the whole answer. A request
 * that got no answer (network, TLS, timeout, abort) is DeliveryError PCM_DELIVERY_NETWORK, named after `what`.
 */
export async function postBatch(
  agent: Agent,
  url: string,
  body: string,
  token: string | null,
  options: { timeoutMs: number; signal?: AbortSignal | undefined; what: string },
): Promise<PostedBatch> {
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
    return { statusCode: response.statusCode, headers: response.headers, text: await response.body.text() };
  } catch (err) {
    throw new DeliveryError('PCM_DELIVERY_NETWORK', `${options.what} failed: ${(err as Error).message}`, undefined, undefined, { cause: err });
  }
}
