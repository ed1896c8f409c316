import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { boundedJson, redactText } from '../../src/ingest/redact.js';
import { isSecretKey, REDACTED } from '../../src/report/secrets.js';

/** The reference the bounded view is checked against: a whole redacted copy (what boundedJson avoids building). */
function redactValue(value: unknown): unknown {
  if (typeof value === 'string') return redactText(value);
  if (Array.isArray(value)) return value.map(redactValue);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(value as Record<string, unknown>)) {
    Object.defineProperty(out, key, { value: isSecretKey(key) ? REDACTED : redactValue(child), enumerable: true, writable: true, configurable: true });
  }
  return out;
}


/** The bounded view the quarantine and answers keep is the redacted JSON itself, or a prefix of it. */
describe('boundedJson', () => {
  it('is JSON.stringify(redactValue(v)) when it fits, and a prefix of it no longer than the bound when not', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), fc.integer({ min: 0, max: 400 }), (value, max) => {
        const full = JSON.stringify(redactValue(value)) ?? 'null';
        const { text, cut } = boundedJson(value, max);
        if (full.length <= max) {
          expect(cut).toBe(false);
          expect(text).toBe(full);
        } else {
          expect(cut).toBe(true);
          expect(text.length).toBeLessThanOrEqual(max);
          expect(full.startsWith(text)).toBe(true);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('marks a cut when a sliced string shrank under redaction (it would otherwise look whole)', () => {
    const value = { log: `{"authorization":"${'x'.repeat(1000)}"} tail that matters`, after: 'kept?' };
    const { cut } = boundedJson(value, 200);
    expect(cut).toBe(true);
  });

  it('reads no more of a wide container than it writes', () => {
    let reads = 0;
    const wide = new Proxy(new Array<number>(5_000_000).fill(1), {
      get(target, key, receiver) {
        if (typeof key === 'string' && /^\d+$/.test(key)) reads++;
        return Reflect.get(target, key, receiver) as unknown;
      },
    });
    const { text, cut } = boundedJson({ endpoint: wide }, 100);
    expect(cut).toBe(true);
    expect(text.length).toBeLessThanOrEqual(100);
    expect(reads).toBeLessThan(100);
  });

  it('does not serialise a huge string whole, and redacts secrets on the way', () => {
    const { text, cut } = boundedJson({ endpoint: 'x'.repeat(900_000), authorization: 'Bearer abc.def', log: '{"accessToken":"t0k3n-value"}' }, 100);
    expect(cut).toBe(true);
    expect(text.length).toBeLessThanOrEqual(100);
    expect(boundedJson({ authorization: 'Bearer abc.def', log: '{"accessToken":"t0k3n-value"}' }, 1000).text).toBe(
      JSON.stringify({ authorization: '[redacted]', log: '{"accessToken":"[redacted]"}' }),
    );
  });
});
