import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEDUP_INITIAL_SLOTS, DedupWindow } from '../../src/spool/dedup-window.js';
import { LaneLedger } from '../../src/spool/ledger.js';
import { RangeSet, type Range } from '../../src/spool/ranges.js';

/**
 * DedupWindow: it always remembers at least the last floor(capacity / 2) keys added and never more than `capacity`;
 * a lookup returns every remembered ref under the fingerprint (0 counts as 1); its tables start small and grow with
 * the keys held, never past 24 bytes × capacity (rounded up). Plus a few LaneLedger examples.
 *
 * Capacity 1 is left out of the bound checks on purpose: with it, the window keeps two keys; every other capacity is
 * covered.
 */

function lookup(window: DedupWindow, fingerprint: number): number[] {
  const out: number[] = [];
  const n = window.lookup(fingerprint, out);
  return out.slice(0, n);
}

/** Distinct filler keys: fingerprints that never equal `avoid` (nor 0/1), spread over the table. */
function fill(window: DedupWindow, count: number, avoid: number, refBase = 1_000_000): void {
  for (let i = 0; i < count; i++) {
    let fp = Math.imul(i + 7, 0x9e3779b1) >>> 0 || 2;
    if (fp === avoid || fp === 1) fp = 0xfffff000 + (i % 0xfff);
    window.add(fp, refBase + i);
  }
}

const CAPACITIES = [1, 2, 3, 4, 5, 7, 8, 10, 16, 33, 64, 1000];

describe('DedupWindow', () => {
  it('finds a key just added, and nothing for keys never added', () => {
    const window = new DedupWindow(8);
    window.add(0xdeadbeef, 42);
    expect(lookup(window, 0xdeadbeef)).toEqual([42]);
    expect(lookup(window, 0xdeadbeee)).toEqual([]);
    expect(lookup(window, 0x12345678)).toEqual([]);
    expect(window.size).toBe(1);
  });

  it('writes into out from index 0 and returns the count', () => {
    const window = new DedupWindow(8);
    window.add(7, 123.5);
    const out = [9, 9, 9, 9];
    expect(window.lookup(7, out)).toBe(1);
    expect(out[0]).toBe(123.5);
  });

  it('keeps refs as numbers beyond 32 bits', () => {
    const window = new DedupWindow(8);
    const ref = 2 ** 40 + 17;
    window.add(99, ref);
    expect(lookup(window, 99)).toEqual([ref]);
  });

  for (const capacity of CAPACITIES) {
    const half = Math.floor(capacity / 2);

    it(`capacity ${capacity}: a key is still found after fewer than ${half} more keys`, () => {
      for (let n = 0; n < half; n++) {
        const window = new DedupWindow(capacity, 2);
        window.add(0xabcdef01, 1);
        fill(window, n, 0xabcdef01);
        expect(lookup(window, 0xabcdef01), `after ${n} more keys`).toEqual([1]);
      }
    });

    if (capacity >= 2) {
      it(`capacity ${capacity}: a key is gone after ${capacity} more keys`, () => {
        for (const prior of [0, 1, half]) {
          const window = new DedupWindow(capacity, 2);
          fill(window, prior, 0xabcdef01, 5_000_000);
          window.add(0xabcdef01, 1);
          fill(window, capacity, 0xabcdef01);
          expect(lookup(window, 0xabcdef01), `${prior} keys before, ${capacity} after`).toEqual([]);
        }
      });
    }

    it(`capacity ${capacity}: size stays between min(added, ${half}) and ${capacity}`, () => {
      const window = new DedupWindow(capacity, 1);
      for (let i = 0; i < 5 * capacity + 3; i++) {
        window.add(0x2000 + i, i);
        expect(window.size).toBeLessThanOrEqual(capacity);
        expect(window.size).toBeGreaterThanOrEqual(Math.min(i + 1, half));
      }
    });
  }

  it('returns every ref stored under a fingerprint, and only those', () => {
    const window = new DedupWindow(64);
    window.add(555, 1);
    window.add(555 + 64, 2); // same table position, other fingerprint
    window.add(555, 3);
    window.add(556, 4); // next position: inside the probe chain of 555
    window.add(555, 5);
    const found = lookup(window, 555);
    expect(found).toEqual(expect.arrayContaining([1, 3, 5]));
    expect(found).toHaveLength(3);
    expect(lookup(window, 555 + 64)).toEqual([2]);
    expect(lookup(window, 556)).toEqual([4]);
  });

  it('returns refs from the newest generation first', () => {
    // Capacity 4: generations of 2 keys.
    const window = new DedupWindow(4);
    window.add(31, 1);
    window.add(31, 2);
    window.add(31, 3); // turns the generation: 3 is in the new one, 1 and 2 in the previous one
    const found = lookup(window, 31);
    expect(found).toHaveLength(3);
    expect(found[0]).toBe(3);
    expect([...found].sort()).toEqual([1, 2, 3]);
  });

  it('handles fingerprint 0 as 1, without breaking probe chains', () => {
    const window = new DedupWindow(64);
    window.add(0, 100);
    window.add(1 + 64, 101); // probes past the slot holding fingerprint 0 (stored as 1)
    window.add(0, 102);
    expect(lookup(window, 0).sort()).toEqual([100, 102]);
    expect(lookup(window, 1).sort()).toEqual([100, 102]);
    expect(lookup(window, 1 + 64)).toEqual([101]);
    expect(window.size).toBe(3);
  });

  it('handles the largest fingerprints', () => {
    const window = new DedupWindow(16);
    window.add(0xffffffff, 7);
    window.add(0xfffffffe, 8);
    expect(lookup(window, 0xffffffff)).toEqual([7]);
    expect(lookup(window, 0xfffffffe)).toEqual([8]);
  });

  it('capacity 0 turns it off', () => {
    const window = new DedupWindow(0);
    window.add(1, 1);
    window.add(0, 2);
    const out = [42];
    expect(window.lookup(1, out)).toBe(0);
    expect(out).toEqual([42]);
    expect(window.lookup(0, out)).toBe(0);
    expect(window.size).toBe(0);
  });

  it('clear() forgets everything, and the window works again afterwards', () => {
    const window = new DedupWindow(8);
    for (let i = 0; i < 11; i++) window.add(300 + (i % 3), i); // spans both generations
    expect(window.size).toBeGreaterThan(4);
    window.clear();
    expect(window.size).toBe(0);
    for (let i = 0; i < 3; i++) expect(lookup(window, 300 + i)).toEqual([]);
    window.add(301, 77);
    expect(lookup(window, 301)).toEqual([77]);
    expect(window.size).toBe(1);
  });

  it('sizes its tables at about 24 bytes a key once full', () => {
    const full = (capacity: number): DedupWindow => {
      const window = new DedupWindow(capacity, 1);
      fill(window, 3 * capacity, 0);
      return window;
    };
    expect(full(1024).bytes).toBe(24 * 1024);
    for (const capacity of [2, 3, 10, 1000, 4097]) {
      const bytes = full(capacity).bytes;
      expect(bytes).toBeGreaterThanOrEqual(24 * 2 * Math.floor(capacity / 2));
      expect(bytes).toBeLessThan(48 * capacity);
    }
  });

  it('starts small and grows with the keys it holds, not with its capacity', () => {
    const window = new DedupWindow(1_000_000);
    expect(window.bytes).toBe(2 * DEDUP_INITIAL_SLOTS * 12);
    fill(window, 10, 0);
    expect(window.bytes).toBe(2 * DEDUP_INITIAL_SLOTS * 12);
    fill(window, DEDUP_INITIAL_SLOTS, 0, 2_000_000);
    // The current generation doubled until its load factor was 0.5 again; the previous one has not been needed yet.
    let slots = DEDUP_INITIAL_SLOTS;
    while (slots < 2 * window.size) slots *= 2;
    expect(slots).toBe(4 * DEDUP_INITIAL_SLOTS);
    expect(window.bytes).toBe((slots + DEDUP_INITIAL_SLOTS) * 12);
    expect(window.size).toBe(DEDUP_INITIAL_SLOTS + 10);
    for (const fp of [Math.imul(7, 0x9e3779b1) >>> 0, Math.imul(DEDUP_INITIAL_SLOTS + 6, 0x9e3779b1) >>> 0]) {
      expect(lookup(window, fp).length).toBeGreaterThan(0);
    }
  });
});

describe('DedupWindow against a model', () => {
  // A small pool of fingerprints, so they collide often: 0 and 1 (the same after normalising), and values that share
  // their low bits (the same table position at every size up to 64 slots).
  const fingerprintArb = fc.constantFrom(0, 1, 2, 3, 65, 129, 0x80000000, 0x80000001, 0xffffffff);

  it('remembers the last floor(capacity / 2) additions and nothing older than capacity, through growth', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(0, 2, 3, 4, 5, 6, 7, 8, 9, 16, 33, 100),
        fc.constantFrom(1, 2, 4, 64),
        fc.array(fingerprintArb, { minLength: 1, maxLength: 8 }),
        fc.array(fc.nat(), { maxLength: 150 }),
        (capacity, initialSlots, keys, picks) => {
          const window = new DedupWindow(capacity, initialSlots);
          const half = Math.floor(capacity / 2);
          // The model: every addition in order; the ref of addition i is i.
          const added: number[] = [];
          const norm = (fp: number): number => fp || 1;

          const check = (): void => {
            const total = added.length;
            expect(window.size).toBeLessThanOrEqual(capacity);
            expect(window.size).toBeGreaterThanOrEqual(Math.min(total, half));
            for (const fp of keys) {
              const found = lookup(window, fp);
              if (capacity === 0) {
                expect(found).toEqual([]);
                continue;
              }
              expect(new Set(found).size, 'no ref twice').toBe(found.length);
              for (const ref of found) {
                expect(Number.isInteger(ref) && ref >= 0 && ref < total, `ref ${ref} was added`).toBe(true);
                expect(norm(added[ref] as number), `ref ${ref} has fingerprint ${fp}`).toBe(norm(fp));
                expect(ref, `ref ${ref} is among the last ${capacity} of ${total}`).toBeGreaterThanOrEqual(total - capacity);
              }
              for (let ref = Math.max(0, total - half); ref < total; ref++) {
                if (norm(added[ref] as number) === norm(fp)) expect(found, `ref ${ref} (of ${total}) is among the last ${half}`).toContain(ref);
              }
            }
          };

          for (const pick of picks) {
            const fp = keys[pick % keys.length] as number;
            window.add(fp, added.length);
            added.push(fp);
            check();
          }
          check();
        },
      ),
      { seed: 0xd3d0_0001, numRuns: 300 },
    );
  });
});

describe('LaneLedger', () => {
  function ledger(gaps: Range[], cursor: number, top: number, leased: Range[] = []): LaneLedger {
    return new LaneLedger('private/org', 3, RangeSet.of(gaps), RangeSet.of(leased), cursor, top);
  }

  function ranges(it: Iterable<Range>): [number, number][] {
    return [...it].map(([a, b]) => [a, b]);
  }

  it('counts pending gaps and the never-leased tail', () => {
    const l = ledger(
      [
        [3, 4],
        [7, 7],
      ],
      10,
      15,
    );
    expect(l.pending).toBe(3 + 6);
    expect(ranges(l.pendingRanges())).toEqual([
      [3, 4],
      [7, 7],
      [10, 15],
    ]);
  });

  it('an empty lane has nothing pending until its top moves', () => {
    const l = ledger([], 101, 100);
    expect(l.pending).toBe(0);
    expect(ranges(l.pendingRanges())).toEqual([]);
    l.top = 103;
    expect(l.pending).toBe(3);
    expect(ranges(l.pendingRanges())).toEqual([[101, 103]]);
  });

  it('taking the gaps before the tail returns them as taken again and leaves the cursor', () => {
    const l = ledger(
      [
        [3, 4],
        [7, 7],
      ],
      10,
      15,
    );
    expect(l.take([[3, 4]])).toEqual([[3, 4]]);
    expect(l.cursor).toBe(10);
    expect(ranges(l.gaps)).toEqual([[7, 7]]);
    expect(l.pending).toBe(1 + 6);
  });

  it('taking part of a gap leaves the rest pending', () => {
    const l = ledger([[3, 6]], 10, 15);
    expect(l.take([[4, 5]])).toEqual([[4, 5]]);
    expect(ranges(l.gaps)).toEqual([
      [3, 3],
      [6, 6],
    ]);
    expect(l.pending).toBe(2 + 6);
  });

  it('taking gaps then the tail moves the cursor past the tail run only', () => {
    const l = ledger(
      [
        [3, 4],
        [7, 7],
      ],
      10,
      15,
    );
    const again = l.take([
      [3, 4],
      [7, 7],
      [10, 12],
    ]);
    expect(again).toEqual([
      [3, 4],
      [7, 7],
    ]);
    expect(l.cursor).toBe(13);
    expect(l.gaps.size).toBe(0);
    expect(l.pending).toBe(3);
    expect(ranges(l.pendingRanges())).toEqual([[13, 15]]);
  });

  it('taking from the tail only returns nothing as taken again', () => {
    const l = ledger([], 10, 15);
    expect(l.take([[10, 15]])).toEqual([]);
    expect(l.cursor).toBe(16);
    expect(l.pending).toBe(0);
    expect(ranges(l.pendingRanges())).toEqual([]);
  });

  it('a run across the cursor is split: the part below it is taken again', () => {
    const l = ledger([[8, 9]], 10, 15);
    expect(l.take([[8, 12]])).toEqual([[8, 9]]);
    expect(l.cursor).toBe(13);
    expect(l.gaps.size).toBe(0);
    expect(l.pending).toBe(3);
  });

  it('pending never goes negative when the cursor passes the top', () => {
    const l = ledger([[2, 2]], 10, 12);
    l.take([[10, 20]]);
    expect(l.cursor).toBe(21);
    expect(l.pending).toBe(1);
    expect(ranges(l.pendingRanges())).toEqual([[2, 2]]);
  });
});
