import { DEAD_LETTER_REASONS, type DeadLetterFilter } from '../ingest/replay-dead-letters.js';
import { parseOrText } from '../json-text.js';
import { pageHeaders, pageOf } from '../paging.js';
import type { DeadLetter, Spool } from '../spool/spool.js';
import { instant, oneOf } from './params.js';
import type { AdminQueryThread } from './query-thread.js';
import type { AdminAnswer, AdminRequest } from './server.js';

/**
 * GET /v1/deadletters?reason=&since=&_offset=&_limit= (newest first, paged) and POST /v1/deadletters/replay?reason=
 * &since=: reports that will not be sent again, and storing those that pass today's validation again — the same
 * functions as `pcm-sidecar deadletter list|replay`, with the same filters, on the admin query thread.
 */

function filterOf(query: URLSearchParams): DeadLetterFilter {
  return { reason: oneOf(query, 'reason', DEAD_LETTER_REASONS), since: instant(query, 'since') };
}

function view(d: DeadLetter): Record<string, unknown> {
  return {
    id: d.id,
    lane: d.lane,
    reason: d.reason,
    message: d.message,
    at: new Date(d.at).toISOString(),
    timestamp: new Date(d.reportAt).toISOString(),
    replayedAt: d.replayedAt === null ? null : new Date(d.replayedAt).toISOString(),
    report: parseOrText(d.body),
  };
}

export function listDeadLetters(queries: AdminQueryThread, pageMax: number) {
  return async ({ query }: AdminRequest): Promise<AdminAnswer> => {
    const filter = filterOf(query);
    const { total, rows } = await queries.run('deadLetters', { filter, ...pageOf(query, pageMax) });
    return { status: 200, body: { deadLetters: rows.map(view) }, headers: pageHeaders(total, pageMax) };
  };
}

export function replayDeadLetters(queries: AdminQueryThread, spool: Spool) {
  return async ({ query }: AdminRequest): Promise<AdminAnswer> => {
    const { summary, added } = await queries.run('replayDeadLetters', { filter: filterOf(query) });
    spool.appendedElsewhere(new Map(added));
    return { status: 200, body: summary };
  };
}
