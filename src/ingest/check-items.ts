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
  | { index: number; status: 'accepted' | 'duplicate'; repairs?: string[]; warnings?: ItemProblem[] }
  | { index: number; status: 'rejected'; errors: ItemProblem[]; warnings?: ItemProblem[] }
  | { index: number; status: 'skipped'; reason: string };

/** What the items of one body became, before the spool's verdict (stored or duplicate). Plain data: it can cross threads. */
export interface CheckedBody {
  reports: NewReport[];
  rejected: RejectedItem[];
  results: ItemResult[];
  /** For each report, the index of its result. */
  storedAt: number[];
  /** For each report, the rules of its quality findings (counted once it is stored). */
  findingRules: string[][];
  skipped: number;
  /** Items whose result carries warnings, whatever their status. */
  warned: number;
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
  const out: CheckedBody = { reports: [], rejected: [], results: [], storedAt: [], findingRules: [], skipped: 0, warned: 0 };
  items.forEach((item, index) => {
    if (!item.ok) {
      const errors = [{ field: '', rule: 'json', message: `Invalid payload format: ${item.error}` }];
      out.results.push({ index, status: 'rejected', errors });
      out.rejected.push({ source, route, item: keepableText(item.text), problems: problemsText(errors) });
      return;
    }
    const checked = withinSize(toReport(item.value, context, query), maxReportBytes);
    if ('skipped' in checked) {
      out.skipped++;
      out.results.push({ index, status: 'skipped', reason: checked.skipped });
      return;
    }
    if (!checked.ok) {
      const remarks = checked.findings ?? [];
      if (remarks.length > 0) out.warned++;
      out.results.push({ index, status: 'rejected', errors: slim(checked.problems), ...(remarks.length > 0 ? { warnings: slim(remarks) } : {}) });
      out.rejected.push({ source, route, item: quarantineText(item.value), problems: problemsText(checked.problems, remarks) });
      return;
    }
    out.storedAt.push(out.results.length);
    if (checked.findings.length > 0) out.warned++;
    out.results.push({
      index,
      status: 'accepted',
      ...(checked.repairs.length > 0 ? { repairs: checked.repairs } : {}),
      ...(checked.findings.length > 0 ? { warnings: slim(checked.findings) } : {}),
    });
    out.reports.push(spoolEntry(checked));
    out.findingRules.push(checked.findings.map((f) => f.rule));
  });
  return out;
}
