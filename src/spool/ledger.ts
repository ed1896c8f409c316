import { RangeSet, type Range } from './ranges.js';

/**
 * One lane's read side, in memory: which of its report ids are pending, leased or done. Pure; the spool mirrors
 * leases to its `leases` table and answers to `deliveries`.
 *
 * Ids below `cursor` have all been leased at least once; of them, `gaps` are pending again (released, or recovered
 * after a crash) and `leased` are in flight. Ids from `cursor` to `top` have never been leased, except `ahead`: ids
 * taken out of order (a late report sent before older arrivals, spool.ts) — leased or answered while the cursor is
 * still below them, and passed over when it gets there. Leasing takes gaps first, then the tail, so the oldest
 * report of the lane goes first unless one is let ahead.
 */
export class LaneLedger {
  readonly ahead: RangeSet;
  /** Ids above the cursor leased before and pending again (released, or recovered after a crash): resends. */
  readonly releasedAhead: RangeSet;

  constructor(
    readonly name: string,
    readonly no: number,
    readonly gaps: RangeSet,
    readonly leased: RangeSet,
    public cursor: number,
    /** The highest id appended to the lane. */
    public top: number,
    ahead: RangeSet = new RangeSet(),
    releasedAhead: RangeSet = new RangeSet(),
  ) {
    this.ahead = ahead;
    this.releasedAhead = releasedAhead;
  }

  get pending(): number {
    return this.gaps.size + Math.max(0, this.top - this.cursor + 1 - this.ahead.size);
  }

  /** Where pending reports are, oldest first. */
  *pendingRanges(): Generator<Range> {
    yield* this.gaps;
    if (this.top < this.cursor) return;
    let from = this.cursor;
    for (const [a, b] of this.ahead) {
      if (a > from) yield [from, Math.min(a - 1, this.top)];
      from = b + 1;
    }
    if (from <= this.top) yield [from, this.top];
  }

  /** True when `id` waits to be leased. */
  isPending(id: number): boolean {
    if (id < this.cursor) return this.gaps.has(id);
    return id <= this.top && !this.ahead.has(id);
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
      if (b < this.cursor) continue;
      const from = Math.max(a, this.cursor);
      for (const [x, y] of [...this.releasedAhead]) {
        if (y < from || x > b) continue;
        again.push([Math.max(x, from), Math.min(y, b)]);
        this.releasedAhead.remove(Math.max(x, from), Math.min(y, b));
      }
      if (from === this.cursor) this.cursor = b + 1;
      else this.ahead.add(a, b);
      this.absorbAhead();
    }
    return again;
  }

  /** Leased ids back to pending (a failed attempt): below the cursor as gaps, above it by leaving `ahead`. */
  giveBack(a: number, b: number): void {
    if (a < this.cursor) this.gaps.add(a, Math.min(b, this.cursor - 1));
    if (b >= this.cursor) {
      this.ahead.remove(Math.max(a, this.cursor), b);
      this.releasedAhead.add(Math.max(a, this.cursor), b);
    }
  }

  /** The cursor passes over ids taken ahead of it; they leave `ahead` (the cursor now says they were taken). */
  private absorbAhead(): void {
    for (;;) {
      const first = this.ahead.first;
      if (first === null || first > this.cursor) return;
      const [a, b] = this.ahead[Symbol.iterator]().next().value as Range;
      this.ahead.remove(a, b);
      this.cursor = Math.max(this.cursor, b + 1);
    }
  }
}
