import { excerpt, type ReportProblem } from '../report/problem.js';
import { isSecretKey, REDACTED } from '../report/secrets.js';
import { boundedJson, redactText } from './redact.js';

/**
 * What is kept and shown of a refused or remarked item: the quarantine's text of it and the problems as answers and
 * the quarantine carry them — bounded in size and with every secret redacted. Ingest and `quarantine replay` both
 * use these, so an item refused again looks the same and folds into its row.
 */

/** A problem as the gateway sees it in an answer and the quarantine keeps it. */
export type ItemProblem = Pick<ReportProblem, 'field' | 'rule' | 'message'> & { value?: unknown };

const MAX_PROBLEMS_PER_ITEM = 20;
/** Quarantine keeps at most this much of one refused item, so refused traffic cannot crowd out the spool. */
export const MAX_QUARANTINED_CHARS = 64 * 1024;
const MAX_VALUE_CHARS = 200;

/** Text that is no JSON (or not known to be), as the quarantine keeps it. */
export function keepableText(text: string): string {
  // A copy, also when short: the text is a piece of the whole body, which a view of it would keep alive.
  const redacted = redactText(JSON.parse(JSON.stringify(text.length > MAX_QUARANTINED_CHARS ? text.slice(0, MAX_QUARANTINED_CHARS) : text)) as string);
  return text.length > MAX_QUARANTINED_CHARS ? `${redacted}… [cut: ${text.length} characters received]` : redacted;
}

/** A parsed item as the quarantine keeps it: secrets redacted, size capped, never serialised whole to be cut. */
export function quarantineText(value: unknown): string {
  const { text, cut } = boundedJson(value, MAX_QUARANTINED_CHARS);
  return cut ? `${text}… [cut at ${MAX_QUARANTINED_CHARS} characters]` : text;
}

/** Problems as the gateway sees them: at most 20 per item, long values cut, secrets redacted. */
export function slim(problems: readonly ReportProblem[]): ItemProblem[] {
  return problems.slice(0, MAX_PROBLEMS_PER_ITEM).map(({ field, rule, message: raw, value }) => {
    // A secret never reaches an answer or the quarantine: not by its field's name, nor inside a value or a message.
    const message = redactText(raw);
    if (value === undefined) return { field, rule, message };
    if (isSecretKey(field.slice(field.lastIndexOf('.') + 1))) return { field, rule, message, value: REDACTED };
    if (typeof value === 'string') {
      const text = redactText(excerpt(value, MAX_VALUE_CHARS + 1));
      return { field, rule, message, value: value.length > MAX_VALUE_CHARS ? `${excerpt(text, MAX_VALUE_CHARS)}… (${value.length} characters)` : text };
    }
    if (value === null || typeof value !== 'object') return { field, rule, message, value };
    // A bounded, redacted view: a wide value is never serialised whole to be cut afterwards.
    const { text, cut } = boundedJson(value, MAX_VALUE_CHARS);
    return { field, rule, message, value: cut ? `${text}… (cut)` : (JSON.parse(text) as unknown) };
  });
}

/** The quarantine's `problems` column for a refused item: what refused it, then its remarks. */
export function problemsText(problems: readonly ReportProblem[], remarks: readonly ReportProblem[] = []): string {
  return JSON.stringify(slim([...problems, ...remarks]));
}
