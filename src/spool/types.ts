/** What crosses the spool's boundary: written by ingest, leased and answered by the sender. */

export type ReportState = 'pending' | 'inflight' | 'accepted' | 'discarded';
export const REPORT_STATES: readonly ReportState[] = ['pending', 'inflight', 'accepted', 'discarded'];

export type SyncMode = 'full' | 'normal';

export type Stream = 'private' | 'opendata';

/** A sender lane: one organisation's token, one PCM report API. Reports are leased per lane. */
export function laneOf(stream: Stream, orgId: string): string {
  return `${stream}:${orgId}`;
}

/** A lane's organisation and stream, as metrics label them. */
export function laneLabels(lane: string): { org: string; stream: string } {
  const colon = lane.indexOf(':');
  return { org: lane.slice(colon + 1), stream: lane.slice(0, colon) };
}

export interface NewReport {
  stream: Stream;
  orgId: string;
  /** Identity for de-duplication; the window keeps the first 16 bytes of its SHA-256. */
  dedupKey: string;
  fapiInteractionId: string | null;
  /**
   * What the report is counted under per day (endpoint-days.ts): ingest gives its `endpoint` when it is a catalogue
   * template and UNLISTED_ENDPOINT when not. When not given, the `endpoint` in `json` ('' when none).
   */
  endpoint?: string | undefined;
  /** The report's own timestamp (epoch ms): its day for the SLA, and its age limit at the PCM. */
  at?: number | undefined;
  json: string;
  /** Normalisation repairs applied to this report (src/report/normalise.ts), kept for inspection. */
  repairs: readonly string[];
  /** Quality findings sent along with it (JSON list of {field, rule, message}), null when none. */
  findings?: string | null;
}

export interface RejectedItem {
  source: string;
  /** The ingest route it came in on, so a replay knows how to read it again. */
  route: string;
  /** The item as received, re-serialised. */
  item: string;
  problems: string;
}

export interface WriteRequest {
  reports: readonly NewReport[];
  rejected: readonly RejectedItem[];
}

/** Per report of the request, in order: stored now, or already in the spool. */
export type WriteOutcome = ('stored' | 'duplicate')[];

export interface AddedRows {
  rows: number;
  bytes: number;
}

/** Reports one commit appended to one lane: ids up to `lastId` exist now. */
export interface LaneAppend extends AddedRows {
  lane: string;
  no: number;
  lastId: number;
}

/** The answer to a group of write requests, once their transaction has committed. */
export interface CommitResult {
  outcomes: WriteOutcome[];
  appended: LaneAppend[];
  /** Quarantined items a cap deleted in this transaction. */
  evicted: number;
}
