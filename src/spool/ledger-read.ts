import type Database from 'better-sqlite3';
import { LaneLedger } from './ledger.js';
import { RangeSet, runsOf } from './ranges.js';
import { laneBase, LANE_SPAN } from './schema.js';

/**
 * Every lane's ledger (ledger.ts) built from the tables: what the spool does at open, and what the admin API's
 * read-only connection does to know, without a scan, which reports are pending or in flight. It reads the lanes,
 * the leases, the delivery pieces and, below each lane's cursor, only the ids between pieces (few: what was
 * released or recovered, and pruned stretches that hold no rows).
 */
export class LedgerReader {
  private readonly statements;

  constructor(db: Database.Database) {
    this.statements = {
      lanes: db.prepare('SELECT no, name, next, cursor FROM lanes'),
      leases: db.prepare('SELECT first, last FROM leases ORDER BY first').raw(),
      deliveries: db.prepare('SELECT first, last FROM deliveries WHERE first BETWEEN ? AND ? ORDER BY first').raw(),
      firstId: db.prepare('SELECT id FROM log WHERE id > ? ORDER BY id LIMIT 1').pluck(),
      idsBetween: db.prepare('SELECT id FROM log WHERE id BETWEEN ? AND ? ORDER BY id').pluck(),
    };
  }

  /** The leases table, in id order. */
  leases(): [number, number][] {
    return this.statements.leases.all() as [number, number][];
  }

  /**
   * Each lane's ledger. `leases` are the ranges in flight; with `recover` they belong to a process that stopped and
   * are pending again (marked so that taking them again counts as a resend).
   */
  lanes(leases: readonly [number, number][], recover: boolean): LaneLedger[] {
    const s = this.statements;
    const out: LaneLedger[] = [];
    for (const { no, name, next, cursor: leasedUpTo } of s.lanes.all() as { no: number; name: string; next: number; cursor: number }[]) {
      const base = laneBase(no);
      const top = base + next - 1;
      const cursor = base + leasedUpTo;
      const inLane = ([a]: readonly [number, number]): boolean => a > base && a < base + LANE_SPAN;
      const leased = RangeSet.of(recover ? [] : leases.filter(inLane));
      const done = RangeSet.of(s.deliveries.all(base, base + LANE_SPAN - 1) as [number, number][]);
      const gaps = new RangeSet();
      const lowest = s.firstId.get(base) as number | undefined;
      if (lowest !== undefined && lowest < cursor) {
        // Between delivered pieces: reports pending again, and pruned stretches with no rows at all. Only the former
        // hold rows, and they are few (what was in flight or released), so they are read to tell them apart.
        let from = lowest;
        for (const [a, b] of [...done, ...leased].sort((x, y) => x[0] - y[0])) {
          if (a > from) this.addRunsOf(gaps, from, Math.min(a - 1, cursor - 1));
          from = Math.max(from, b + 1);
        }
        if (from < cursor) this.addRunsOf(gaps, from, cursor - 1);
      }
      // Taken out of order above the cursor (late reports sent first): answered or, still, leased.
      const ahead = new RangeSet();
      for (const [a, b] of [...done, ...leased]) if (b >= cursor) ahead.add(Math.max(a, cursor), Math.min(b, top));
      // Leased above the cursor when the previous process stopped, pending again now: resends when taken.
      const releasedAhead = new RangeSet();
      if (recover) for (const [a, b] of leases.filter(inLane)) if (b >= cursor) releasedAhead.add(Math.max(a, cursor), Math.min(b, top));
      out.push(new LaneLedger(name, no, gaps, leased, cursor, top, ahead, releasedAhead));
    }
    return out;
  }

  private addRunsOf(set: RangeSet, from: number, to: number): void {
    for (const [a, b] of runsOf(this.statements.idsBetween.all(from, to) as number[])) set.add(a, b);
  }
}
