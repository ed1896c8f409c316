import { spoolEntry, withinSize, type ValidationContext } from '../report/validate.js';
import type { NewReport, RejectedItem } from '../spool/spool.js';
import type { BodyItem } from './body.js';
import { keepableText, problemsText, quarantineText, slim, type ItemProblem } from './quarantine-view.js';
import type { ToReport } from './routes.js';

/**
 * One item of an answer. `warnings` are quality findings (src/report/rules.ts): the report was stored and will be
 * sent; the PCM may open a data-quality ticket for it.
 */
export type ItemResult =
  | { index: number; status: 'accepted' | 'duplicate'; repairs?: readonly string[]; warnings?: ItemProblem[] }
  | { index: number; status: 'rejected'; errors: ItemProblem[]; warnings?: ItemProblem[] }
  | { index: number; status: 'skipped'; reason: string };

/**
 * What the items of one body became, before the spool's verdict (stored or duplicate). Plain data: it can cross
 * threads. A clean item costs nothing here beyond its report: results are kept only for the items that have
 * something to say, and the full list is built (fullResults) only for an answer that lists it.
 */
export interface CheckedBody {
  reports: NewReport[];
  rejected: RejectedItem[];
  /** How many items the body held. */
  items: number;
  /** The results of items that are not a plain stored report (refused, skipped, repaired, with warnings), in order. */
  results: ItemResult[];
  /** For each report, the index of its item. */
  storedAt: number[];
  /** Reports with repairs or quality findings, counted once stored (the others need nothing after the commit). */
  notable: NotableReport[];
  skipped: number;
  /** Items whose result carries warnings, whatever their status. */
  warned: number;
}

export interface NotableReport {
  /** Index into `reports`. */
  report: number;
  repairs: readonly string[];
  /** The rules of its quality findings. */
  rules: string[];
  fapiInteractionId: string | null;
}

/** Builds and validates every item of a parsed body: pure, so it runs on the event loop or in a parse thread alike. */
export function checkItems(
  items: readonly BodyItem[],
  toReport: ToReport,
  context: ValidationContext,
  query: URLSearchParams,
  where: { source: string; route: string; maxReportBytes: number },
): CheckedBody {
  const { source, route, maxReportBytes } = where;
  const out: CheckedBody = { reports: [], rejected: [], items: items.length, results: [], storedAt: [], notable: [], skipped: 0, warned: 0 };
  for (let index = 0; index < items.length; index++) {
    const item = items[index] as BodyItem;
    if (!item.ok) {
      const errors = [{ field: '', rule: 'json', message: `Invalid payload format: ${item.error}` }];
      out.results.push({ index, status: 'rejected', errors });
      out.rejected.push({ source, route, item: keepableText(item.text), problems: problemsText(errors) });
      continue;
    }
    const checked = withinSize(toReport(item.value, context, query), maxReportBytes);
    if ('skipped' in checked) {
      out.skipped++;
      out.results.push({ index, status: 'skipped', reason: checked.skipped });
      continue;
    }
    if (!checked.ok) {
      const remarks = checked.findings ?? [];
      if (remarks.length > 0) out.warned++;
      out.results.push({ index, status: 'rejected', errors: slim(checked.problems), ...(remarks.length > 0 ? { warnings: slim(remarks) } : {}) });
      out.rejected.push({ source, route, item: quarantineText(item.value), problems: problemsText(checked.problems, remarks) });
      continue;
    }
    const found = checked.findings.length > 0;
    if (found) out.warned++;
    if (found || checked.repairs.length > 0) {
      out.notable.push({ report: out.reports.length, repairs: checked.repairs, rules: checked.findings.map((f) => f.rule), fapiInteractionId: checked.fapiInteractionId });
      out.results.push({
        index,
        status: 'accepted',
        ...(checked.repairs.length > 0 ? { repairs: checked.repairs } : {}),
        ...(found ? { warnings: slim(checked.findings) } : {}),
      });
    }
    out.storedAt.push(index);
    out.reports.push(spoolEntry(checked));
  }
  return out;
}

/**
 * One result per item, in order, once the spool has said which reports were duplicates (`outcome`, one per report).
 * A duplicate keeps its warnings (the report as sent has them) but not its repairs (nothing was stored).
 */
export function fullResults(checked: CheckedBody, outcome: readonly ('stored' | 'duplicate')[]): ItemResult[] {
  const { results, storedAt } = checked;
  const out: ItemResult[] = new Array(checked.items);
  let s = 0;
  let r = 0;
  for (let index = 0; index < checked.items; index++) {
    let result: ItemResult = results[s]?.index === index ? (results[s++] as ItemResult) : { index, status: 'accepted' };
    if (storedAt[r] === index) {
      if (outcome[r] === 'duplicate') result = { index, status: 'duplicate', ...('warnings' in result && result.warnings ? { warnings: result.warnings } : {}) };
      r++;
    }
    out[index] = result;
  }
  return out;
}
