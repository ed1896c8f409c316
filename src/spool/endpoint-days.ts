/**
 * Reports received per BRT day and endpoint (the `endpoint_days` table): counted as they are appended, so that the
 * admin API's per-endpoint figures never scan the log. A commit adds up its reports in memory (one Map lookup per
 * report, most of a commit sharing a day) and upserts each (day, endpoint) once, as the `days` counters do. Like
 * them they outlive pruning; a replayed dead letter is counted once, as the copy it became. Counted from schema 5 on:
 * a file migrated from an earlier one counts from the first whole day after the migration (`counted_since`).
 */

/** The report's `endpoint` field as the counters key it: '' when it has none. */
export function endpointIn(json: string): string {
  try {
    const endpoint = (JSON.parse(json) as { endpoint?: unknown } | null)?.endpoint;
    return typeof endpoint === 'string' ? endpoint : '';
  } catch {
    return '';
  }
}

/** The endpoint a report is counted under: the one it came with, or (callers that give none) the one in its JSON. */
export function endpointOf(report: { endpoint?: string | undefined; json: string }): string {
  return report.endpoint ?? endpointIn(report.json);
}

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
