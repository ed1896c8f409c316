import Database from 'better-sqlite3';
import type { EndpointDay } from '../../src/spool/spool.js';

/**
 * The per-day, per-endpoint figures counted from every row of the log, as the admin API scanned for them before the
 * counters (a replayed dead letter counted once, as its copy): the brute force the counters are checked against.
 */
export function scanEndpointDays(db: Database.Database): EndpointDay[] {
  return db
    .prepare(
      `SELECT (coalesce(l.ts, l.created_at) - 10800000) / 86400000 AS day, coalesce(json_extract(l.body, '$.endpoint'), '') AS endpoint,
         count(*) AS received, sum(x.id IS NULL AND d.first IS NOT NULL) AS accepted, sum(x.id IS NOT NULL) AS discarded,
         sum(x.reason IS 'too-old') AS tooOld, sum(x.id IS NULL AND d.first IS NULL) AS pending
       FROM log l LEFT JOIN discarded x ON x.id = l.id
         LEFT JOIN deliveries d ON d.first = (SELECT max(first) FROM deliveries WHERE first <= l.id) AND d.last >= l.id
       WHERE x.replayed_at IS NULL GROUP BY 1, 2 ORDER BY 1, 2`,
    )
    .all() as EndpointDay[];
}

/**
 * Makes the spool file behave, until called again with `false`, as a release of schema 4 writes to it (after a
 * rollback): it knows no per-endpoint counters, so their writes do not happen; everything else does.
 */
export function asSchema4Release(path: string, on: boolean): void {
  const db = new Database(path);
  try {
    db.exec(
      on
        ? `CREATE TRIGGER v4_insert BEFORE INSERT ON endpoint_days BEGIN SELECT RAISE(IGNORE); END;
           CREATE TRIGGER v4_update BEFORE UPDATE ON endpoint_days BEGIN SELECT RAISE(IGNORE); END;`
        : 'DROP TRIGGER v4_insert; DROP TRIGGER v4_update;',
    );
  } finally {
    db.close();
  }
}
