import { PageRequestError } from '../errors.js';
import { NOTIFICATION_STATES, type AlertStore, type NotificationState, type StoredNotification } from './store.js';

/**
 * `GET /v1/notifications?state=&event=&_offset=&_limit=`: the deliveries, oldest first, paged as seed 003 says —
 * `_offset` the first record, `_limit` how many; the answer's `contentRange` header is the total that matches,
 * `acceptRange` the largest page, and a `_limit` above it is 412. Errors are `{"message": …}`. A plain function of
 * the query, so it can move to the admin listener as it is.
 */

export interface RouteAnswer {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

function integer(query: URLSearchParams, name: string, fallback: number, min: number): number {
  const text = query.get(name);
  if (text === null || text === '') return fallback;
  if (!/^\d{1,9}$/.test(text) || Number(text) < min) {
    throw new PageRequestError('PCM_PAGE_INVALID', 400, `${name} must be an integer of at least ${min}, got "${text.slice(0, 32)}"`);
  }
  return Number(text);
}

function view(n: StoredNotification): Record<string, unknown> {
  const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());
  return {
    id: n.id,
    transactionId: n.transactionId,
    subscription: n.subscription,
    event: n.event,
    state: n.state,
    attempts: n.attempts,
    createdAt: iso(n.createdAt),
    nextAttemptAt: n.state === 'pending' ? iso(n.nextAttemptAt) : null,
    lastAttemptAt: iso(n.lastAttemptAt),
    finishedAt: iso(n.finishedAt),
    lastStatus: n.lastStatus,
    lastError: n.lastError,
    payload: JSON.parse(n.payload) as unknown,
  };
}

/** `store` null: no subscription was ever configured, so there is nothing to list. */
export function listNotifications(store: AlertStore | null, query: URLSearchParams, pageMax: number): RouteAnswer {
  const acceptRange = String(pageMax);
  try {
    const state = query.get('state') || undefined;
    if (state !== undefined && !NOTIFICATION_STATES.includes(state as NotificationState)) {
      throw new PageRequestError('PCM_PAGE_INVALID', 400, `state must be one of ${NOTIFICATION_STATES.join(', ')}`);
    }
    const event = query.get('event') || undefined;
    if (event !== undefined && !/^[A-Z][A-Z_]*\.[A-Z][A-Z_]*$/.test(event)) {
      throw new PageRequestError('PCM_PAGE_INVALID', 400, 'event must be an event code such as REPORT.DISCARDED');
    }
    const offset = integer(query, '_offset', 0, 0);
    const limit = integer(query, '_limit', pageMax, 1);
    if (limit > pageMax) {
      throw new PageRequestError('PCM_PAGE_TOO_LARGE', 412, `_limit ${limit} is above the largest page, ${pageMax} (acceptRange)`);
    }
    const page = store?.open ? store.list({ state: state as NotificationState | undefined, event, offset, limit }) : { total: 0, rows: [] };
    return { status: 200, body: { notifications: page.rows.map(view) }, headers: { contentRange: String(page.total), acceptRange } };
  } catch (err) {
    if (err instanceof PageRequestError) return { status: err.status, body: { message: err.message }, headers: { acceptRange } };
    throw err;
  }
}
