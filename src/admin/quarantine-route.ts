import { parseOrText } from '../json-text.js';
import { pageHeaders, pageOf } from '../paging.js';
import type { QuarantinedItem, Spool } from '../spool/spool.js';
import type { AdminQueryThread } from './query-thread.js';
import type { AdminAnswer, AdminRequest } from './server.js';

/**
 * GET /v1/quarantine (oldest first, paged) and POST /v1/quarantine/replay: what ingest refused, and validating it
 * again with the running rules; what passes moves to the spool — the same function as `pcm-sidecar quarantine replay`.
 * Both run on the admin query thread; the sender hears at once of what a replay stored.
 */

function view(q: QuarantinedItem): Record<string, unknown> {
  return {
    id: q.id,
    receivedAt: new Date(q.receivedAt).toISOString(),
    count: q.count,
    lastSeenAt: new Date(q.lastSeenAt).toISOString(),
    source: q.source,
    route: q.route,
    problems: parseOrText(q.problems),
    item: parseOrText(q.item),
  };
}

export function listQuarantine(queries: AdminQueryThread, pageMax: number) {
  return async ({ query }: AdminRequest): Promise<AdminAnswer> => {
    const { total, items } = await queries.run('quarantine', pageOf(query, pageMax));
    return { status: 200, body: { quarantine: items.map(view) }, headers: pageHeaders(total, pageMax) };
  };
}

export function replayQuarantine(queries: AdminQueryThread, spool: Spool) {
  return async (): Promise<AdminAnswer> => {
    const { summary, added } = await queries.run('replayQuarantine', {});
    spool.appendedElsewhere(new Map(added));
    return { status: 200, body: summary };
  };
}
