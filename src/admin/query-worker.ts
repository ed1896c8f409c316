import Database from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';
import { skipPathsOf } from '../config/defaults.js';
import { replayDeadLetterReports } from '../ingest/replay-dead-letters.js';
import { replayQuarantined, type ReplayRules } from '../ingest/replay-quarantine.js';
import { reportRules } from '../report/context.js';
import { Spool, type AddedRows } from '../spool/spool.js';
import { SpoolQueries } from '../spool/queries.js';
import type { AdminTaskKind, AdminTasks, AdminWorkerData, AdminWorkerMessage, ReplayRulesData, WireError } from './query-task.js';

/**
 * The admin API's query thread (query-thread.ts): its own read-only connection to the spool for the questions, so
 * that a scan of days of reports never holds the sidecar's event loop. A replay opens the spool read-write for its
 * run, as `pcm-sidecar quarantine replay` does next to a running sidecar: waiting for the writer thread's lock (busy
 * timeout) then holds only this thread, and the de-duplication window and lanes see its rows as another process's.
 */

function errorOf(err: unknown): WireError {
  const e = err as { name?: string; message?: string; code?: string };
  return { name: e.name ?? 'Error', message: e.message ?? String(err), ...(e.code ? { code: e.code } : {}) };
}

const port = parentPort;
if (!port) throw new Error('query-worker.ts runs as a worker thread');
const data = workerData as AdminWorkerData;
let rulesData: ReplayRulesData = data.rules;
let rules: ReplayRules | null = null;
let queries: SpoolQueries;
let db: Database.Database;
try {
  // A file: an in-memory spool is not the sidecar's, and a read-only open would make an empty one.
  if (data.spool.path === ':memory:') throw new Error('the admin API reads the spool file; an in-memory spool has none');
  db = new Database(data.spool.path, { readonly: true, fileMustExist: true });
  db.pragma('busy_timeout = 5000');
  queries = new SpoolQueries(db);
} catch (err) {
  port.postMessage({ type: 'unusable', error: errorOf(err) });
  process.exit(1);
}

function replayRules(): ReplayRules {
  rules ??= { rules: reportRules(rulesData.rulesInput, rulesData.catalog), skipPaths: skipPathsOf(rulesData.skipPaths) };
  return rules;
}

/** A replay on a read-write spool of its own, closed after it; returns what it appended per lane. */
function replaying<T>(run: (spool: Spool, rules: ReplayRules) => T): { summary: T; added: [string, AddedRows][] } {
  const { path, sync, maxBytes, dedupWindow, lateArrivalMs } = data.spool;
  // Leases are the running sidecar's: this one must not take them back.
  const spool = new Spool({ path, sync, maxBytes, dedupWindow, lateArrivalMs, guest: true });
  const added = new Map<string, AddedRows>();
  spool.onCommitted((rows) => {
    for (const [lane, r] of rows) {
      const sum = added.get(lane) ?? { rows: 0, bytes: 0 };
      added.set(lane, { rows: sum.rows + r.rows, bytes: sum.bytes + r.bytes });
    }
  });
  try {
    return { summary: run(spool, replayRules()), added: [...added] };
  } finally {
    void spool.close();
  }
}

const answers: { [K in AdminTaskKind]: (ask: AdminTasks[K]['ask']) => AdminTasks[K]['answer'] } = {
  reports: ({ filter, page, pending }) => queries.within(data.timeLimitMs, () => queries.reports(filter, page, pending)),
  interaction: ({ fapiInteractionId }) => queries.within(data.timeLimitMs, () => queries.interaction(fapiInteractionId)),
  endpointDays: ({ fromDay }) => queries.within(data.timeLimitMs, () => queries.endpointDays(fromDay)),
  quarantine: ({ offset, limit }) =>
    queries.within(data.timeLimitMs, () => {
      const total = queries.quarantineCount();
      return { total, items: total <= offset ? [] : queries.quarantined(0, limit, offset) };
    }),
  deadLetters: ({ filter, offset, limit }) =>
    queries.within(data.timeLimitMs, () => {
      const total = queries.countDeadLetters(filter);
      return { total, rows: total <= offset ? [] : queries.deadLetters({ ...filter, limit, offset }) };
    }),
  replayQuarantine: () => replaying((spool, r) => replayQuarantined(spool, r)),
  replayDeadLetters: ({ filter }) => replaying((spool, r) => replayDeadLetterReports(spool, r, filter)),
};

function answer<K extends AdminTaskKind>(kind: K, ask: AdminTasks[K]['ask']): AdminTasks[K]['answer'] {
  return answers[kind](ask);
}

port.on('message', (message: AdminWorkerMessage) => {
  if (message.type === 'close') {
    db.close();
    port.close();
    return;
  }
  if (message.type === 'rules') {
    // Built again at the next replay; one under way finished with the rules it had.
    rulesData = message.rules;
    rules = null;
    return;
  }
  try {
    port.postMessage({ type: 'done', id: message.id, answer: answer(message.kind, message.ask) });
  } catch (err) {
    port.postMessage({ type: 'failed', id: message.id, error: errorOf(err) });
  }
});
port.postMessage({ type: 'ready' });
