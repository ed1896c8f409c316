import { PageRequestError } from '../errors.js';
import { pageHeaders, pageOf } from '../paging.js';
import { NOTIFICATION_STATES, type AlertStore, type NotificationState, type StoredNotification } from './store.js';

/**
 * `GET /v1/notifications?state=&event=&_offset=&_limit=`: the deliveries, oldest first, paged as seed 003 says —
 * `_offset` the first record, `_limit` how many; the answer's `contentRange` header is the total that matches,
 * `acceptRange` the largest page, and a `_limit` above it is 412 (src/paging.ts). Errors are `{"message": …}`. Served
 * on the admin listener (src/admin/).
 */

export interface RouteAnswer {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
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
    const { offset, limit } = pageOf(query, pageMax);
    const page = store?.open ? store.list({ state: state as NotificationState | undefined, event, offset, limit }) : { total: 0, rows: [] };
    return { status: 200, body: { notifications: page.rows.map(view) }, headers: pageHeaders(page.total, pageMax) };
  } catch (err) {
    if (err instanceof PageRequestError) return { status: err.status, body: { message: err.message }, headers: { acceptRange } };
    throw err;
  }
}
