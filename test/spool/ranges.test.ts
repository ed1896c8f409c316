import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RangeSet, runsOf, type Range, type RangeDiff } from '../../src/spool/ranges.js';

/**
 * RangeSet: examples, then a model check against a plain Set<number> over a small domain, and the "mirror" check the
 * spool relies on — a table updated only from the returned diffs stays equal to the set.
 */

const DOMAIN = 200;

function rangesOf(set: RangeSet): [number, number][] {
  return [...set].map(([a, b]) => [a, b]);
}

function membersOf(set: RangeSet): number[] {
  const out: number[] = [];
  for (const [a, b] of set) for (let v = a; v <= b; v++) out.push(v);
  return out;
}

function plain(diff: RangeDiff): { removed: [number, number][]; added: [number, number][] } {
  return { removed: diff.removed.map(([a, b]) => [a, b]), added: diff.added.map(([a, b]) => [a, b]) };
}

const EMPTY = { removed: [], added: [] };

describe('RangeSet examples', () => {
  it('starts empty', () => {
    const set = new RangeSet();
    expect(rangesOf(set)).toEqual([]);
    expect(set.size).toBe(0);
    expect(set.count).toBe(0);
    expect(set.first).toBeNull();
    expect(set.last).toBeNull();
    expect(set.has(0)).toBe(false);
  });

  it('adds a first range', () => {
    const set = new RangeSet();
    expect(plain(set.add(3, 7))).toEqual({ removed: [], added: [[3, 7]] });
    expect(rangesOf(set)).toEqual([[3, 7]]);
    expect(set.size).toBe(5);
    expect(set.count).toBe(1);
    expect(set.first).toBe(3);
    expect(set.last).toBe(7);
  });

  it('merges a range adjacent on the right', () => {
    const set = RangeSet.of([[1, 3]]);
    expect(plain(set.add(4, 6))).toEqual({ removed: [[1, 3]], added: [[1, 6]] });
    expect(rangesOf(set)).toEqual([[1, 6]]);
  });

  it('merges a range adjacent on the left', () => {
    const set = RangeSet.of([[5, 8]]);
    expect(plain(set.add(2, 4))).toEqual({ removed: [[5, 8]], added: [[2, 8]] });
    expect(rangesOf(set)).toEqual([[2, 8]]);
  });

  it('merges a single id that fills the hole between two ranges', () => {
    const set = RangeSet.of([
      [1, 3],
      [5, 7],
    ]);
    expect(plain(set.add(4, 4))).toEqual({
      removed: [
        [1, 3],
        [5, 7],
      ],
      added: [[1, 7]],
    });
    expect(rangesOf(set)).toEqual([[1, 7]]);
    expect(set.count).toBe(1);
    expect(set.size).toBe(7);
  });

  it('merges overlapping ranges and swallows the ones covered', () => {
    const set = RangeSet.of([
      [0, 2],
      [5, 6],
      [9, 10],
      [14, 20],
      [30, 31],
    ]);
    expect(plain(set.add(1, 15))).toEqual({
      removed: [
        [0, 2],
        [5, 6],
        [9, 10],
        [14, 20],
      ],
      added: [[0, 20]],
    });
    expect(rangesOf(set)).toEqual([
      [0, 20],
      [30, 31],
    ]);
  });

  it('keeps ranges separated by a hole of one apart', () => {
    const set = new RangeSet();
    set.add(1, 3);
    expect(plain(set.add(5, 6))).toEqual({ removed: [], added: [[5, 6]] });
    expect(rangesOf(set)).toEqual([
      [1, 3],
      [5, 6],
    ]);
    expect(set.has(4)).toBe(false);
    expect(set.has(3)).toBe(true);
    expect(set.has(5)).toBe(true);
  });

  it('inserts a range between two others in order', () => {
    const set = RangeSet.of([
      [20, 25],
      [0, 1],
    ]);
    set.add(10, 12);
    expect(rangesOf(set)).toEqual([
      [0, 1],
      [10, 12],
      [20, 25],
    ]);
    expect(set.first).toBe(0);
    expect(set.last).toBe(25);
  });

  it('returns an empty diff when the added range is already covered', () => {
    const set = RangeSet.of([
      [1, 10],
      [20, 30],
    ]);
    expect(plain(set.add(3, 5))).toEqual(EMPTY);
    expect(plain(set.add(1, 10))).toEqual(EMPTY);
    expect(plain(set.add(20, 20))).toEqual(EMPTY);
    expect(rangesOf(set)).toEqual([
      [1, 10],
      [20, 30],
    ]);
  });

  it('returns an empty diff for an inverted range', () => {
    const set = RangeSet.of([[1, 10]]);
    expect(plain(set.add(9, 2))).toEqual(EMPTY);
    expect(plain(set.remove(9, 2))).toEqual(EMPTY);
    expect(rangesOf(set)).toEqual([[1, 10]]);
  });

  it('splits a range in two when removing its middle', () => {
    const set = RangeSet.of([[1, 10]]);
    expect(plain(set.remove(4, 6))).toEqual({
      removed: [[1, 10]],
      added: [
        [1, 3],
        [7, 10],
      ],
    });
    expect(rangesOf(set)).toEqual([
      [1, 3],
      [7, 10],
    ]);
    expect(set.size).toBe(7);
    expect(set.has(4)).toBe(false);
    expect(set.has(6)).toBe(false);
    expect(set.has(7)).toBe(true);
  });

  it('trims the ends of a range', () => {
    const set = RangeSet.of([[1, 10]]);
    expect(plain(set.remove(1, 1))).toEqual({ removed: [[1, 10]], added: [[2, 10]] });
    expect(plain(set.remove(9, 12))).toEqual({ removed: [[2, 10]], added: [[2, 8]] });
    expect(rangesOf(set)).toEqual([[2, 8]]);
  });

  it('removes a whole range without adding anything', () => {
    const set = RangeSet.of([
      [1, 3],
      [5, 5],
      [8, 9],
    ]);
    expect(plain(set.remove(5, 5))).toEqual({ removed: [[5, 5]], added: [] });
    expect(rangesOf(set)).toEqual([
      [1, 3],
      [8, 9],
    ]);
    expect(plain(set.remove(0, 100))).toEqual({
      removed: [
        [1, 3],
        [8, 9],
      ],
      added: [],
    });
    expect(set.count).toBe(0);
    expect(set.first).toBeNull();
  });

  it('removes across several ranges, keeping the outer parts', () => {
    const set = RangeSet.of([
      [0, 4],
      [6, 8],
      [10, 12],
      [14, 19],
      [25, 26],
    ]);
    expect(plain(set.remove(3, 15))).toEqual({
      removed: [
        [0, 4],
        [6, 8],
        [10, 12],
        [14, 19],
      ],
      added: [
        [0, 2],
        [16, 19],
      ],
    });
    expect(rangesOf(set)).toEqual([
      [0, 2],
      [16, 19],
      [25, 26],
    ]);
    expect(set.size).toBe(3 + 4 + 2);
  });

  it('returns an empty diff when removing what is not there', () => {
    const set = RangeSet.of([
      [5, 10],
      [20, 30],
    ]);
    expect(plain(set.remove(0, 4))).toEqual(EMPTY);
    expect(plain(set.remove(11, 19))).toEqual(EMPTY);
    expect(plain(set.remove(31, 100))).toEqual(EMPTY);
    expect(plain(new RangeSet().remove(0, 10))).toEqual(EMPTY);
    expect(rangesOf(set)).toEqual([
      [5, 10],
      [20, 30],
    ]);
  });

  it('works with large ids (lane bases)', () => {
    const base = 3 * 2 ** 40;
    const set = new RangeSet();
    set.add(base + 1, base + 5000);
    set.add(base + 5001, base + 6000);
    expect(rangesOf(set)).toEqual([[base + 1, base + 6000]]);
    expect(set.size).toBe(6000);
    set.remove(base + 100, base + 199);
    expect(rangesOf(set)).toEqual([
      [base + 1, base + 99],
      [base + 200, base + 6000],
    ]);
    expect(set.has(base + 150)).toBe(false);
    expect(set.has(base + 200)).toBe(true);
  });
});

type Op = { kind: 'add' | 'remove'; first: number; last: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  // Mostly short ranges, so that the set stays fragmented.
  fc.record({
    kind: fc.constantFrom('add' as const, 'remove' as const),
    first: fc.integer({ min: 0, max: DOMAIN }),
    len: fc.integer({ min: 0, max: 12 }),
  }).map(({ kind, first, len }) => ({ kind, first, last: Math.min(DOMAIN, first + len) })),
  // Any pair, including inverted ones (no-ops) and wide ones.
  fc.record({
    kind: fc.constantFrom('add' as const, 'remove' as const),
    first: fc.integer({ min: 0, max: DOMAIN }),
    last: fc.integer({ min: 0, max: DOMAIN }),
  }),
);

function checkShape(set: RangeSet): void {
  const ranges = rangesOf(set);
  for (let i = 0; i < ranges.length; i++) {
    const [a, b] = ranges[i] as [number, number];
    expect(a).toBeLessThanOrEqual(b);
    if (i > 0) {
      // Sorted, disjoint and non-adjacent: a hole of at least one id between consecutive ranges.
      expect(a).toBeGreaterThan((ranges[i - 1] as [number, number])[1] + 1);
    }
  }
  expect(set.count).toBe(ranges.length);
  expect(set.first).toBe(ranges.length > 0 ? (ranges[0] as [number, number])[0] : null);
  expect(set.last).toBe(ranges.length > 0 ? (ranges[ranges.length - 1] as [number, number])[1] : null);
}

describe('RangeSet properties', () => {
  it('after any sequence of add/remove, equals a Set<number> model', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 60 }), (ops) => {
        const set = new RangeSet();
        const model = new Set<number>();
        for (const op of ops) {
          const before = new Set(model);
          const diff = op.kind === 'add' ? set.add(op.first, op.last) : set.remove(op.first, op.last);
          for (let v = op.first; v <= op.last; v++) {
            if (op.kind === 'add') model.add(v);
            else model.delete(v);
          }
          const changed = before.size !== model.size || [...before].some((v) => !model.has(v));
          // A diff is empty exactly when nothing changed.
          expect(diff.removed.length + diff.added.length > 0).toBe(changed);

          checkShape(set);
          expect(membersOf(set)).toEqual([...model].sort((x, y) => x - y));
          expect(set.size).toBe(model.size);
          for (let v = -1; v <= DOMAIN + 1; v++) expect(set.has(v)).toBe(model.has(v));
        }
      }),
      { seed: 0x5eed_0001, numRuns: 300 },
    );
  });

  it('a table updated only from the diffs mirrors the ranges', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 80 }), (ops) => {
        const set = new RangeSet();
        const mirror = new Map<number, number>();
        for (const op of ops) {
          const diff = op.kind === 'add' ? set.add(op.first, op.last) : set.remove(op.first, op.last);
          for (const [a, b] of diff.removed) {
            // Every removed row exists in the table, exactly as stored.
            expect(mirror.get(a)).toBe(b);
            mirror.delete(a);
          }
          for (const [a, b] of diff.added) {
            // An insert never collides with a row the diff did not delete.
            expect(mirror.has(a)).toBe(false);
            mirror.set(a, b);
          }
          const rows = [...mirror.entries()].sort((x, y) => x[0] - y[0]);
          expect(rows).toEqual(rangesOf(set));
        }
      }),
      { seed: 0x5eed_0002, numRuns: 300 },
    );
  });

  it('RangeSet.of builds the same set as adding the ranges one by one, in any order', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(fc.integer({ min: 0, max: DOMAIN }), fc.integer({ min: 0, max: 10 })).map(([a, len]): Range => [a, a + len]),
          { maxLength: 30 },
        ),
        (ranges) => {
          const model = new Set<number>();
          for (const [a, b] of ranges) for (let v = a; v <= b; v++) model.add(v);
          const forward = RangeSet.of(ranges);
          const backward = RangeSet.of([...ranges].reverse());
          checkShape(forward);
          expect(membersOf(forward)).toEqual([...model].sort((x, y) => x - y));
          expect(rangesOf(backward)).toEqual(rangesOf(forward));
        },
      ),
      { seed: 0x5eed_0003, numRuns: 200 },
    );
  });
});

describe('runsOf', () => {
  it('groups consecutive ids into runs', () => {
    expect(runsOf([1, 2, 3, 7, 8])).toEqual([
      [1, 3],
      [7, 8],
    ]);
    expect(runsOf([0, 2, 4])).toEqual([
      [0, 0],
      [2, 2],
      [4, 4],
    ]);
    expect(runsOf([5])).toEqual([[5, 5]]);
    expect(runsOf([])).toEqual([]);
    expect(runsOf([10, 11, 12, 13])).toEqual([[10, 13]]);
    expect(runsOf([0, 1, 3])).toEqual([
      [0, 1],
      [3, 3],
    ]);
  });

  it('concatenating the runs gives back the ids, and the runs are maximal', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 0, max: DOMAIN }), { maxLength: 120 }), (unsorted) => {
        const ids = [...unsorted].sort((x, y) => x - y);
        const runs = runsOf(ids);
        const back: number[] = [];
        for (const [a, b] of runs) {
          expect(a).toBeLessThanOrEqual(b);
          for (let v = a; v <= b; v++) back.push(v);
        }
        expect(back).toEqual(ids);
        for (let i = 1; i < runs.length; i++) {
          expect((runs[i] as Range)[0]).toBeGreaterThan((runs[i - 1] as Range)[1] + 1);
        }
        // The runs are exactly the ranges of the same ids in a RangeSet.
        const set = new RangeSet();
        for (const id of ids) set.add(id, id);
        expect(runs.map(([a, b]) => [a, b])).toEqual(rangesOf(set));
      }),
      { seed: 0x5eed_0004, numRuns: 300 },
    );
  });
});
