import type Database from 'better-sqlite3';
import { LANE_BITS } from './schema.js';

/**
 * Deleting delivered reports: the oldest delivery pieces first, whole or in part, so one call deletes at most
 * `limit` reports and its transaction stays short. Pending and in-flight reports are never in a delivery piece.
 * Shared by the ledger (retention) and the write path (room when the spool is full).
 */
export class DeliveredPruner {
  private readonly statements;

  constructor(private readonly db: Database.Database) {
    this.statements = {
      // Not a piece above its lane's cursor (late reports answered ahead of it): the ledger finds those answered by
      // their delivery row at the next start, and without it would count their ids as never sent.
      oldest: db.prepare(
        `SELECT d.first, d.last FROM deliveries d WHERE d.at < ?
           AND d.last < (SELECT (n.no << ${LANE_BITS}) + n.cursor FROM lanes n WHERE n.no = (d.first >> ${LANE_BITS}))
         ORDER BY d.at, d.first LIMIT ?`,
      ),
      deleteLog: db.prepare('DELETE FROM log WHERE id BETWEEN ? AND ?'),
      deleteNotes: db.prepare('DELETE FROM notes WHERE id BETWEEN ? AND ?'),
      deleteDiscarded: db.prepare('DELETE FROM discarded WHERE id BETWEEN ? AND ?'),
      deleteLate: db.prepare('DELETE FROM late WHERE id BETWEEN ? AND ?'),
      deleteResends: db.prepare('DELETE FROM resends WHERE first BETWEEN ? AND ? AND last <= ?'),
      deletePiece: db.prepare('DELETE FROM deliveries WHERE first = ?'),
      shrinkPiece: db.prepare('UPDATE deliveries SET first = ? WHERE first = ?'),
    };
  }

  /** Deletes up to `limit` delivered reports whose batch was answered before `before`; returns how many went. */
  prune(before: number, limit: number): number {
    const s = this.statements;
    return this.db.transaction(() => {
      let left = limit;
      let deleted = 0;
      const pieces = s.oldest.all(before, Math.min(limit, 10_000)) as { first: number; last: number }[];
      for (const piece of pieces) {
        if (left <= 0) break;
        const upTo = Math.min(piece.last, piece.first + left - 1);
        const gone = s.deleteLog.run(piece.first, upTo).changes;
        s.deleteNotes.run(piece.first, upTo);
        s.deleteDiscarded.run(piece.first, upTo);
        s.deleteLate.run(piece.first, upTo);
        s.deleteResends.run(piece.first, upTo, upTo);
        if (upTo === piece.last) s.deletePiece.run(piece.first);
        else s.shrinkPiece.run(upTo + 1, piece.first);
        deleted += gone;
        left -= upTo - piece.first + 1;
      }
      return deleted;
    }).immediate();
  }
}
