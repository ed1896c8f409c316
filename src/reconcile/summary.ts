import { dayLabel } from '../spool/days.js';
import { RECORDED_STATUSES, type RecordedStatus } from './status.js';
import { SAMPLED, type DayRow, type TallyRow } from './store.js';

/**
 * The reconciliation figures per day (BRT day of the report's timestamp) and endpoint, as /v1/status shows them:
 * what was asked, the last answer of each report by status, and the estimate for all of the day's accepted reports —
 * each count divided by the day's sample rate (reports taken / reports considered), shown beside it.
 */

export type StatusCounts = Partial<Record<RecordedStatus, number>>;

export interface EndpointFigures {
  endpoint: string;
  /** Reports of this endpoint taken into the sample. */
  sampled: number;
  /** … of which the PCM has answered at least once. */
  answered: number;
  /** Their last answer, by status. */
  byStatus: StatusCounts;
  /** byStatus ÷ the day's sampleRate: the estimate for every accepted report of the endpoint. */
  estimated: StatusCounts;
}

export interface DayFigures {
  day: string;
  /** Accepted private reports of the day the sample saw, taken or not. */
  considered: number;
  sampled: number;
  /** sampled ÷ considered: what the estimates divide by. */
  sampleRate: number;
  answered: number;
  byStatus: StatusCounts;
  estimated: StatusCounts;
  /** (UNPAIRED + PAIRED_INCONSISTENT) ÷ answers with one of the four reconciliation statuses; §10 wants ≤ 1 %. Null until one is answered. */
  divergentShare: number | null;
  endpoints: EndpointFigures[];
}

const round = (value: number): number => Math.round(value * 1000) / 1000;
const RECONCILED: readonly RecordedStatus[] = ['PAIRED', 'PAIRED_INCONSISTENT', 'UNPAIRED', 'SINGLE'];

function estimate(counts: StatusCounts, rate: number): StatusCounts {
  const out: StatusCounts = {};
  for (const status of RECORDED_STATUSES) {
    const n = counts[status];
    if (n !== undefined) out[status] = rate > 0 ? round(n / rate) : n;
  }
  return out;
}

const total = (counts: StatusCounts): number => Object.values(counts).reduce((a, b) => a + b, 0);

export function dayFigures(days: readonly DayRow[], tallies: readonly TallyRow[]): DayFigures[] {
  const byDay = new Map<number, Map<string, { sampled: number; byStatus: StatusCounts }>>();
  for (const t of tallies) {
    let endpoints = byDay.get(t.day);
    if (!endpoints) byDay.set(t.day, (endpoints = new Map()));
    let figures = endpoints.get(t.endpoint);
    if (!figures) endpoints.set(t.endpoint, (figures = { sampled: 0, byStatus: {} }));
    if (t.status === SAMPLED) figures.sampled += t.n;
    else figures.byStatus[t.status as RecordedStatus] = t.n;
  }
  return days.map((d) => {
    const sampleRate = d.considered > 0 ? Math.min(1, d.sampled / d.considered) : 1;
    const endpoints = [...(byDay.get(d.day) ?? new Map<string, { sampled: number; byStatus: StatusCounts }>())].map(([endpoint, f]) => ({
      endpoint,
      sampled: f.sampled,
      answered: total(f.byStatus),
      byStatus: f.byStatus,
      estimated: estimate(f.byStatus, sampleRate),
    }));
    const byStatus: StatusCounts = {};
    for (const e of endpoints) for (const [status, n] of Object.entries(e.byStatus)) byStatus[status as RecordedStatus] = (byStatus[status as RecordedStatus] ?? 0) + n;
    const reconciled = RECONCILED.reduce((sum, s) => sum + (byStatus[s] ?? 0), 0);
    const divergent = (byStatus.UNPAIRED ?? 0) + (byStatus.PAIRED_INCONSISTENT ?? 0);
    return {
      day: dayLabel(d.day),
      considered: d.considered,
      sampled: d.sampled,
      sampleRate,
      answered: total(byStatus),
      byStatus,
      estimated: estimate(byStatus, sampleRate),
      divergentShare: reconciled > 0 ? round(divergent / reconciled) : null,
      endpoints,
    };
  });
}
