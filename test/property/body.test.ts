import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IngestError } from '../../src/errors.js';
import { deeperThan, MAX_ITEM_DEPTH, parseBody, type BodyFormat, type BodyItem } from '../../src/ingest/body.js';
import { RUNS, anyValue, seedArb, shuffled } from './arbitraries.js';

/**
 * The body parser (src/ingest/body.ts) over any input: it returns items or refuses the body with a 400 IngestError,
 * never anything else; deep nesting is refused by a check that does not recurse; NDJSON is one item per non-empty
 * line; and the key order of an object changes nothing.
 */

/** The items, or the IngestError's code; anything else thrown fails the property. */
function parse(text: string | Buffer, format: BodyFormat): BodyItem[] | string {
  try {
    return parseBody(typeof text === 'string' ? Buffer.from(text) : text, format);
  } catch (err) {
    if (err instanceof IngestError && err.status === 400) return err.code;
    throw err;
  }
}

const format = fc.constantFrom<BodyFormat>('json', 'ndjson');

describe('parseBody: total over any bytes and any JSON', () => {
  it('any JSON value as a body: items or a 400, never a throw; a JSON array is one item per element', () => {
    fc.assert(
      fc.property(anyValue, format, (value, f) => {
        const text = JSON.stringify(value) ?? 'null';
        const result = parse(text, f);
        if (typeof result === 'string') {
          expect(f).toBe('json');
          return;
        }
        const reparsed: unknown = JSON.parse(text);
        if (f === 'json') expect(result.length).toBe(Array.isArray(reparsed) ? reparsed.length : 1);
        else expect(result.length).toBe(1);
        for (const item of result) if (item.ok) expect(deeperThan(item.value, MAX_ITEM_DEPTH)).toBe(false);
      }),
      { numRuns: RUNS.cheap },
    );
  });

  it('random bytes and random text: items or a 400, never a throw', () => {
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)), fc.string({ maxLength: 300, unit: 'binary' })), format, (body, f) => {
        parse(body, f);
      }),
      { numRuns: RUNS.cheap },
    );
  });

  it('nesting of any depth (up to 20 000) is measured without recursion: deeper than MAX_ITEM_DEPTH is refused, the rest kept', () => {
    const nesting = fc.record({
      depth: fc.oneof(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 20_000 })),
      shape: fc.constantFrom('array', 'object', 'mixed'),
      wrap: fc.constantFrom('alone', 'in an array', 'ndjson line'),
    });
    fc.assert(
      fc.property(nesting, ({ depth, shape, wrap }) => {
        let text = '1';
        for (let d = 0; d < depth; d++) text = shape === 'array' || (shape === 'mixed' && d % 2 === 0) ? `[${text}]` : `{"k":${text}}`;
        const body = wrap === 'in an array' ? `[{"ok":true},${text}]` : text;
        const result = parse(body, wrap === 'ndjson line' ? 'ndjson' : 'json');
        const tooDeep = depth > MAX_ITEM_DEPTH;
        if (wrap === 'alone') {
          // A top-level array is the list of items: its element is one level less deep.
          const itemDepth = text.startsWith('[') ? depth - 1 : depth;
          if (text.startsWith('{')) expect(tooDeep ? result : (result as BodyItem[]).map((i) => i.ok)).toEqual(tooDeep ? 'PCM_INGEST_TOO_DEEP' : [true]);
          else expect((result as BodyItem[]).map((i) => i.ok)).toEqual([itemDepth <= MAX_ITEM_DEPTH]);
        } else if (wrap === 'in an array') {
          expect(typeof result).not.toBe('string');
          expect((result as BodyItem[]).map((i) => i.ok)).toEqual([true, !tooDeep]);
        } else {
          expect((result as BodyItem[]).map((i) => i.ok)).toEqual([!tooDeep]);
        }
      }),
      { numRuns: RUNS.normal },
    );
  });

  it('NDJSON: one item per non-blank line (LF or CRLF), each parsed alone; a broken line costs only itself', () => {
    const line = fc.oneof(anyValue.map((v) => JSON.stringify(v) ?? 'null'), fc.string({ maxLength: 40 }), fc.constantFrom('', '  ', '\t', '{', '{"a":', 'NaN'));
    fc.assert(
      fc.property(fc.array(line, { maxLength: 12 }), fc.boolean(), (lines, crlf) => {
        const clean = lines.map((l) => l.replace(/[\r\n\u2028\u2029]/g, ' '));
        const result = parse(clean.join(crlf ? '\r\n' : '\n'), 'ndjson') as BodyItem[];
        const expected = clean.map((l) => l.trim()).filter((l) => l !== '');
        expect(result.length).toBe(expected.length);
        result.forEach((item, i) => {
          let parses = true;
          let value: unknown;
          try {
            value = JSON.parse(expected[i] as string);
          } catch {
            parses = false;
          }
          expect(item.ok).toBe(parses && !deeperThan(value, MAX_ITEM_DEPTH));
        });
      }),
      { numRuns: RUNS.cheap },
    );
  });

  it('key order changes nothing: the same items, the same verdicts', () => {
    fc.assert(
      fc.property(fc.array(anyValue, { maxLength: 5 }), seedArb, format, (values, seed, f) => {
        const write = (vs: unknown[]): string => (f === 'json' ? JSON.stringify(vs) : vs.map((v) => JSON.stringify(v) ?? 'null').join('\n'));
        const a = parse(write(values), f);
        const b = parse(write(values.map((v) => shuffled(v, seed))), f);
        expect(typeof a === 'string' ? a : a.map((i) => i.ok)).toEqual(typeof b === 'string' ? b : b.map((i) => i.ok));
      }),
      { numRuns: RUNS.cheap },
    );
  });
});
