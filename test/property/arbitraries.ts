import fc from 'fast-check';
import { DEFAULTS } from '../../src/config/defaults.js';
import { mulberry32 } from '../../src/random.js';
import { loadCatalog } from '../../src/report/catalog.js';
import { reportRules } from '../../src/report/context.js';
import {
  CORPUS_CLIENT_ORG,
  CORPUS_CLIENT_SSID,
  CORPUS_SERVER_ORG,
  HOSTILE_JSON_STRINGS,
  HOSTILE_NUMBERS,
  HOSTILE_SHAPES,
  PROTOTYPE_KEYS,
  addKeyAt,
  at,
  dropAt,
  nodePaths,
  objectPaths,
  setAt,
  validItem,
  type IngestRoute,
  type Role,
} from '../fuzz/corpus.js';

/**
 * Shared by the property tests (test/property/*.test.ts): a fixed clock and context, JSON values in general and
 * values biased towards the shapes the code reads (a valid item with fields replaced, dropped, prototype-named or
 * case-twin keys added), and a recursive key shuffle. Values are what JSON.parse can give: 1e400 is Infinity, -0 is
 * -0, `{"__proto__": …}` is an own key.
 */

export const NOW = Date.parse('2026-11-22T12:00:00.000Z');
export const catalog = loadCatalog();
export const rules = reportRules(
  {
    organisations: [{ orgId: CORPUS_CLIENT_ORG, clientSSId: CORPUS_CLIENT_SSID }, { orgId: CORPUS_SERVER_ORG }],
    opendataOrgId: CORPUS_SERVER_ORG,
    rules: { ...DEFAULTS.rules },
  },
  catalog,
);
export const context = rules.validation(NOW);

/**
 * Each property's runs: enough to reach the deep paths, few enough that the suite stays well under 30 s.
 * PCM_PROPERTY_RUNS=<factor> multiplies them for a longer search (a soak, or chasing a rare failure).
 */
const FACTOR = Math.max(1, Number(process.env.PCM_PROPERTY_RUNS ?? 1) || 1);
export const RUNS = { cheap: 600 * FACTOR, normal: 300 * FACTOR } as const;

type Json = Record<string, unknown>;

const parsed = (texts: readonly string[]): unknown[] => texts.map((t) => JSON.parse(t) as unknown);

/** Values that have broken code before: out-of-range numbers, objects with prototype-named keys, empty strings. */
export const HOSTILE_VALUES: readonly unknown[] = [...parsed(HOSTILE_NUMBERS), ...parsed(HOSTILE_SHAPES), ...parsed(HOSTILE_JSON_STRINGS), Number.NaN];

/** Any JSON value (with JSON.parse's own extras: -0, ±Infinity), or one of HOSTILE_VALUES. */
export const anyValue: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: fc.jsonValue({ maxDepth: 4 }), weight: 3 },
  { arbitrary: fc.constantFrom(...HOSTILE_VALUES), weight: 2 },
  { arbitrary: fc.constantFrom(0, -0, 1, -1, 200, 599, 1e12, 1e14, 1e15, 8.64e15, 8.64e18, Number.MAX_SAFE_INTEGER, Infinity, -Infinity), weight: 1 },
  { arbitrary: fc.string({ maxLength: 30 }), weight: 1 },
);

/** A key an attacker would choose: a prototype member's name, anything, or `__proto__` itself. */
const anyKey: fc.Arbitrary<string> = fc.oneof(fc.constantFrom(...PROTOTYPE_KEYS), fc.string({ maxLength: 10 }));

type Edit =
  | { op: 'set'; at: number; value: unknown }
  | { op: 'drop'; at: number }
  | { op: 'add'; at: number; key: string; value: unknown }
  /** A key spelt like an existing one in another case (HTTP header names), with a hostile value or the same one. */
  | { op: 'twin'; at: number; which: number; caseBits: number; value: unknown; same: boolean };

const edit: fc.Arbitrary<Edit> = fc.oneof(
  { arbitrary: fc.record({ op: fc.constant('set' as const), at: fc.nat(), value: anyValue }), weight: 5 },
  { arbitrary: fc.record({ op: fc.constant('drop' as const), at: fc.nat() }), weight: 1 },
  { arbitrary: fc.record({ op: fc.constant('add' as const), at: fc.nat(), key: anyKey, value: anyValue }), weight: 3 },
  {
    arbitrary: fc.record({ op: fc.constant('twin' as const), at: fc.nat(), which: fc.nat(), caseBits: fc.nat(), value: anyValue, same: fc.boolean() }),
    weight: 1,
  },
);

function flipCase(key: string, bits: number): string {
  const flipped = [...key].map((ch, i) => ((bits >> i % 30) & 1 ? (ch === ch.toUpperCase() ? ch.toLowerCase() : ch.toUpperCase()) : ch)).join('');
  // At least one letter changes, when there is one: a twin, not the same key.
  return flipped === key ? key.toUpperCase() : flipped;
}

function applyEdit(value: unknown, e: Edit): unknown {
  switch (e.op) {
    case 'set': {
      const paths = nodePaths(value);
      return paths.length === 0 ? e.value : setAt(value, paths[e.at % paths.length] as (string | number)[], e.value);
    }
    case 'drop': {
      const paths = nodePaths(value);
      return paths.length === 0 ? value : dropAt(value, paths[e.at % paths.length] as (string | number)[]);
    }
    case 'add': {
      const paths = objectPaths(value);
      return paths.length === 0 ? value : addKeyAt(value, paths[e.at % paths.length] as (string | number)[], e.key, e.value);
    }
    case 'twin': {
      const paths = objectPaths(value);
      if (paths.length === 0) return value;
      const path = paths[e.at % paths.length] as (string | number)[];
      const keys = Object.keys(at(value, path) as Json);
      if (keys.length === 0) return value;
      const key = keys[e.which % keys.length] as string;
      const twin = flipCase(key, e.caseBits);
      return twin === key ? value : addKeyAt(value, path, twin, e.same ? at(value, [...path, key]) : e.value);
    }
  }
}

/** A valid item of `route` (either role, a fresh id, a time in the last minute before NOW) with 0–4 edits. */
export function shaped(route: IngestRoute): fc.Arbitrary<unknown> {
  return fc
    .record({
      role: fc.constantFrom<Role>('CLIENT', 'SERVER'),
      id: fc.uuid({ version: 4 }),
      ago: fc.integer({ min: 2000, max: 60_000 }),
      durationMs: fc.integer({ min: 10, max: 900 }),
      edits: fc.array(edit, { maxLength: 4 }),
    })
    .map(({ role, id, ago, durationMs, edits }) =>
      edits.reduce<unknown>((v, e) => applyEdit(v, e), validItem(route, role, { fapiInteractionId: id, startMs: NOW - ago, durationMs })),
    );
}

/** An opendata report (no role), valid at NOW, with 0–4 edits. */
export const shapedOpendata: fc.Arbitrary<unknown> = fc
  .record({ ago: fc.integer({ min: 2000, max: 60_000 }), edits: fc.array(edit, { maxLength: 4 }) })
  .map(({ ago, edits }) =>
    edits.reduce<unknown>(
      (v, e) => applyEdit(v, e),
      {
        endpoint: '/open-banking/channels/v2/branches',
        statusCode: 200,
        httpMethod: 'GET',
        timestamp: new Date(NOW - ago).toISOString(),
        processTimespan: 35,
        additionalInfo: { clientIp: '203.0.113.7' },
      },
    ),
  );

/** Anything at all, or (more often) something shaped like what `route` reads. */
export function inputFor(route: IngestRoute): fc.Arbitrary<unknown> {
  return fc.oneof({ arbitrary: anyValue, weight: 1 }, { arbitrary: shaped(route), weight: 4 });
}

/** `value` with the keys of every object, at every depth, in another order (own `__proto__` keys kept as keys). */
export function shuffled(value: unknown, seed: number): unknown {
  const rng = mulberry32(seed);
  const visit = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(visit);
    if (node === null || typeof node !== 'object') return node;
    const entries = Object.entries(node);
    for (let i = entries.length - 1; i > 0; i--) {
      const j = Math.floor(rng() * (i + 1));
      [entries[i], entries[j]] = [entries[j] as [string, unknown], entries[i] as [string, unknown]];
    }
    const out: Json = {};
    for (const [key, child] of entries) Object.defineProperty(out, key, { value: visit(child), enumerable: true, writable: true, configurable: true });
    return out;
  };
  return visit(value);
}

/** JSON with every object's keys sorted: equal for values that differ only in key order. */
export function canonical(value: unknown): string {
  const visit = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(visit);
    if (node === null || typeof node !== 'object') return node;
    const out: Json = {};
    for (const key of Object.keys(node).sort()) {
      Object.defineProperty(out, key, { value: visit((node as Json)[key]), enumerable: true, writable: true, configurable: true });
    }
    return out;
  };
  return JSON.stringify(visit(value)) ?? 'undefined';
}

/** The sorted, distinct rule ids of some problems. */
export const ruleSet = (problems: readonly { rule: string }[]): string[] => [...new Set(problems.map((p) => p.rule))].sort();

export const seedArb = fc.integer();
