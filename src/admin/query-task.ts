import type { DeadLetterFilter, DeadLetterReplaySummary } from '../ingest/replay-dead-letters.js';
import type { ReplaySummary } from '../ingest/replay-quarantine.js';
import type { ParseWorkerData } from '../ingest/parse-task.js';
import type { AddedRows, DeadLetter, EndpointDays, QuarantinedItem, Range, ReportFilter, StoredReport, SyncMode } from '../spool/spool.js';

/**
 * What the admin API asks its query thread (query-worker.ts) and what comes back: plain data both ways, so that it
 * crosses threads by structured clone. One entry per question: what is asked, and the answer.
 */
export interface AdminTasks {
  /** `pending`: the running sidecar's pending ranges (Spool.pendingRanges), so the thread need not look for them. */
  reports: { ask: { filter: ReportFilter; page: { offset: number; limit: number }; pending?: Range[] }; answer: { total: number; rows: StoredReport[] } };
  interaction: { ask: { fapiInteractionId: string }; answer: StoredReport[] };
  endpointDays: { ask: { fromDay: number }; answer: EndpointDays };
  quarantine: { ask: { offset: number; limit: number }; answer: { total: number; items: QuarantinedItem[] } };
  deadLetters: { ask: { filter: DeadLetterFilter; offset: number; limit: number }; answer: { total: number; rows: DeadLetter[] } };
  /** Replays answer with the rows they appended per lane, for the running sidecar's sender to hear of them. */
  replayQuarantine: { ask: Record<string, never>; answer: { summary: ReplaySummary; added: [string, AddedRows][] } };
  replayDeadLetters: { ask: { filter: DeadLetterFilter }; answer: { summary: DeadLetterReplaySummary; added: [string, AddedRows][] } };
}

export type AdminTaskKind = keyof AdminTasks;

/** The inputs the replays build their rules from: the same as the parse threads' (the running catalogue and rules). */
export type ReplayRulesData = ParseWorkerData;

/** How the thread opens the spool: read-only for questions; a replay opens it read-write, as the running sidecar does. */
export interface AdminSpoolData {
  path: string;
  sync: SyncMode;
  maxBytes?: number | undefined;
  dedupWindow?: number | undefined;
  lateArrivalMs?: number | undefined;
}

export interface AdminWorkerData {
  spool: AdminSpoolData;
  rules: ReplayRulesData;
  /** A question still reading past this stops itself (SpoolQueries.within); the main thread's limit backs it up. */
  timeLimitMs: number;
}

export type AdminWorkerMessage =
  | { type: 'task'; id: number; kind: AdminTaskKind; ask: AdminTasks[AdminTaskKind]['ask'] }
  | { type: 'rules'; rules: ReplayRulesData }
  | { type: 'close' };

export interface WireError {
  name: string;
  message: string;
  code?: string;
}

export type AdminWorkerReply =
  | { type: 'ready' }
  | { type: 'unusable'; error: WireError }
  | { type: 'done'; id: number; answer: AdminTasks[AdminTaskKind]['answer'] }
  | { type: 'failed'; id: number; error: WireError };
