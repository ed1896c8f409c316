import type Database from 'better-sqlite3';
import { LedgerReader } from './ledger-read.js';
import type { Range } from './ranges.js';

/**
 * Where the reports of each listed state are, as id ranges, without reading the log: pending ones from the lanes'
 * ledgers (ledger-read.ts), in flight from the leases, answered ones from the delivery pieces (one row per batch
 * piece) and the dead letters (few). Every row of the log is in exactly one of them: pruning deletes a piece with
 * its rows, and a dead letter is always inside its piece. So the totals of an unfiltered or a status-only listing
 * are sums of range lengths, and a page starts at the id found by walking the ranges, not by an OFFSET over the log.
 * Read in one transaction by the caller, so the tables agree with each other.
 */

export type RangedState = 'pending' | 'inflight' | 'delivered' | 'all';

export interface StateRanges {
  /** Sorted, disjoint; for `delivered` the pieces, dead letters inside them included (see `excluded`). */
  ranges: Range[];
  /** Ids inside the ranges that are not in the state (the dead letters, for `delivered`), sorted. */
  excluded: number[];
  total: number;
}

function lengthOf(ranges: readonly Range[]): number {
  let n = 0;
  for (const [a, b] of ranges) n += b - a + 1;
  return n;
}

function sorted(ranges: Range[]): Range[] {
  return ranges.sort((x, y) => x[0] - y[0]);
}

/** How many of the sorted `ids` lie in [a, b]. */
function countIn(ids: readonly number[], a: number, b: number): number {
  const lowerBound = (v: number): number => {
    let lo = 0;
    let hi = ids.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((ids[mid] as number) < v) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  return lowerBound(b + 1) - lowerBound(a);
}

export class StateRangeReader {
  private readonly ledgers: LedgerReader;
  private readonly statements;

  constructor(db: Database.Database) {
    this.ledgers = new LedgerReader(db);
    this.statements = {
      pieces: db.prepare('SELECT first, last FROM deliveries ORDER BY first').raw(),
      deadLetterIds: db.prepare('SELECT id FROM discarded ORDER BY id').pluck(),
      deadLetters: db.prepare('SELECT count(*) FROM discarded').pluck(),
    };
  }

  /** How many dead letters the spool holds (the `discarded` state). */
  deadLetters(): number {
    return this.statements.deadLetters.get() as number;
  }

  /** The pending and in-flight ranges of every lane: what is not answered yet. */
  undelivered(): { pending: Range[]; inflight: Range[] } {
    const leases = this.ledgers.leases();
    const pending: Range[] = [];
    for (const ledger of this.ledgers.lanes(leases, false)) pending.push(...ledger.pendingRanges());
    return { pending: sorted(pending), inflight: leases };
  }

  of(state: RangedState): StateRanges {
    if (state === 'pending' || state === 'inflight') {
      const ranges = this.undelivered()[state];
      return { ranges, excluded: [], total: lengthOf(ranges) };
    }
    const pieces = this.statements.pieces.all() as [number, number][];
    if (state === 'delivered') {
      const excluded = this.statements.deadLetterIds.all() as number[];
      return { ranges: pieces, excluded, total: lengthOf(pieces) - excluded.length };
    }
    const { pending, inflight } = this.undelivered();
    const ranges = sorted([...pieces, ...pending, ...inflight]);
    return { ranges, excluded: [], total: lengthOf(ranges) };
  }
}

/**
 * The range holding the report at position `offset` of the state (0-based), and how many of the state's reports
 * of that range come before it; null past the end.
 */
export function rangeAt(s: StateRanges, offset: number): { index: number; skip: number } | null {
  let before = 0;
  for (let i = 0; i < s.ranges.length; i++) {
    const [a, b] = s.ranges[i] as Range;
    const n = b - a + 1 - (s.excluded.length > 0 ? countIn(s.excluded, a, b) : 0);
    if (offset < before + n) return { index: i, skip: offset - before };
    before += n;
  }
  return null;
}
