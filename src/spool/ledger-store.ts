import type Database from 'better-sqlite3';
import { COUNTED_KEY } from './endpoint-days.js';

/**
 * The ledger's table writes as data: the main thread decides (ledger.ts, spool.ts) and either applies them itself
 * (in-process) or hands them to the writer thread, which applies them in order between its appends. Losing the last
 * of them in a crash costs a resend (a duplicate at the PCM), never a report: a lease not yet recorded is pending
 * at the next start anyway, and an answer not yet recorded makes its batch count as in flight.
 */
export type LedgerOp =
  | ['insertLease', first: number, last: number, at: number]
  | ['deleteLease', first: number]
  | ['resend', first: number, last: number]
  | ['laneCursor', cursor: number, no: number]
  | ['delivery', first: number, last: number, origin: number, at: number, reportIds: string | null]
  | ['discard', id: number, at: number, message: string | null, reason: DeadLetterReason]
  | ['days', day: number, lane: number, delivered: number, onTime: number, discarded: number, tooOld: number]
  /** The same answers per endpoint (endpoint-days.ts): the endpoint in the reports' bodies, cut to its longest. */
  | ['endpointDays', day: number, endpoint: string, delivered: number, discarded: number, tooOld: number]
  | ['answeredLate', first: number, last: number];

/**
 * Why a report is a dead letter: `pcm`, the PCM answered DISCARDED; `refused`, the PCM refused every request that
 * held it until the sender gave up (lane.ts); `too-old`, it passed the PCM's age limit before it could be sent.
 */
export type DeadLetterReason = 'pcm' | 'refused' | 'too-old';

export class LedgerStore {
  private readonly statements;

  constructor(private readonly db: Database.Database) {
    this.statements = {
      insertLease: db.prepare('INSERT INTO leases (first, last, at) VALUES (?, ?, ?)'),
      deleteLease: db.prepare('DELETE FROM leases WHERE first = ?'),
      resend: db.prepare('INSERT INTO resends (first, last) VALUES (?, ?) ON CONFLICT (first) DO UPDATE SET last = max(last, excluded.last)'),
      laneCursor: db.prepare('UPDATE lanes SET cursor = ? WHERE no = ?'),
      delivery: db.prepare('INSERT INTO deliveries (first, last, origin, at, report_ids) VALUES (?, ?, ?, ?, ?)'),
      discard: db.prepare('INSERT OR REPLACE INTO discarded (id, at, message, reason) VALUES (?, ?, ?, ?)'),
      answeredLate: db.prepare('DELETE FROM late WHERE id BETWEEN ? AND ?'),
      days: db.prepare(
        `INSERT INTO days (day, lane, delivered, on_time, discarded, too_old) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET
           delivered = delivered + excluded.delivered, on_time = on_time + excluded.on_time,
           discarded = discarded + excluded.discarded, too_old = too_old + excluded.too_old`,
      ),
      // Only a row the day counted as received: an answer is never counted where its report was not.
      endpointDays: db.prepare(
        `WITH k (day, endpoint) AS (VALUES (?, ?))
         UPDATE endpoint_days SET delivered = delivered + ?, discarded = discarded + ?, too_old = too_old + ?
         WHERE day = (SELECT day FROM k) AND endpoint = ${COUNTED_KEY}`,
      ),
    };
  }

  /** Applies the changes in one transaction. */
  apply(ops: readonly LedgerOp[]): void {
    if (ops.length === 0) return;
    this.db
      .transaction(() => {
        for (const [name, ...args] of ops) this.statements[name].run(...args);
      })
      .immediate();
  }
}
