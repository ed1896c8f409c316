import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { WriteOutcome, WriteRequest } from '../../src/spool/types.js';
import { decodeGroup, decodeOutcomes, encodeGroup, encodeOutcomes } from '../../src/spool/wire.js';

const report = fc.record({
  stream: fc.constantFrom('private' as const, 'opendata' as const),
  orgId: fc.constantFrom('a', 'b', 'c'),
  dedupKey: fc.string({ unit: 'grapheme', maxLength: 40 }),
  fapiInteractionId: fc.constant(null),
  endpoint: fc.string({ unit: 'grapheme', maxLength: 30 }),
  json: fc.string({ unit: 'grapheme', maxLength: 80 }),
  repairs: fc.oneof(fc.constant([] as string[]), fc.array(fc.constantFrom('timestamp_iso', 'secret_redacted'), { minLength: 1, maxLength: 2 })),
  findings: fc.option(fc.string({ maxLength: 20 }), { nil: null }),
});
const request: fc.Arbitrary<WriteRequest> = fc.record({
  reports: fc.array(report, { maxLength: 6 }),
  rejected: fc.array(fc.record({ source: fc.string(), route: fc.constant('/v1/reports'), item: fc.string(), problems: fc.constant('[]') }), { maxLength: 2 }),
});

describe('writer-thread wire format', () => {
  it('a group of requests comes back as it went, whatever the characters (astral, NUL, newlines) in bodies and keys', () => {
    fc.assert(
      fc.property(fc.array(request, { maxLength: 5 }), (requests) => {
        const decoded = decodeGroup(structuredClone(encodeGroup(requests)));
        expect(decoded).toEqual(requests.map((r) => ({ ...r, reports: r.reports.map((x) => ({ ...x, findings: x.findings ?? null })) })));
      }),
      { seed: 9, numRuns: 300 },
    );
  });

  it('outcomes travel as one byte each and come back per request', () => {
    const outcomes: WriteOutcome[] = [['stored', 'duplicate'], [], ['duplicate']];
    const flags = encodeOutcomes(outcomes);
    expect([...flags]).toEqual([0, 1, 1]);
    expect(decodeOutcomes(flags, Uint32Array.from([2, 0, 1]))).toEqual(outcomes);
  });
});
