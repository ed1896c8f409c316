import { parseOrText } from '../json-text.js';
import { pageHeaders, pageOf } from '../paging.js';
import { LISTED_STATES, type Range, type StoredReport } from '../spool/spool.js';
import { instant, oneOf, text } from './params.js';
import type { AdminQueryThread } from './query-thread.js';
import type { AdminAnswer, AdminRequest } from './server.js';

/**
 * GET /v1/reports?status=&endpoint=&from=&to=&_offset=&_limit= — reports in the spool, in its order (per lane, as
 * they arrived), paged as seed 003 says — and GET /v1/reports/{fapiInteractionId}, every report with that id.
 * Each report with its state here and, where the PCM answered, its answer: `pcm` (ACCEPTED with its reportId, or
 * DISCARDED with its message); a dead letter with its reason (pcm, refused, too-old) and message. Asked on the admin
 * query thread (query-thread.ts): they read days of reports.
 */

/** Longest endpoint asked for: the catalogue's are far shorter. */
const MAX_ENDPOINT_CHARS = 300;

function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

export function reportView(r: StoredReport): Record<string, unknown> {
  const report = parseOrText(r.body);
  const field = (name: string): unknown => (report !== null && typeof report === 'object' ? (report as Record<string, unknown>)[name] : undefined);
  const pcm =
    r.state === 'delivered'
      ? { status: 'ACCEPTED', reportId: r.reportId, answeredAt: iso(r.answeredAt) }
      : r.state === 'discarded' && r.reason === 'pcm'
        ? { status: 'DISCARDED', reportId: r.reportId, message: r.message, answeredAt: iso(r.answeredAt) }
        : null;
  return {
    id: r.id,
    lane: r.lane,
    orgId: r.orgId,
    stream: r.stream,
    fapiInteractionId: field('fapiInteractionId') ?? null,
    endpoint: field('endpoint') ?? null,
    timestamp: iso(r.reportAt),
    storedAt: iso(r.storedAt),
    state: r.state,
    pcm,
    deadLetter: r.state === 'discarded' ? { reason: r.reason, message: r.message, at: iso(r.answeredAt), replayedAt: iso(r.replayedAt) } : null,
    report,
  };
}

/** `pending`: where the running sidecar's ledger has its pending reports (the totals start from them). */
export function listReports(queries: AdminQueryThread, pageMax: number, pending: () => Range[]) {
  return async ({ query }: AdminRequest): Promise<AdminAnswer> => {
    const filter = {
      status: oneOf(query, 'status', LISTED_STATES),
      endpoint: text(query, 'endpoint', MAX_ENDPOINT_CHARS),
      from: instant(query, 'from'),
      to: instant(query, 'to'),
    };
    const page = pageOf(query, pageMax);
    const { total, rows } = await queries.run('reports', () => ({ filter, page, pending: pending() }));
    return { status: 200, body: { reports: rows.map(reportView) }, headers: pageHeaders(total, pageMax) };
  };
}

export function interactionReports(queries: AdminQueryThread) {
  return async ({ params }: AdminRequest): Promise<AdminAnswer> => {
    const id = params.fapiInteractionId ?? '';
    const rows = await queries.run('interaction', { fapiInteractionId: id });
    if (rows.length === 0) return { status: 404, body: { message: `no report with fapiInteractionId ${id.slice(0, 100)} in the spool` } };
    return { status: 200, body: { reports: rows.map(reportView) } };
  };
}
