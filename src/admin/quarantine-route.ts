import { replayQuarantined, type ReplayRules } from '../ingest/replay-quarantine.js';
import { parseOrText } from '../json-text.js';
import { pageHeaders, pageOf } from '../paging.js';
import type { QuarantinedItem, Spool } from '../spool/spool.js';
import type { AdminAnswer, AdminRequest } from './server.js';

/**
 * GET /v1/quarantine (oldest first, paged) and POST /v1/quarantine/replay: what ingest refused, and validating it
 * again with the running rules; what passes moves to the spool — the same function as `pcm-sidecar quarantine replay`.
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

export function listQuarantine(spool: Spool, pageMax: number) {
  return ({ query }: AdminRequest): AdminAnswer => {
    const { offset, limit } = pageOf(query, pageMax);
    const total = spool.backlog().quarantined;
    const items = total <= offset ? [] : spool.quarantined(0, limit, offset);
    return { status: 200, body: { quarantine: items.map(view) }, headers: pageHeaders(total, pageMax) };
  };
}

export function replayQuarantine(spool: Spool, rules: () => ReplayRules) {
  return (): AdminAnswer => ({ status: 200, body: replayQuarantined(spool, rules()) });
}
