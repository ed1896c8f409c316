import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { normaliseReport, normaliseTimestamp, uriPrefixOf } from '../../src/report/normalise.js';
import { TIMESTAMP_PATTERN } from '../../src/report/schema.js';
import { RUNS, anyValue, canonical, context, inputFor, seedArb, shapedOpendata, shuffled } from './arbitraries.js';

/**
 * Normalisation (src/report/normalise.ts) over any JSON: no throw, a timestamp is either null or a real canonical
 * one, repairing twice changes nothing more, and key order changes neither the result nor the repairs.
 */

const record = fc.oneof(inputFor('/v1/reports'), shapedOpendata).filter((v): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v));

const timestampLike = fc.oneof(
  anyValue,
  fc.double(),
  fc.integer({ min: -1e15, max: 9e18 }).map((n) => n * 1000),
  fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
  fc
    .tuple(
      fc.integer({ min: 0, max: 9999 }),
      fc.integer({ min: 0, max: 19 }),
      fc.integer({ min: 0, max: 39 }),
      fc.integer({ min: 0, max: 29 }),
      fc.integer({ min: 0, max: 69 }),
      fc.constantFrom('Z', '+00:00', '-03:00', '+1400', '-2359', 'z', ''),
      fc.constantFrom('', '.5', '.123', '.123456789'),
    )
    .map(([y, mo, d, h, mi, off, frac]) => {
      const p = (n: number, w = 2): string => String(n).padStart(w, '0');
      return `${p(y, 4)}-${p(mo)}-${p(d)}T${p(h)}:${p(mi)}:${p(mi)}${frac}${off}`;
    }),
);

describe('normalisation: total over any JSON', () => {
  it('normaliseTimestamp: never throws; null, or a canonical timestamp that reads back the same', () => {
    fc.assert(
      fc.property(timestampLike, (value) => {
        const ts = normaliseTimestamp(value);
        if (ts === null) return;
        expect(ts).toMatch(TIMESTAMP_PATTERN);
        expect(new Date(Date.parse(ts)).toISOString()).toBe(ts);
      }),
      { numRuns: RUNS.cheap },
    );
  });

  it('found by the property above: a time outside years 0000–9999 is no PCM timestamp (was +275760-09-13T00:00:00.000Z)', () => {
    // Epoch microseconds reach past year 9999; milliseconds (below 1e14) never do.
    for (const value of [8.64e18, 253402300800000000, '0000-01-01T00:00:00+14:00', '9999-12-31T23:59:59.999-01:00']) {
      expect(normaliseTimestamp(value), String(value)).toBeNull();
    }
    expect(normaliseTimestamp(253402300799999000)).toBe('9999-12-31T23:59:59.999Z');
    expect(normaliseTimestamp('0000-01-01T00:00:00Z')).toBe('0000-01-01T00:00:00.000Z');
  });

  it('uriPrefixOf: never throws on any string and endpoint', () => {
    fc.assert(
      fc.property(fc.oneof(fc.webUrl(), fc.string({ maxLength: 60 })), fc.oneof(fc.constantFrom('/token', '/register', '/open-banking/x'), fc.string()), (url, endpoint) => {
        const prefix = uriPrefixOf(url, endpoint);
        if (prefix !== null) expect(prefix).toMatch(/^https?:\/\//);
      }),
      { numRuns: RUNS.cheap },
    );
  });

  it('normaliseReport: never throws, does not touch its input, and a second pass repairs nothing more', () => {
    fc.assert(
      fc.property(record, (input) => {
        const before = canonical(input);
        const once = normaliseReport(input, context);
        expect(canonical(input)).toBe(before);
        const twice = normaliseReport(once.item, context);
        expect(canonical(twice.item)).toBe(canonical(once.item));
        expect(twice.repairs).toEqual([]);
        expect(twice.stream).toBe(once.stream);
      }),
      { numRuns: RUNS.normal },
    );
  });

  it('normaliseReport: key order changes neither the item, the stream nor the repairs', () => {
    fc.assert(
      fc.property(record, seedArb, (input, seed) => {
        const a = normaliseReport(input, context);
        const b = normaliseReport(shuffled(input, seed) as Record<string, unknown>, context);
        expect(canonical(b.item)).toBe(canonical(a.item));
        expect(b.stream).toBe(a.stream);
        expect([...b.repairs].sort()).toEqual([...a.repairs].sort());
      }),
      { numRuns: RUNS.normal },
    );
  });
});
