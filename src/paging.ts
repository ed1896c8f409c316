import { PageRequestError } from './errors.js';

/**
 * Paging of listings as seed 003 says: `_offset` is the first record returned, `_limit` how many; the answer's
 * `contentRange` header is the total that matches and `acceptRange` the largest page, and a `_limit` above it is
 * 412 (Precondition Failed). Shared by the admin API (src/admin/) and the notification listing (src/alerts/).
 */

export interface PageRequest {
  offset: number;
  limit: number;
}

/** A whole number of at least `min` from the query, `fallback` when absent; otherwise 400. */
export function integerParam(query: URLSearchParams, name: string, fallback: number, min: number): number {
  const text = query.get(name);
  if (text === null || text === '') return fallback;
  if (!/^\d{1,9}$/.test(text) || Number(text) < min) {
    throw new PageRequestError('PCM_PAGE_INVALID', 400, `${name} must be an integer of at least ${min}, got "${text.slice(0, 32)}"`);
  }
  return Number(text);
}

/** `_offset` (0 by default) and `_limit` (the largest page by default); 400 when malformed, 412 above `pageMax`. */
export function pageOf(query: URLSearchParams, pageMax: number): PageRequest {
  const offset = integerParam(query, '_offset', 0, 0);
  const limit = integerParam(query, '_limit', pageMax, 1);
  if (limit > pageMax) throw new PageRequestError('PCM_PAGE_TOO_LARGE', 412, `_limit ${limit} is above the largest page, ${pageMax} (acceptRange)`);
  return { offset, limit };
}

/** The answer's paging headers. */
export function pageHeaders(total: number, pageMax: number): Record<string, string> {
  return { contentRange: String(total), acceptRange: String(pageMax) };
}
