import { spoolEntry } from '../report/validate.js';
import type { DeadLetter, DeadLetterReason, NewReport, Spool } from '../spool/spool.js';
import type { ReplayRules } from './replay-quarantine.js';
import { ingestRoutes } from './routes.js';

/**
 * Dead letters (reports that will not be sent again) listed and replayed after a fix: each is validated again as a
 * `/v1/reports` item with the rules given. One function for `pcm-sidecar deadletter list|replay` and for GET
 * /v1/deadletters, POST /v1/deadletters/replay on the admin listener.
 */

const PAGE = 500;
export const DEAD_LETTER_REASONS: readonly DeadLetterReason[] = ['pcm', 'refused', 'too-old'];

export interface DeadLetterFilter {
  reason?: DeadLetterReason | undefined;
  /** Dead letters decided at or after this instant (epoch ms). */
  since?: number | undefined;
}

/** Newest first, in pages; `unreplayed` leaves out those already replayed. */
export function* deadLetters(spool: Spool, filter: DeadLetterFilter, limit = Number.POSITIVE_INFINITY, unreplayed = false): Generator<DeadLetter> {
  let beforeId: number | undefined;
  let seen = 0;
  while (seen < limit) {
    const page = spool.deadLetters({ ...filter, beforeId, unreplayed, limit: Math.min(PAGE, limit - seen) });
    if (page.length === 0) return;
    for (const item of page) yield item;
    seen += page.length;
    beforeId = (page[page.length - 1] as DeadLetter).id;
  }
}

export interface DeadLetterReplaySummary {
  examined: number;
  stored: number;
  /** Already in the spool under their new key (replayed by another run at the same time). */
  duplicates: number;
  /** Refused by today's validation (a too-old report, say): left as they are. */
  stillFailing: number;
}

/** Those that pass are stored again (and marked replayed); the others stay dead letters. */
export function replayDeadLetterReports(spool: Spool, { rules, skipPaths }: ReplayRules, filter: DeadLetterFilter, now = Date.now()): DeadLetterReplaySummary {
  const toReport = ingestRoutes(rules.build, { skipPaths })['/v1/reports'];
  if (!toReport) throw new Error('the /v1/reports route is missing');
  const context = rules.validation(now);
  const summary: DeadLetterReplaySummary = { examined: 0, stored: 0, duplicates: 0, stillFailing: 0 };
  const batch: { deadLetterId: number; report: NewReport }[] = [];
  const flush = (): void => {
    if (batch.length === 0) return;
    for (const outcome of spool.replayDeadLetters(batch.splice(0))) {
      if (outcome === 'stored') summary.stored++;
      else summary.duplicates++;
    }
  };
  // Collected first: replaying marks rows, and paging by id stays stable while they change.
  for (const d of [...deadLetters(spool, filter, Number.POSITIVE_INFINITY, true)]) {
    summary.examined++;
    let value: unknown;
    try {
      value = JSON.parse(d.body);
    } catch {
      summary.stillFailing++;
      continue;
    }
    const result = toReport(value, context, new URLSearchParams());
    if (!result.ok || 'skipped' in result) {
      summary.stillFailing++;
      continue;
    }
    batch.push({ deadLetterId: d.id, report: spoolEntry(result) });
    if (batch.length >= PAGE) flush();
  }
  flush();
  return summary;
}
