import { DEAD_LETTER_REASONS, replayDeadLetterReports, type DeadLetterFilter } from '../ingest/replay-dead-letters.js';
import type { ReplayRules } from '../ingest/replay-quarantine.js';
import { parseOrText } from '../json-text.js';
import { pageHeaders, pageOf } from '../paging.js';
import type { DeadLetter, Spool } from '../spool/spool.js';
import { instant, oneOf } from './params.js';
import type { AdminAnswer, AdminRequest } from './server.js';

/**
 * GET /v1/deadletters?reason=&since=&_offset=&_limit= (newest first, paged) and POST /v1/deadletters/replay?reason=
 * &since=: reports that will not be sent again, and storing those that pass today's validation again — the same
 * functions as `pcm-sidecar deadletter list|replay`, with the same filters.
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

export function listDeadLetters(spool: Spool, pageMax: number) {
  return ({ query }: AdminRequest): AdminAnswer => {
    const filter = filterOf(query);
    const { offset, limit } = pageOf(query, pageMax);
    const total = spool.countDeadLetters(filter);
    const rows = total <= offset ? [] : spool.deadLetters({ ...filter, limit, offset });
    return { status: 200, body: { deadLetters: rows.map(view) }, headers: pageHeaders(total, pageMax) };
  };
}

export function replayDeadLetters(spool: Spool, rules: () => ReplayRules) {
  return ({ query }: AdminRequest): AdminAnswer => ({ status: 200, body: replayDeadLetterReports(spool, rules(), filterOf(query)) });
}
