import { skipPathsOf, type Config } from '../config/schema.js';
import { ingestRoutes } from '../ingest/routes.js';
import { loadCatalog } from '../report/catalog.js';
import { reportRules, rulesInputOf } from '../report/context.js';
import { spoolEntry } from '../report/validate.js';
import { opendataOrgOf } from '../sender/sender.js';
import type { DeadLetter, DeadLetterReason, NewReport, Spool } from '../spool/spool.js';

/** `pcm-sidecar deadletter list|replay`: reports that will not be sent again, and sending them again after a fix. */

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

export function describeDeadLetter(d: DeadLetter): string {
  const replayed = d.replayedAt === null ? '' : ` [replayed ${new Date(d.replayedAt).toISOString()}]`;
  return `#${d.id} ${new Date(d.at).toISOString()} ${d.reason} ${d.lane} report of ${new Date(d.reportAt).toISOString()}: ${d.message ?? ''}${replayed}`;
}

export interface DeadLetterReplaySummary {
  examined: number;
  stored: number;
  /** Already in the spool under their new key (replayed by another run at the same time). */
  duplicates: number;
  /** Refused by today's validation (a too-old report, say): left as they are. */
  stillFailing: number;
}

/**
 * Validates each selected dead letter again as a `/v1/reports` item with today's catalogue and settings; those that
 * pass are stored again (and marked replayed), the others stay dead letters.
 */
export function replayDeadLetters(spool: Spool, config: Config, filter: DeadLetterFilter, now = Date.now()): DeadLetterReplaySummary {
  const rules = reportRules(rulesInputOf(config, opendataOrgOf(config)), loadCatalog(config.catalog.file));
  const toReport = ingestRoutes(rules.build, { skipPaths: skipPathsOf(config.ingest.skipPaths) })['/v1/reports'];
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
