import type Database from 'better-sqlite3';
import { LedgerReader } from './ledger-read.js';
import type { Range } from './ranges.js';

/**
 * Where the reports of each listed state are, as id ranges, without reading the log: pending ones from the lanes'
 * ledgers (the running sidecar's, in memory, when the caller has it; else read from the tables: ledger-read.ts), in
 * flight from the leases, answered ones from the delivery pieces (one row per batch piece) and the dead letters
 * (few). Every row of the log is in exactly one of them: pruning deletes a piece with its rows, and a dead letter is
 * always inside its piece. So the totals of an unfiltered or a status-only listing are sums of range lengths (the
 * pieces' summed in SQLite), and a page starts at the id found by walking the ranges up to its offset, not by an
 * OFFSET over the log. Read in one transaction by the caller, so the tables agree with each other.
 */

export type RangedState = 'pending' | 'inflight' | 'delivered' | 'all';

export interface StateRanges {
  total: number;
  /** Sorted and disjoint, read as walked; for `delivered` the pieces, dead letters inside them included. */
  ranges: () => Iterable<Range>;
  /** Ids inside the ranges that are not in the state (the dead letters, for `delivered`), sorted. */
  excluded: () => readonly number[];
}

function lengthOf(ranges: readonly Range[]): number {
  let n = 0;
  for (const [a, b] of ranges) n += b - a + 1;
  return n;
}

/** Two sorted, disjoint lists of ranges as one, in order. */
function* merged(a: Iterable<Range>, b: readonly Range[]): Generator<Range> {
  let j = 0;
  for (const r of a) {
    while (j < b.length && (b[j] as Range)[0] < r[0]) yield b[j++] as Range;
    yield r;
  }
  while (j < b.length) yield b[j++] as Range;
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
      piecesSize: db.prepare('SELECT coalesce(sum(last - first + 1), 0) FROM deliveries').pluck(),
      deadLetterIds: db.prepare('SELECT id FROM discarded ORDER BY id').pluck(),
      deadLetters: db.prepare('SELECT count(*) FROM discarded').pluck(),
    };
  }

  /** How many dead letters the spool holds (the `discarded` state). */
  deadLetters(): number {
    return this.statements.deadLetters.get() as number;
  }

  /**
   * What is not answered yet, sorted: pending as `pending` says (the running sidecar's ledger), or as the tables
   * say; in flight as the leases table says (a lease is in the file before its batch is sent, or it is pending).
   */
  undelivered(pending?: readonly Range[]): { pending: readonly Range[]; inflight: readonly Range[] } {
    const leases = this.ledgers.leases();
    if (pending !== undefined) return { pending, inflight: leases };
    const read: Range[] = [];
    for (const ledger of this.ledgers.lanes(leases, false)) read.push(...ledger.pendingRanges());
    return { pending: read.sort((x, y) => x[0] - y[0]), inflight: leases };
  }

  of(state: RangedState, pending?: readonly Range[]): StateRanges {
    const none = (): readonly number[] => [];
    const pieces = (): Iterable<Range> => this.statements.pieces.iterate() as Iterable<Range>;
    if (state === 'delivered') {
      const ids = (): readonly number[] => this.statements.deadLetterIds.all() as number[];
      return { total: (this.statements.piecesSize.get() as number) - this.deadLetters(), ranges: pieces, excluded: ids };
    }
    const undelivered = this.undelivered(pending);
    if (state !== 'all') return { total: lengthOf(undelivered[state]), ranges: () => undelivered[state], excluded: none };
    const open = [...undelivered.pending, ...undelivered.inflight].sort((x, y) => x[0] - y[0]);
    return { total: (this.statements.piecesSize.get() as number) + lengthOf(open), ranges: () => merged(pieces(), open), excluded: none };
  }
}

/**
 * The ranges holding the page at `offset` (0-based) of `limit` reports, and how many of the state's reports of the
 * first come before it; null past the end. Walks the ranges up to the page only.
 */
export function pageRanges(s: StateRanges, offset: number, limit: number): { skip: number; ranges: Range[] } | null {
  const excluded = s.excluded();
  const inState = ([a, b]: Range): number => b - a + 1 - (excluded.length > 0 ? countIn(excluded, a, b) : 0);
  let before = 0;
  let skip = 0;
  const out: Range[] = [];
  // Leaving the loop early closes a statement being iterated, before the caller asks the next one.
  for (const range of s.ranges()) {
    const n = inState(range);
    if (out.length === 0) {
      if (offset >= before + n) {
        before += n;
        continue;
      }
      skip = offset - before;
      before = offset;
      out.push(range);
      before += n - skip;
    } else {
      out.push(range);
      before += n;
    }
    if (before >= offset + limit) break;
  }
  return out.length === 0 ? null : { skip, ranges: out };
}
