import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkOpendataReport, checkReport, loadAcceptedEndpoints, type CheckContext, type CheckResult } from '../../src/emulator/validate.js';
import { prepareReport } from '../../src/report/validate.js';
import { RUNS, NOW, anyValue, context, inputFor, seedArb, shaped, shapedOpendata, shuffled } from './arbitraries.js';

/**
 * The emulator's own validator (src/emulator/validate.ts) over any JSON: checkReport and checkOpendataReport never throw,
 * and whether an item is DISCARDED or accepted does not depend on key order (nor do the quality findings of an
 * accepted one). The discard message may name keys in another order; the verdict may not change.
 */

const endpoints = loadAcceptedEndpoints();
const contexts = fc.constantFrom<CheckContext>({ now: NOW, endpoints }, { now: NOW, endpoints, errorCodesAs: 'array' });
const privateItem = fc.oneof({ arbitrary: inputFor('/v1/reports'), weight: 4 }, { arbitrary: anyValue, weight: 1 });
const opendataItem = fc.oneof({ arbitrary: shapedOpendata, weight: 4 }, { arbitrary: inputFor('/v1/reports'), weight: 1 });

/** DISCARDED, or ACCEPTED with its findings. A discard message names keys and values in the order they came, as the PCM's does. */
function verdict(result: CheckResult): string {
  if (result.discard !== null) return 'DISCARDED';
  return `ACCEPTED ${result.quality.map((f) => `${f.rule}@${f.field}`).sort().join(', ')}`;
}

describe('the emulator validator: total over any JSON, stable under key order', () => {
  for (const [name, check, items] of [
    ['checkReport', checkReport, privateItem],
    ['checkOpendataReport', checkOpendataReport, opendataItem],
  ] as const) {
    it(`${name}: never throws; a discard has a message, an acceptance its findings`, () => {
      fc.assert(
        fc.property(items, contexts, (item, ctx) => {
          const result = check(item, ctx);
          if (result.discard !== null) {
            expect(result.discard.length).toBeGreaterThan(0);
            expect(result.quality).toEqual([]);
          }
        }),
        { numRuns: RUNS.cheap },
      );
    });

    it(`${name}: the same DISCARDED/ACCEPTED verdict (and the same findings) whatever the key order`, () => {
      const seen = new Set<string>();
      fc.assert(
        fc.property(items, contexts, seedArb, (item, ctx, seed) => {
          const a = verdict(check(item, ctx));
          seen.add(a.split(' ')[0] as string);
          expect(verdict(check(shuffled(item, seed), ctx))).toBe(a);
        }),
        { numRuns: RUNS.cheap },
      );
      expect([...seen].sort()).toEqual(['ACCEPTED', 'DISCARDED']);
    });
  }

  it('what the sidecar accepts and sends, the emulator (written apart from it) does not discard', () => {
    let sent = 0;
    fc.assert(
      fc.property(fc.oneof(shaped('/v1/reports'), shapedOpendata), (item) => {
        const prepared = prepareReport(item, context);
        if (!prepared.ok) return;
        sent++;
        const body: unknown = JSON.parse(prepared.json);
        const result = prepared.stream === 'opendata' ? checkOpendataReport(body, { now: NOW, endpoints }) : checkReport(body, { now: NOW, endpoints });
        expect(result.discard, prepared.json).toBeNull();
      }),
      { numRuns: RUNS.cheap },
    );
    expect(sent).toBeGreaterThan(RUNS.cheap / 10);
  });
});
