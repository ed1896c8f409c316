import { PageRequestError } from '../errors.js';

/** Query parameters of the admin API that are not paging (src/paging.ts): a bad one is 400 `{"message": …}`. */

function invalid(message: string): PageRequestError {
  return new PageRequestError('PCM_PAGE_INVALID', 400, message);
}

/** One of `values`, or undefined when absent or empty. */
export function oneOf<T extends string>(query: URLSearchParams, name: string, values: readonly T[]): T | undefined {
  const text = query.get(name);
  if (text === null || text === '') return undefined;
  if (!(values as readonly string[]).includes(text)) throw invalid(`${name} must be one of ${values.join(', ')}`);
  return text as T;
}

const ISO_8601 = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2}))?$/;

/** An ISO 8601 date (00:00 UTC) or time with its zone (2026-12-01T08:00:00Z, 2026-12-01T05:00:00.000-03:00), as epoch ms. */
export function instant(query: URLSearchParams, name: string): number | undefined {
  const text = query.get(name);
  if (text === null || text === '') return undefined;
  const ms = ISO_8601.test(text) ? Date.parse(text) : Number.NaN;
  if (Number.isNaN(ms)) throw invalid(`${name} must be an ISO 8601 time such as 2026-12-01T08:00:00Z, got "${text.slice(0, 40)}"`);
  return ms;
}

/** Free text of at most `max` characters, or undefined when absent or empty. */
export function text(query: URLSearchParams, name: string, max: number): string | undefined {
  const value = query.get(name);
  if (value === null || value === '') return undefined;
  if (value.length > max) throw invalid(`${name} is longer than ${max} characters`);
  return value;
}
