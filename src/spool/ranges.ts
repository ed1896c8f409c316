/**
 * A set of integers kept as sorted, disjoint, non-adjacent closed ranges [first, last]. The spool's ledger is made of
 * these (pending gaps, leases): a batch of 5000 consecutive reports is one range, not 5000 rows.
 * Every change returns the ranges it removed and the ones it added, so a table mirroring the set can apply the diff.
 */

export type Range = readonly [first: number, last: number];

export interface RangeDiff {
  removed: Range[];
  added: Range[];
}

export class RangeSet {
  private ranges: Range[] = [];

  static of(ranges: Iterable<Range>): RangeSet {
    const set = new RangeSet();
    for (const [a, b] of ranges) set.add(a, b);
    return set;
  }

  /** How many integers the set holds. */
  get size(): number {
    let n = 0;
    for (const [a, b] of this.ranges) n += b - a + 1;
    return n;
  }

  get count(): number {
    return this.ranges.length;
  }

  get first(): number | null {
    return this.ranges.length > 0 ? (this.ranges[0] as Range)[0] : null;
  }

  get last(): number | null {
    return this.ranges.length > 0 ? (this.ranges[this.ranges.length - 1] as Range)[1] : null;
  }

  [Symbol.iterator](): Iterator<Range> {
    return this.ranges[Symbol.iterator]();
  }

  has(value: number): boolean {
    const i = this.indexAfter(value) - 1;
    return i >= 0 && (this.ranges[i] as Range)[1] >= value;
  }

  /** Adds [first, last], merging with overlapping or adjacent ranges. */
  add(first: number, last: number): RangeDiff {
    if (last < first) return { removed: [], added: [] };
    // The first range that could touch [first, last]: one ending at first - 1 or later.
    let lo = this.indexAfter(first - 1) - 1;
    if (lo < 0 || (this.ranges[lo] as Range)[1] < first - 1) lo++;
    let hi = lo;
    let a = first;
    let b = last;
    while (hi < this.ranges.length && (this.ranges[hi] as Range)[0] <= last + 1) {
      const r = this.ranges[hi] as Range;
      a = Math.min(a, r[0]);
      b = Math.max(b, r[1]);
      hi++;
    }
    const removed = this.ranges.slice(lo, hi);
    if (removed.length === 1 && (removed[0] as Range)[0] === a && (removed[0] as Range)[1] === b) return { removed: [], added: [] };
    const merged: Range = [a, b];
    this.ranges.splice(lo, hi - lo, merged);
    return { removed, added: [merged] };
  }

  /** Removes [first, last]; ranges it cuts keep their parts outside it. */
  remove(first: number, last: number): RangeDiff {
    if (last < first) return { removed: [], added: [] };
    let lo = this.indexAfter(first) - 1;
    if (lo < 0 || (this.ranges[lo] as Range)[1] < first) lo++;
    let hi = lo;
    while (hi < this.ranges.length && (this.ranges[hi] as Range)[0] <= last) hi++;
    if (hi === lo) return { removed: [], added: [] };
    const removed = this.ranges.slice(lo, hi);
    const added: Range[] = [];
    const head = removed[0] as Range;
    const tail = removed[removed.length - 1] as Range;
    if (head[0] < first) added.push([head[0], first - 1]);
    if (tail[1] > last) added.push([last + 1, tail[1]]);
    this.ranges.splice(lo, hi - lo, ...added);
    return { removed, added };
  }

  /** Index of the first range starting after `value`. */
  private indexAfter(value: number): number {
    let lo = 0;
    let hi = this.ranges.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.ranges[mid] as Range)[0] <= value) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/** Sorted ids as consecutive runs: [1,2,3,7,8] → [1,3], [7,8]. */
export function runsOf(ids: readonly number[]): Range[] {
  const runs: Range[] = [];
  let start = -1;
  let prev = -1;
  for (const id of ids) {
    if (start === -1) {
      start = id;
    } else if (id !== prev + 1) {
      runs.push([start, prev]);
      start = id;
    }
    prev = id;
  }
  if (start !== -1) runs.push([start, prev]);
  return runs;
}
