/**
 * Per BRT day and endpoint, reports received, delivered, discarded and too old (the `endpoint_days` table): counted
 * as reports are appended (received) and as the ledger records the PCM's answers (the rest, in the transaction that
 * counts the same answers in `days`), so the admin API's per-endpoint figures never scan the log and outlive
 * pruning. A commit adds up its reports in memory and upserts each (day, endpoint) once, as the `days` counters do;
 * a replayed dead letter is counted once, as the copy it became. Counted from schema 5 on: a file migrated from an
 * earlier one counts from the first whole day after the migration (`counted_since`).
 *
 * The endpoint strings come from the gateways: ingest counts a catalogue template under itself and every other
 * endpoint under UNLISTED_ENDPOINT (NewReport.endpoint), so the table holds at most the catalogue's rows per day.
 * An answer is counted under the key its report was received under: the endpoint in its body where that day has a
 * row for it, UNLISTED_ENDPOINT otherwise (COUNTED_KEY).
 */

/** The key of every endpoint that is not a catalogue template. */
export const UNLISTED_ENDPOINT = '(unlisted)';
/** Longest endpoint counted as it is (ingest counts only templates; callers that give none are counted as read). */
export const MAX_ENDPOINT_CHARS = 200;

/** An `endpoint` value read from a report as the counters key it: '' when it is no string, cut to its longest. */
export function endpointKey(value: unknown): string {
  return typeof value === 'string' ? value.slice(0, MAX_ENDPOINT_CHARS) : '';
}

/** The report's `endpoint` field as the counters key it when no key was given. */
export function endpointIn(json: string): string {
  try {
    return endpointKey((JSON.parse(json) as { endpoint?: unknown } | null)?.endpoint);
  } catch {
    return '';
  }
}

const ENDPOINT_MEMBER = '"endpoint":"';

/**
 * The top-level `endpoint` of a stored report, read from its text: the log holds the sidecar's own serialisation
 * (src/report/validate.ts), where `endpoint` comes before additionalInfo, the only object a report nests, and a
 * quote inside a string is escaped, so the first `"endpoint":"` is the report's own. A value with escapes, or a body
 * where the member is not found, is parsed (rare); what endpointIn() would give in every case.
 */
export function endpointInText(body: string): string {
  const at = body.indexOf(ENDPOINT_MEMBER);
  if (at < 0) return endpointIn(body);
  const start = at + ENDPOINT_MEMBER.length;
  const end = body.indexOf('"', start);
  if (end < 0) return endpointIn(body);
  const value = body.slice(start, end);
  return value.includes('\\') ? endpointIn(body) : endpointKey(value);
}

/**
 * The `endpoint` in a log row's body, in SQL: read by SQLite with the row, so a leased body is never parsed in
 * JavaScript; a body that is not JSON has none (rather than failing the statement). Read as endpointKey() reads it.
 */
export function endpointInSql(body: string): string {
  return `CASE WHEN json_valid(${body}) THEN json_extract(${body}, '$.endpoint') END`;
}

/** The endpoint a report is counted under: the key it came with, or (callers that give none) the one in its JSON. */
export function endpointOf(report: { endpoint?: string | undefined; json: string }): string {
  return report.endpoint === undefined ? endpointIn(report.json) : endpointKey(report.endpoint);
}

/**
 * SQL for the key an answer is counted under, from `k(day, endpoint)` (a CTE of the report's day and the endpoint in
 * its body, cut to MAX_ENDPOINT_CHARS): that endpoint where the day counted it as received, else UNLISTED_ENDPOINT.
 */
export const COUNTED_KEY = `(SELECT CASE WHEN EXISTS (SELECT 1 FROM endpoint_days e WHERE e.day = k.day AND e.endpoint = k.endpoint)
  THEN k.endpoint ELSE '${UNLISTED_ENDPOINT}' END FROM k)`;

/** Reports of one commit per endpoint and day. */
export class EndpointTally {
  private readonly byEndpoint = new Map<string, Map<number, number>>();

  add(endpoint: string, day: number): void {
    let days = this.byEndpoint.get(endpoint);
    if (days === undefined) {
      days = new Map();
      this.byEndpoint.set(endpoint, days);
    }
    days.set(day, (days.get(day) ?? 0) + 1);
  }

  *entries(): Generator<[day: number, endpoint: string, received: number]> {
    for (const [endpoint, days] of this.byEndpoint) for (const [day, n] of days) yield [day, endpoint, n];
  }
}

/** Answers of one ledger change per day and endpoint: [delivered, discarded, too old]. */
export class AnswerTally {
  // Per day, per endpoint: a lookup of the endpoint string alone per row (no key built per row: this runs for every
  // report the PCM answers, on the event loop).
  private readonly byDay = new Map<number, Map<string, [number, number, number]>>();

  add(day: number, endpoint: string, kind: 0 | 1 | 2): void {
    let endpoints = this.byDay.get(day);
    if (endpoints === undefined) this.byDay.set(day, (endpoints = new Map()));
    let counts = endpoints.get(endpoint);
    if (counts === undefined) endpoints.set(endpoint, (counts = [0, 0, 0]));
    counts[kind]++;
  }

  *entries(): Generator<[day: number, endpoint: string, delivered: number, discarded: number, tooOld: number]> {
    for (const [day, endpoints] of this.byDay) for (const [endpoint, [d, x, t]] of endpoints) yield [day, endpoint, d, x, t];
  }
}
