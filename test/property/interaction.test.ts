import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { interactionProblems } from '../../src/report/interaction.js';
import { rawInteractionSchema } from '../oracle/interaction.js';
import { HOSTILE_VALUES, RUNS, anyValue, inputFor } from './arbitraries.js';

/**
 * interactionProblems (src/report/interaction.ts, a table walked without zod) against the zod schema it replaced
 * (test/oracle/interaction.ts): the same verdict on any JSON value and on interactions with edits, the same fields
 * named in the same order, with the same words.
 */

/**
 * What zod says, as the sidecar words it: `field: message`, in zod's order (shape fields, then one issue for the
 * unknown keys). A field once: zod can raise two issues for one value (`url: []` is not a string, and also "too
 * small"); the first is kept.
 */
function oracleProblems(value: unknown): string[] | null {
  const parsed = rawInteractionSchema.safeParse(value);
  if (parsed.success) return null;
  const seen = new Set<string>();
  const out: string[] = [];
  for (const issue of parsed.error.issues) {
    const field = issue.path.map(String).join('.');
    if (field !== '' && seen.has(field)) continue;
    seen.add(field);
    out.push(`${field}: Invalid interaction: ${field || '(item)'}: ${issue.message}`);
  }
  return out;
}

function problems(value: unknown): string[] | null {
  return interactionProblems(value)?.map((p) => `${p.field}: ${p.message}`) ?? null;
}

const fields = (value: unknown): string[] | null => interactionProblems(value)?.map((p) => p.field) ?? null;

describe('interactionProblems', () => {
  it('gives the oracle verdict, field by field, on any JSON value and on edited interactions', () => {
    fc.assert(
      fc.property(fc.oneof(anyValue, inputFor('/v1/interactions'), fc.constantFrom(...HOSTILE_VALUES)), (value) => {
        expect(problems(value)).toEqual(oracleProblems(value));
      }),
      { numRuns: RUNS.cheap * 4 },
    );
  });

  // Each change as JSON text, as a body arrives: 1e400 stays Infinity, an own "__proto__" key stays a key.
  it.each([
    ['a number out of range for status', '"status": 1e400', ['status']],
    ['a fraction for status', '"status": 200.5', ['status']],
    ['an infinite duration', '"durationMs": 1e400', ['durationMs']],
    ['a duration in seconds with a unit', '"durationSeconds": "0.25s"', ['durationSeconds']],
    ['an empty url', '"url": ""', ['url']],
    ['an array for additionalInfo', '"additionalInfo": []', ['additionalInfo']],
    ['an empty array for url', '"url": []', ['url']],
    ['prototype keys', '"__proto__": 1, "constructor": 2', ['']],
    ['a status beyond the safe integers', '"status": 1e300', ['status']],
    ['an object with a toString for role', '"role": {"toString": 1}', ['role']],
  ])('refuses %s, as the oracle does', (_name, change, expected) => {
    const base = '"role": "CLIENT", "method": "GET", "url": "https://x/a", "status": 200, "startTime": 1, "durationMs": 1, "fapiInteractionId": "f", "counterpartyOrgId": "o"';
    expect(fields(JSON.parse(`{${base}}`))).toBeNull();
    // Later duplicate keys win in JSON.parse, so the change replaces the base's value.
    const value: unknown = JSON.parse(`{${base}, ${change}}`);
    expect(fields(value)).toEqual(expected);
    expect(problems(value)).toEqual(oracleProblems(value));
  });

  it('refuses what is not an object, with the item named', () => {
    for (const value of [null, [], 'x', 1, true]) {
      expect(interactionProblems(value)?.[0]?.message).toMatch(/^Invalid interaction: \(item\): Invalid input: expected object/);
      expect(problems(value)).toEqual(oracleProblems(value));
    }
  });
});
