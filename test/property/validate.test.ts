import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { additionalInfoProblems, type AdditionalInfoContext } from '../../src/report/additional-info.js';
import { ruleInfo } from '../../src/report/rules.js';
import { prepareReport, withinSize, type ValidationResult } from '../../src/report/validate.js';
import { RUNS, anyValue, canonical, catalog, context, inputFor, seedArb, shaped, shapedOpendata, shuffled } from './arbitraries.js';

/**
 * The sidecar's validators over any JSON: prepareReport (src/report/validate.ts) and additionalInfoProblems
 * (src/report/additional-info.ts) never throw; the verdict — accepted or refused, and which rules refuse — does not
 * depend on key order; and what is accepted is accepted again as it will be sent.
 */

const item = fc.oneof({ arbitrary: inputFor('/v1/reports'), weight: 4 }, { arbitrary: shapedOpendata, weight: 1 });

/** The discard-level verdict: accepted, or the sorted set of refusing rule ids. */
function verdict(result: ValidationResult): string {
  return result.ok ? 'accepted' : `refused: ${[...new Set(result.problems.map((p) => p.rule))].sort().join(', ')}`;
}

const ENDPOINTS = catalog.private.map((e) => e.template);
const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH'] as const;

/** A (role, method, endpoint, status, stream) the rule table knows, and additionalInfo values shaped like its keys. */
const infoContext: fc.Arbitrary<AdditionalInfoContext> = fc.record({
  role: fc.constantFrom('CLIENT' as const, 'SERVER' as const),
  httpMethod: fc.constantFrom(...METHODS),
  endpoint: fc.constantFrom(...ENDPOINTS, ...catalog.opendata.map((e) => e.template).slice(0, 5)),
  statusCode: fc.constantFrom(200, 201, 204, 400, 403, 404, 408, 422, 500, 504),
  stream: fc.constantFrom('private' as const, 'private' as const, 'opendata' as const),
});

const INFO_KEYS = [
  'consentId', 'tokenId', 'personType', 'grantType', 'dropReason', 'paymentType', 'cancelledFrom', 'errorCodes', 'paymentList',
  'statusSummary', 'companyProfileInfo', 'clientIp', 'enrollmentId', 'recurringConsentId', 'localInstrument', 'status', 'paymentId',
  '__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf',
];
const infoValue = fc.oneof(
  anyValue,
  fc.constantFrom('PF', 'PJ', 'NONE', 'NO_CREDENTIAL', 'IMMEDIATE', 'AUTHORIZATION_CODE', 'urn:bank:1', 'c9ng8aKzxNXm', '203.0.113.7', 'TRUE', ['E1'], [{ paymentId: 'p1' }], { a: '1' }),
);
const info: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: anyValue, weight: 1 },
  {
    arbitrary: fc.array(fc.tuple(fc.oneof(fc.constantFrom(...INFO_KEYS), fc.string({ maxLength: 6 })), infoValue), { maxLength: 6 }).map((entries) => {
      const out: Record<string, unknown> = {};
      for (const [k, v] of entries) Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
      return out;
    }),
    weight: 4,
  },
);

describe('prepareReport: total over any JSON, stable under key order', () => {
  it('never throws, on any JSON value and on reports with fields replaced, dropped or prototype keys added', () => {
    fc.assert(
      fc.property(fc.oneof(anyValue, item), (value) => {
        const result = prepareReport(value, context);
        if (!result.ok) expect(result.problems.length).toBeGreaterThan(0);
        withinSize(result, 1000);
      }),
      { numRuns: RUNS.cheap },
    );
  });

  it('the same verdict and the same refusing rules whatever the key order', () => {
    const seen = new Set<string>();
    fc.assert(
      fc.property(item, seedArb, (value, seed) => {
        const v = verdict(prepareReport(value, context));
        seen.add(v === 'accepted' ? v : 'refused');
        expect(verdict(prepareReport(shuffled(value, seed), context))).toBe(v);
      }),
      { numRuns: RUNS.normal },
    );
    // Both verdicts were reached: the property compared accepted reports too, not only refusals.
    expect([...seen].sort()).toEqual(['accepted', 'refused']);
  });

  it('an accepted report is accepted again as it will be sent: same JSON, no repair left, no discard', () => {
    const accepted = fc.oneof(shaped('/v1/reports'), shapedOpendata);
    let checked = 0;
    fc.assert(
      fc.property(accepted, (value) => {
        const first = prepareReport(value, context);
        if (!first.ok) return;
        checked++;
        const again = prepareReport(JSON.parse(first.json) as unknown, context);
        expect(again.ok, JSON.stringify(again.ok ? null : again.problems)).toBe(true);
        if (!again.ok) return;
        expect(canonical(JSON.parse(again.json))).toBe(canonical(JSON.parse(first.json)));
        expect(again.repairs).toEqual([]);
        expect(again.dedupKey).toBe(first.dedupKey);
      }),
      { numRuns: RUNS.normal },
    );
    expect(checked).toBeGreaterThan(RUNS.normal / 10);
  });
});

describe('additionalInfoProblems: total over any JSON, stable under key order', () => {
  const discards = (info: unknown, ctx: AdditionalInfoContext): string[] =>
    [...new Set(additionalInfoProblems(info, ctx).filter((p) => ruleInfo(p.rule).severity === 'discard').map((p) => p.rule))].sort();

  it('never throws, for any additionalInfo on any (method, endpoint, status) of the catalogue, in both errorCodes forms', () => {
    fc.assert(
      fc.property(info, infoContext, fc.constantFrom('string' as const, 'array' as const), fc.boolean(), (value, ctx, errorCodesAs, requireTokenId) => {
        for (const p of additionalInfoProblems(value, ctx, { errorCodesAs, requireTokenId })) {
          expect(typeof p.rule).toBe('string');
          expect(typeof p.message).toBe('string');
        }
      }),
      { numRuns: RUNS.cheap },
    );
  });

  it('the same discard rules (and the same problems) whatever the key order', () => {
    fc.assert(
      fc.property(info, infoContext, seedArb, (value, ctx, seed) => {
        const other = shuffled(value, seed);
        expect(discards(other, ctx)).toEqual(discards(value, ctx));
        const all = (v: unknown): string[] => additionalInfoProblems(v, ctx).map((p) => `${p.field} ${p.rule}`).sort();
        expect(all(other)).toEqual(all(value));
      }),
      { numRuns: RUNS.cheap },
    );
  });
});
