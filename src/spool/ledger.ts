import { RangeSet, type Range } from './ranges.js';

/**
 * One lane's read side, in memory: which of its report ids are pending, leased or done. Pure; the spool mirrors
 * leases to its `leases` table and answers to `deliveries`.
 *
 * Ids below `cursor` have all been leased at least once; of them, `gaps` are pending again (released, or recovered
 * after a crash) and `leased` are in flight. Ids from `cursor` to `top` have never been leased. Leasing takes gaps
 * first, then the tail, so the oldest report of the lane always goes first.
 */
export class LaneLedger {
  constructor(
    readonly name: string,
    readonly no: number,
    readonly gaps: RangeSet,
    readonly leased: RangeSet,
    public cursor: number,
    /** The highest id appended to the lane. */
    public top: number,
  ) {}

  get pending(): number {
    return this.gaps.size + Math.max(0, this.top - this.cursor + 1);
  }

  /** Where pending reports are, oldest first. */
  *pendingRanges(): Generator<Range> {
    yield* this.gaps;
    if (this.top >= this.cursor) yield [this.cursor, this.top];
  }

  /** Marks runs of ids as leased; returns the runs that had been leased before (they may reach the PCM twice). */
  take(runs: readonly Range[]): Range[] {
    const again: Range[] = [];
    for (const [a, b] of runs) {
      if (a < this.cursor) {
        const upTo = Math.min(b, this.cursor - 1);
        this.gaps.remove(a, upTo);
        again.push([a, upTo]);
      }
      if (b >= this.cursor) this.cursor = b + 1;
    }
    return again;
  }
}
