import type { ReportRules } from '../report/context.js';
import { spoolEntry } from '../report/validate.js';
import type { NewReport, QuarantinedItem, Spool } from '../spool/spool.js';
import { problemsText } from './quarantine-view.js';
import { ingestRoutes } from './routes.js';

/**
 * Replaying the quarantine: every item ingest refused is validated again with the rules given (today's catalogue and
 * settings); what passes moves to the spool. One function for `pcm-sidecar quarantine replay` (another process next
 * to the sidecar) and POST /v1/quarantine/replay (the running sidecar's own spool and rules).
 */

const PAGE = 500;

/** The rules a replay validates with, and the paths that are not Open Finance calls (PCM_INGEST_SKIP_PATHS). */
export interface ReplayRules {
  rules: ReportRules;
  skipPaths: RegExp | null;
}

export interface ReplaySummary {
  examined: number;
  moved: number;
  duplicates: number;
  stillFailing: number;
  /** Items that the skip rule (PCM_INGEST_SKIP_PATHS) now says are not Open Finance calls: removed. */
  skipped: number;
}

/** Quarantined items oldest first, read a page at a time. */
export function* quarantinedItems(spool: Spool, limit = Number.POSITIVE_INFINITY): Generator<QuarantinedItem> {
  let after = 0;
  let seen = 0;
  while (seen < limit) {
    const page = spool.quarantined(after, Math.min(PAGE, limit - seen));
    if (page.length === 0) return;
    for (const item of page) yield item;
    seen += page.length;
    after = (page[page.length - 1] as QuarantinedItem).id;
  }
}

/** Re-validates every quarantined item; what passes moves to the spool, the rest get their current problems. */
export function replayQuarantined(spool: Spool, { rules, skipPaths }: ReplayRules, now = Date.now()): ReplaySummary {
  const routes = ingestRoutes(rules.build, { skipPaths });
  const context = rules.validation(now);
  const summary: ReplaySummary = { examined: 0, moved: 0, duplicates: 0, stillFailing: 0, skipped: 0 };
  let after = 0;
  for (;;) {
    const page = spool.quarantined(after, PAGE);
    if (page.length === 0) return summary;
    after = (page[page.length - 1] as QuarantinedItem).id;
    const moved: { quarantineId: number; report: NewReport }[] = [];
    const failing: { quarantineId: number; problems: string }[] = [];
    const dropped: number[] = [];
    for (const q of page) {
      summary.examined++;
      const toReport = routes[q.route];
      let value: unknown;
      try {
        value = JSON.parse(q.item);
      } catch {
        failing.push({ quarantineId: q.id, problems: q.problems });
        continue;
      }
      const query = new URL(q.source.split(' ')[2] ?? '/', 'http://ingest').searchParams;
      const result = toReport ? toReport(value, context, query) : null;
      if (result?.ok) {
        moved.push({ quarantineId: q.id, report: spoolEntry(result) });
      } else if (result && 'skipped' in result) {
        dropped.push(q.id);
      } else {
        // The same view of the problems ingest writes, so the item folds with its next repeat.
        const problems = result ? problemsText(result.problems, result.findings ?? []) : problemsText([{ field: '', rule: 'route', message: `unknown route ${q.route}` }]);
        failing.push({ quarantineId: q.id, problems });
      }
    }
    const outcome = spool.promote(moved, failing, dropped);
    summary.skipped += dropped.length;
    summary.moved += outcome.filter((o) => o === 'stored').length;
    summary.duplicates += outcome.filter((o) => o === 'duplicate').length;
    summary.stillFailing += failing.length;
  }
}
