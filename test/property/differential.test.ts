import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULTS } from '../../src/config/defaults.js';
import { KEY_FORMATS } from '../../src/report/additional-info-rules.js';
import { RULES } from '../../src/report/rules.js';
import { CLIENT_SHAPE, isUuid, OPENDATA_SHAPE, SERVER_SHAPE, TIMESTAMP_PATTERN, UUID_PATTERN, walkShape } from '../../src/report/schema.js';
import { canonicalTimestampMs, prepareReport, type RuleOptions, type ValidationContext } from '../../src/report/validate.js';
import { CORPUS_CLIENT_ORG, CORPUS_CLIENT_SSID, CORPUS_SERVER_ORG, PROTOTYPE_KEYS } from '../fuzz/corpus.js';
import { prepareReport as oraclePrepareReport } from '../oracle/validate.js';
import { NOW, anyValue, catalog, context, inputFor, shaped, shapedOpendata } from './arbitraries.js';

/**
 * Issue #9: prepareReport (src/report, compiled shapes, no zod) against the oracle (test/oracle: the zod-based
 * implementation it replaced), on valid, mutated and hostile items under many rule sets. The whole result must be
 * the same — ok or not, every problem and finding (field, rule, message, value, severity, in order, keys in order),
 * the report, its JSON text, dedupKey, repairs — or both must throw the same error.
 */

const FACTOR = Math.max(1, Number(process.env.PCM_PROPERTY_RUNS ?? 1) || 1);
const RUNS = 2500 * FACTOR;

// ───────────────────────────────────────────── comparing ─────────────────────────────────────────────

/**
 * Everything about a value, keys in order, types kept (-0, NaN, undefined, bigint, functions, symbols, prototypes).
 * Iterative, so that a value nested thousands deep is described too.
 */
function ordered(root: unknown): string {
  const out: string[] = [];
  const stack: unknown[] = [root];
  const TEXT = Symbol('text');
  type Text = { [TEXT]: string };
  const text = (t: string): Text => ({ [TEXT]: t });
  while (stack.length > 0) {
    const value = stack.pop();
    if (value !== null && typeof value === 'object' && TEXT in value) {
      out.push((value as Text)[TEXT]);
      continue;
    }
    switch (typeof value) {
      case 'undefined':
        out.push('undefined');
        continue;
      case 'number':
        out.push(Object.is(value, -0) ? '-0' : String(value));
        continue;
      case 'bigint':
        out.push(`${value}n`);
        continue;
      case 'string':
        out.push(JSON.stringify(value));
        continue;
      case 'boolean':
        out.push(String(value));
        continue;
      case 'symbol':
        out.push(value.toString());
        continue;
      case 'function':
        out.push(`function ${value.name}`);
        continue;
    }
    if (value === null) {
      out.push('null');
      continue;
    }
    const parts: unknown[] = [];
    if (Array.isArray(value)) {
      parts.push(text('['));
      value.forEach((v: unknown, i) => parts.push(...(i > 0 ? [text(','), v] : [v])));
      parts.push(text(']'));
    } else {
      const proto = Object.getPrototypeOf(value) as object | null;
      const tag = proto === Object.prototype ? '' : proto === null ? 'null-proto' : ((proto.constructor as { name?: string } | undefined)?.name ?? '?');
      parts.push(text(`${tag}{`));
      Reflect.ownKeys(value as object).forEach((k, i) => parts.push(text(`${i > 0 ? ',' : ''}${String(k)}:`), (value as Record<PropertyKey, unknown>)[k]));
      parts.push(text('}'));
    }
    for (let i = parts.length - 1; i >= 0; i--) stack.push(parts[i]);
  }
  return out.join('');
}

type Outcome = { threw: string } | { result: unknown };

function outcome(run: () => unknown): Outcome {
  try {
    return { result: run() };
  } catch (err) {
    return { threw: err instanceof Error ? `${err.constructor.name}: ${err.message}` : String(err) };
  }
}

let compared = 0;
const seen = { accepted: 0, refused: 0, threw: 0 };
const reset = (): void => {
  compared = 0;
  seen.accepted = seen.refused = seen.threw = 0;
};

function same(item: unknown, ctx: ValidationContext): void {
  const expected = outcome(() => oraclePrepareReport(item, ctx));
  const actual = outcome(() => prepareReport(item, ctx));
  compared++;
  // The one intended difference: where zod threw comparing a `length` JavaScript cannot compare, the walk refuses.
  if ('threw' in expected && 'result' in actual && expected.threw.startsWith('TypeError') && !(actual.result as { ok: boolean }).ok) {
    seen.threw++;
    return;
  }
  if ('threw' in expected) seen.threw++;
  else if ((expected.result as { ok: boolean }).ok) seen.accepted++;
  else seen.refused++;
  const a = 'threw' in actual ? actual.threw : ordered(actual.result);
  const e = 'threw' in expected ? expected.threw : ordered(expected.result);
  if (a !== e) expect(a, `item: ${ordered(item).slice(0, 2000)}`).toBe(e);
  // Node's deep strict equality (prototypes by getPrototypeOf, NaN equal to NaN): vitest's toStrictEqual compares
  // `.constructor`, which an item's own "constructor": NaN key makes unequal to itself (seed 1456680478 found it).
  if ('result' in actual && 'result' in expected) expect(isDeepStrictEqual(actual.result, expected.result), `item: ${ordered(item).slice(0, 2000)}`).toBe(true);
}

// ───────────────────────────────────────────── rule sets ─────────────────────────────────────────────

const RULE_IDS = Object.keys(RULES);

const ruleOptions: fc.Arbitrary<RuleOptions> = fc.record({
  processTimespan: fc.constantFrom('number' as const, 'integer' as const),
  errorCodesAs: fc.constantFrom('string' as const, 'array' as const),
  requireTokenId: fc.boolean(),
  maxAgeMs: fc.constantFrom(DEFAULTS.rules.maxAgeMs, 60_000, 1),
  maxFutureMs: fc.constantFrom(DEFAULTS.rules.maxFutureMs, 0, 3_600_000),
  quality: fc.constantFrom('send' as const, 'refuse' as const),
  // Any rule, any action: the configuration refuses some combinations, actionOf has an answer for all of them.
  overrides: fc.dictionary(fc.constantFrom(...RULE_IDS, 'no.such.rule'), fc.constantFrom('refuse' as const, 'send' as const, 'ignore' as const), { maxKeys: 5 }),
});

/** Every rule that may be overridden, overridden: most hostile items then become reports, and their JSON is compared. */
const LENIENT: RuleOptions = {
  ...DEFAULTS.rules,
  overrides: Object.fromEntries(RULE_IDS.filter((id) => RULES[id as keyof typeof RULES].overridable).map((id, i) => [id, i % 2 ? 'send' : 'ignore'])),
};

const contextArb: fc.Arbitrary<ValidationContext> = fc.oneof(
  { arbitrary: fc.constant(context), weight: 3 },
  { arbitrary: fc.constant({ ...context, rules: LENIENT }), weight: 2 },
  {
    arbitrary: fc
      .record({
        rules: fc.oneof(fc.constant({ ...DEFAULTS.rules }), ruleOptions),
        orgs: fc.constantFrom<ReadonlySet<string> | null>(null, new Set([CORPUS_CLIENT_ORG, CORPUS_SERVER_ORG]), new Set([CORPUS_CLIENT_ORG])),
        opendataOrgId: fc.constantFrom(CORPUS_SERVER_ORG, null),
        skew: fc.constantFrom(0, 0, 60_000, -86_400_000, 8 * 86_400_000),
      })
      .map(({ rules, orgs, opendataOrgId, skew }) => ({ ...context, rules, reporterOrgIds: orgs, opendataOrgId, now: NOW + skew })),
    weight: 2,
  },
);

// ───────────────────────────────────────────── values ─────────────────────────────────────────────

const p = (n: number, w = 2): string => String(n).padStart(w, '0');

/** YYYY-MM-DDTHH:mm:ss.sssZ with any digits: impossible days, months, hours, leap days, years 0000–9999. */
const canonicalLike: fc.Arbitrary<string> = fc
  .tuple(
    fc.oneof(fc.integer({ min: 0, max: 9999 }), fc.constantFrom(0, 4, 100, 400, 1900, 1970, 2000, 2024, 2025, 2026, 2100, 9999)),
    fc.integer({ min: 0, max: 19 }),
    fc.integer({ min: 0, max: 39 }),
    fc.integer({ min: 0, max: 29 }),
    fc.integer({ min: 0, max: 69 }),
    fc.integer({ min: 0, max: 69 }),
    fc.integer({ min: 0, max: 999 }),
  )
  .map(([y, mo, d, h, mi, s, ms]) => `${p(y, 4)}-${p(mo)}-${p(d)}T${p(h)}:${p(mi)}:${p(s)}.${p(ms, 3)}Z`);

/** Times near the clock's edges: the 7-day window, the 5-minute future, now. */
const nearNow: fc.Arbitrary<string> = fc
  .oneof(
    { arbitrary: fc.integer({ min: -60_000, max: 0 }), weight: 6 },
    fc.constantFrom(-7 * 86_400_000, -7 * 86_400_000 - 1, -7 * 86_400_000 + 1, 300_000, 300_001, 299_999, 3_600_000, 3_600_001),
    fc.integer({ min: -10 * 86_400_000, max: 2 * 3_600_000 }),
  )
  .map((d) => new Date(NOW + d).toISOString());

/** What normaliseReport repairs, or refuses to: offsets, precision, epoch numbers, bare dates. */
const timestampLike: fc.Arbitrary<unknown> = fc.oneof(
  canonicalLike,
  nearNow,
  nearNow.map((t) => t.replace('Z', '+00:00')),
  nearNow.map((t) => t.replace('.', '.123456').replace('Z', '-03:00')),
  nearNow.map((t) => t.slice(0, 19)),
  nearNow.map((t) => Date.parse(t)),
  nearNow.map((t) => Date.parse(t) * 1000),
  nearNow.map((t) => Date.parse(t) / 1000),
  nearNow.map((t) => ` ${t}`),
  nearNow.map((t) => `${t}\n`),
);

const UNITS = fc.oneof(
  fc.constantFrom('a', 'F', '0', '-', ' ', '/', ':', '_', '.', "'", ',', '?', '#', '"', '\\', 'é', '😀', '\u0000', '\n', '\ud800', '\udc00'),
  fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)),
);

const hex = fc.constantFrom(...'0123456789abcdefABCDEF'.split(''));
const uuidLike: fc.Arbitrary<string> = fc.oneof(
  fc.uuid(),
  fc.uuid().map((u) => u.toUpperCase()),
  fc.constantFrom('00000000-0000-0000-0000-000000000000', CORPUS_CLIENT_ORG, CORPUS_SERVER_ORG, CORPUS_CLIENT_ORG.toUpperCase(), CORPUS_CLIENT_SSID),
  fc.tuple(fc.uuid(), fc.nat(35), UNITS).map(([u, i, c]) => u.slice(0, i) + c + u.slice(i + 1)),
  fc.array(hex, { minLength: 32, maxLength: 32 }).map((h) => `${h.slice(0, 8).join('')}-${h.slice(8, 12).join('')}-${h.slice(12, 16).join('')}-${h.slice(16, 20).join('')}-${h.slice(20).join('')}`),
);

/** Lengths on both sides of every limit (1, 28, 36, 100, 200), in UTF-16 units and in code points. */
const LIMITS = [0, 1, 2, 23, 24, 25, 27, 28, 29, 35, 36, 37, 56, 72, 99, 100, 101, 199, 200, 201, 400, 401];
const sized: fc.Arbitrary<string> = fc
  .tuple(fc.constantFrom(...LIMITS), fc.constantFrom('x', '😀', 'a😀', '\ud800', 'https://a.br/'))
  .map(([n, unit]) => unit.repeat(Math.ceil(n / unit.length)).slice(0, n));

const stringLike: fc.Arbitrary<string> = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: UNITS, maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  sized,
  uuidLike,
  canonicalLike,
  fc.constantFrom('CLIENT', 'SERVER', 'client', 'Server', 'GET', 'get', 'Post', 'HEAD', 'https://api.bank.com.br/open', 'http://x', 'ftp://x/y', 'https:/x'),
);

/** Lengths that are not numbers of units: zod's length checks run on anything with a `length`. */
const withLength: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(...LIMITS).map((n) => new Array<number>(n).fill(0)),
  fc.oneof(fc.constantFrom<unknown>(...LIMITS, 'abc', '30', '300', null, true, [], [50], {}, -1, Number.NaN, 1e400), anyValue).map((length) => ({ length })),
);

const numberLike: fc.Arbitrary<number> = fc.oneof(
  fc.constantFrom(199, 200, 201, 204, 302, 400, 408, 500, 599, 600, 0, -0, 1, -1, 0.5, 250.5, 32_767, 32_768, 40_000),
  fc.constantFrom(Number.NaN, Infinity, -Infinity, 1e20, -1e20, 1e308, -1e308, 2 ** 53, 2 ** 53 + 2, -(2 ** 53) - 2, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER, 5e-324),
  fc.double(),
  fc.integer(),
);

/** Not JSON, but what a caller of prepareReport could still hand it. */
const oddValue: fc.Arbitrary<unknown> = fc.constantFrom<unknown>(
  undefined,
  10n,
  Symbol('s'),
  function named() {
    return 1;
  },
  { toString: () => 'GET' },
  { toString: () => 'x', valueOf: () => 200 },
  { toString: 1 },
  Object.create(null) as unknown,
  Object.assign(Object.create(null) as object, { consentId: 'urn:a:b' }),
  new Date(NOW),
  { toJSON: (key: string) => `toJSON(${key})` },
  { consentId: 'urn:a:b', toJSON: () => undefined },
  { consentId: 10n },
  new String('GET'),
  new Number(200),
  [undefined],
  { a: undefined },
);

/** Objects and arrays nested `depth` deep (named for fast-check, whose printer would recurse that deep). */
const deep = (depth: number): unknown => {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = i % 2 ? [v] : { a: v };
  Object.defineProperty(v, fc.toStringMethod, { value: () => `deep(${depth})` });
  return v;
};

const fieldValue: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: stringLike, weight: 6 },
  { arbitrary: numberLike, weight: 3 },
  { arbitrary: timestampLike, weight: 2 },
  { arbitrary: withLength, weight: 2 },
  { arbitrary: anyValue, weight: 3 },
  { arbitrary: oddValue, weight: 1 },
  { arbitrary: fc.constantFrom(deep(50), deep(5000)), weight: 1 },
);

// ───────────────────────────────────────────── additionalInfo ─────────────────────────────────────────────

const INFO_KEYS = [
  ...Object.keys(KEY_FORMATS),
  ...PROTOTYPE_KEYS,
  'paymentId',
  'Authorization',
  'accessToken',
  'access_token',
  'cookie',
  'x-api-key',
  'ConsentId',
  '',
];

const infoValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom<unknown>(
    'PF',
    'PJ',
    'NONE',
    'NO_CREDENTIAL',
    'NO_AUTHORITY',
    'IMMEDIATE',
    'AUTOMATIC',
    'SCHEDULED',
    'AUTHORIZATION_CODE',
    'CLIENT_CREDENTIALS',
    'REFRESH_TOKEN',
    'REJECTED',
    'REVOKED',
    'RJCT',
    'CANC',
    'INICIADORA',
    'TRUE',
    'FALSE',
    'DICT',
    'APDN',
    'HYBRID_FLOW',
    'platform',
    '',
    'urn:bank:1',
    'urn:bancoex:6096c7f6-53a0-4c53-bc95-9c8d48b9a6cf',
    'c9ng8aKzxNXm',
    'bearer-12345',
    'Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig',
    'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig',
    'a b',
    'text with Bearer abc.def-ghi== inside',
    '203.0.113.7',
    '2001:db8::1',
    '999.1.1.1',
    '2026-11-22',
    '2026-13-01',
    '1234',
    '00',
    '07',
    'E1',
    ['E1'],
    ['E1', 'E2'],
    [],
    [1],
    [{ paymentId: 'p1' }],
    [{ paymentId: 1 }],
    ['x'],
    new Array<unknown>(61).fill({ paymentId: 'p' }),
    { naturezaJuridica: '2062', porteEmpresa: '03' },
    { naturezaJuridica: '20', porteEmpresa: '04', extra: 1 },
    { porteEmpresa: '01' },
    { AUTHORISED: '3', REVOKED: 2 },
    { a: '1', b: 'x' },
    {},
    { toJSON: 'x' },
  ),
  // URNs on both sides of their 256-character limit.
  fc.integer({ min: 240, max: 260 }).map((n) => `urn:bank:${'x'.repeat(n - 9)}`),
  fieldValue,
);

const infoObject: fc.Arbitrary<Record<string, unknown>> = fc
  .array(fc.tuple(fc.oneof({ arbitrary: fc.constantFrom(...INFO_KEYS), weight: 5 }, { arbitrary: fc.string({ maxLength: 6 }), weight: 1 }), infoValue), { maxLength: 7 })
  .map((entries) => {
    const out: Record<string, unknown> = {};
    for (const [k, v] of entries) Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
    return out;
  });

const info: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: infoObject, weight: 8 },
  {
    arbitrary: fc.constantFrom<unknown>(
      { consentId: 'urn:bancoservidor:C1', tokenId: 'c9ng8aKzxNXm' },
      { dropReason: 'NONE' },
      { clientIp: '203.0.113.7' },
      // Not JSON: serialised differently alone and inside the report, or not at all.
      { clientIp: '203.0.113.7', toJSON: (key: string) => ({ key }) },
      { dropReason: 'NONE', toJSON: () => undefined },
      { consentId: 'urn:bancoservidor:C1', n: 10n },
    ),
    weight: 3,
  },
  { arbitrary: fieldValue, weight: 1 },
);

// ───────────────────────────────────────────── items ─────────────────────────────────────────────

/** Mostly the first, sometimes the second: each field of an item is right most of the time, so whole items often are. */
const mostly = <T, U>(right: fc.Arbitrary<T>, other: fc.Arbitrary<U>): fc.Arbitrary<T | U> =>
  fc.oneof({ arbitrary: right, weight: 15 }, { arbitrary: other, weight: 1 });


const PRIVATE_ENDPOINTS = catalog.private.map((e) => e.template);
const OPENDATA_ENDPOINTS = catalog.opendata.map((e) => e.template);

/** An endpoint as gateways send it: a template, a concrete path, a full URL, an unlisted one. */
const endpointFor = (list: readonly string[]): fc.Arbitrary<unknown> =>
  fc.oneof(
    { arbitrary: fc.constantFrom(...list), weight: 20 },
    { arbitrary: fc.tuple(fc.constantFrom(...list), fc.constantFrom('123', 'abc-9', 'x%2Fy')).map(([t, id]) => t.replace(/\{[^}]+\}/g, id)), weight: 2 },
    {
      arbitrary: fc.tuple(fc.constantFrom(...list), fc.constantFrom('https://api.bank.com.br/opbk', 'http://h', 'HTTPS://H.BR/x?y=1')).map(([t, host]) => `${host}${t.replace(/\{[^}]+\}/g, '42')}?page=1`),
      weight: 1,
    },
    { arbitrary: fc.constantFrom('/token', '/x/token', '/register', '/register/abc', '/open-banking/accounts/v1/accounts', '', '/', 'token'), weight: 1 },
    { arbitrary: fieldValue, weight: 1 },
  );

const method = mostly(fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'get', 'Patch'), fc.oneof(fc.constant('HEAD'), fieldValue));
const status = mostly(fc.constantFrom(200, 201, 204, 400, 403, 404, 408, 422, 500, 504), numberLike);

const VALID_INFO = { consentId: 'urn:bancoservidor:C1', tokenId: 'c9ng8aKzxNXm' };

/** A private report built field by field from plausible values (mostly right, sometimes not). */
const privateItem: fc.Arbitrary<Record<string, unknown>> = fc
  .record({
    role: mostly(fc.constantFrom('CLIENT', 'SERVER'), fc.constantFrom('client', 'Server', 'PROXY')),
    fapiInteractionId: mostly(fc.uuid(), uuidLike),
    endpoint: endpointFor(PRIVATE_ENDPOINTS),
    statusCode: status,
    httpMethod: method,
    timestamp: mostly(nearNow, timestampLike),
    processTimespan: mostly(fc.integer({ min: 1, max: 900 }), numberLike),
    clientOrgId: mostly(fc.constant(CORPUS_CLIENT_ORG), uuidLike),
    serverOrgId: mostly(fc.constant(CORPUS_SERVER_ORG), uuidLike),
    clientSSId: mostly(fc.constant(CORPUS_CLIENT_SSID), uuidLike),
    endpointUriPrefix: fc.oneof(
      { arbitrary: fc.constantFrom('https://api.bank.com.br/open', 'https://api.bank.com.br', 'http://h'), weight: 12 },
      { arbitrary: fc.constantFrom('https://api.bank.com.br/opbk/open-banking/accounts/v2/accounts?x=1', 'https://h.br/p#f', 'api.bank.com.br', ''), weight: 1 },
      { arbitrary: stringLike, weight: 1 },
    ),
    correlationId: mostly(fc.constantFrom('jornada-7f3a', "a /:_.',Z9", ''), stringLike),
    additionalInfo: fc.oneof({ arbitrary: fc.constant(VALID_INFO), weight: 2 }, { arbitrary: info, weight: 1 }),
  })
  .chain((full) =>
    fc.record({ drop: fc.array(fc.boolean(), { minLength: 13, maxLength: 13 }), typical: fc.oneof({ arbitrary: fc.constant(true), weight: 4 }, { arbitrary: fc.constant(false), weight: 1 }) }).map(({ drop, typical }) => {
      const out: Record<string, unknown> = {};
      Object.keys(full).forEach((key, i) => {
        const clientOnly = key === 'clientSSId' || key === 'endpointUriPrefix' || key === 'correlationId';
        // A SERVER item usually has none of the CLIENT-only keys (the normaliser removes them when it has).
        if (typical && full.role === 'SERVER' && clientOnly) return;
        // The optional keys come and go; sometimes a required one goes too.
        if ((key === 'correlationId' || (key === 'additionalInfo' && full.role === 'SERVER')) && drop[i]) return;
        if (!typical && drop[i] && i % 3 === 0) return;
        out[key] = full[key as keyof typeof full];
      });
      return out;
    }),
  );

const opendataItem: fc.Arbitrary<Record<string, unknown>> = fc.record(
  {
    endpoint: endpointFor(OPENDATA_ENDPOINTS),
    statusCode: status,
    httpMethod: method,
    timestamp: mostly(nearNow, timestampLike),
    processTimespan: mostly(fc.integer({ min: 1, max: 900 }), numberLike),
    additionalInfo: fc.oneof({ arbitrary: fc.constant({ clientIp: '203.0.113.7' }), weight: 4 }, { arbitrary: info, weight: 1 }),
  },
  { requiredKeys: ['endpoint', 'statusCode', 'httpMethod', 'timestamp', 'processTimespan'] },
);

const EXTRA_KEYS = [...PROTOTYPE_KEYS, 'Role', 'ENDPOINT', 'fapiinteractionid', 'status', 'extra', '0', '10', '', ' role'];

type Edit = { op: 'set'; key: string; value: unknown } | { op: 'drop'; key: string } | { op: 'add'; key: string; value: unknown };

const KNOWN = ['role', 'fapiInteractionId', 'endpoint', 'statusCode', 'httpMethod', 'timestamp', 'processTimespan', 'clientOrgId', 'serverOrgId', 'clientSSId', 'endpointUriPrefix', 'correlationId', 'additionalInfo'];

const edit: fc.Arbitrary<Edit> = fc.oneof(
  { arbitrary: fc.record({ op: fc.constant('set' as const), key: fc.constantFrom(...KNOWN), value: fieldValue }), weight: 5 },
  { arbitrary: fc.record({ op: fc.constant('drop' as const), key: fc.constantFrom(...KNOWN) }), weight: 2 },
  { arbitrary: fc.record({ op: fc.constant('add' as const), key: fc.oneof(fc.constantFrom(...EXTRA_KEYS), fc.string({ maxLength: 5 })), value: fieldValue }), weight: 2 },
);

/** Own, enumerable data properties whatever the key (`__proto__` stays a key, as JSON.parse makes it). */
function edited(item: Record<string, unknown>, edits: readonly Edit[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(item)) Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
  for (const e of edits) {
    if (e.op === 'drop') delete out[e.key];
    else Object.defineProperty(out, e.key, { value: e.value, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

const mutated = (base: fc.Arbitrary<Record<string, unknown>>): fc.Arbitrary<unknown> =>
  fc.tuple(base, fc.array(edit, { maxLength: 4 })).map(([item, edits]) => edited(item, edits));

/** The same item as something other than a plain object: no prototype, a class instance, a JSON round trip. */
const wrapped = (base: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> =>
  fc.tuple(base, fc.constantFrom('null-proto', 'class', 'json')).map(([item, how]) => {
    if (item === null || typeof item !== 'object' || Array.isArray(item)) return item;
    if (how === 'json') {
      try {
        return JSON.parse(JSON.stringify(item)) as unknown;
      } catch {
        return item;
      }
    }
    const target = how === 'null-proto' ? (Object.create(null) as Record<string, unknown>) : new (class Report {})();
    for (const [k, v] of Object.entries(item)) Object.defineProperty(target, k, { value: v, enumerable: true, writable: true, configurable: true });
    return target;
  });

const item: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: privateItem, weight: 6 },
  { arbitrary: mutated(privateItem), weight: 6 },
  { arbitrary: opendataItem, weight: 2 },
  { arbitrary: mutated(opendataItem), weight: 2 },
  { arbitrary: inputFor('/v1/reports'), weight: 3 },
  { arbitrary: shaped('/v1/reports'), weight: 5 },
  { arbitrary: shapedOpendata, weight: 2 },
  { arbitrary: wrapped(fc.oneof(privateItem, mutated(privateItem), opendataItem)), weight: 1 },
  { arbitrary: fc.oneof(anyValue, oddValue), weight: 1 },
);

// ───────────────────────────────────────────── properties ─────────────────────────────────────────────

describe('prepareReport = the zod-based oracle (test/oracle), on any input', () => {
  it('the same result on valid, mutated and hostile items, under the default and generated rule sets', () => {
    reset();
    fc.assert(
      fc.property(item, contextArb, (value, ctx) => same(value, ctx)),
      { numRuns: RUNS },
    );
    // Every outcome was compared, not only refusals.
    expect(seen.accepted).toBeGreaterThan(compared / 5);
    expect(seen.refused).toBeGreaterThan(compared / 5);
  });

  it('the same result for every field replaced by a hostile value, one field at a time', () => {
    const bases = [
      { role: 'CLIENT', fapiInteractionId: 'c2f1b3a4-5d6e-4f70-8a9b-0c1d2e3f4a5b', endpoint: '/open-banking/accounts/v2/accounts', statusCode: 200, httpMethod: 'GET', timestamp: new Date(NOW - 1000).toISOString(), processTimespan: 120, clientOrgId: CORPUS_CLIENT_ORG, serverOrgId: CORPUS_SERVER_ORG, correlationId: 'j-1', clientSSId: CORPUS_CLIENT_SSID, endpointUriPrefix: 'https://api.bank.com.br/open', additionalInfo: { consentId: 'urn:bank:1', tokenId: 'c9ng8aKzxNXm' } },
      { role: 'SERVER', fapiInteractionId: 'c2f1b3a4-5d6e-4f70-8a9b-0c1d2e3f4a5b', endpoint: '/open-banking/consents/v3/consents', statusCode: 201, httpMethod: 'POST', timestamp: new Date(NOW - 1000).toISOString(), processTimespan: 120, clientOrgId: CORPUS_CLIENT_ORG, serverOrgId: CORPUS_SERVER_ORG, additionalInfo: { dropReason: 'NONE' } },
      { endpoint: '/open-banking/channels/v2/branches', statusCode: 200, httpMethod: 'GET', timestamp: new Date(NOW - 1000).toISOString(), processTimespan: 35, additionalInfo: { clientIp: '203.0.113.7' } },
    ];
    for (const base of bases) same(base, context);
    fc.assert(
      fc.property(fc.constantFrom(...bases), fc.constantFrom(...KNOWN), fieldValue, (base, key, value) => {
        same(edited(base, [{ op: 'set', key, value }]), context);
      }),
      { numRuns: RUNS },
    );
  });

  it('refuses, where the oracle threw, a `length` that JavaScript cannot compare (the only intended difference)', () => {
    const length = JSON.parse('{"length":{"toString":{},"valueOf":{}}}') as unknown;
    const base = { role: 'SERVER', fapiInteractionId: 'c2f1b3a4-5d6e-4f70-8a9b-0c1d2e3f4a5b', endpoint: '/open-banking/accounts/v2/accounts', statusCode: 200, httpMethod: 'GET', timestamp: new Date(NOW - 1000).toISOString(), processTimespan: 1, clientOrgId: CORPUS_CLIENT_ORG, serverOrgId: CORPUS_SERVER_ORG };
    for (const key of ['fapiInteractionId', 'endpoint', 'timestamp', 'serverOrgId']) {
      const value = { ...base, [key]: length };
      expect(() => oraclePrepareReport(value, context)).toThrow(TypeError);
      const result = prepareReport(value, context);
      expect(result.ok).toBe(false);
      expect(!result.ok && result.problems.some((p) => p.field === key && p.rule === 'type')).toBe(true);
    }
  });

  it('the same result for every additionalInfo on every (role, method, endpoint, status) of the catalogue', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('CLIENT', 'SERVER', 'opendata'),
        fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH'),
        fc.constantFrom(...PRIVATE_ENDPOINTS),
        fc.constantFrom(...OPENDATA_ENDPOINTS),
        fc.constantFrom(200, 201, 204, 400, 403, 404, 408, 422, 500, 504),
        info,
        contextArb,
        (role, httpMethod, endpoint, opendataEndpoint, statusCode, additionalInfo, ctx) => {
          const timestamp = new Date(NOW - 1000).toISOString();
          const value =
            role === 'opendata'
              ? { endpoint: opendataEndpoint, statusCode, httpMethod, timestamp, processTimespan: 35, additionalInfo }
              : {
                  role,
                  fapiInteractionId: 'c2f1b3a4-5d6e-4f70-8a9b-0c1d2e3f4a5b',
                  endpoint,
                  statusCode,
                  httpMethod,
                  timestamp,
                  processTimespan: 120,
                  clientOrgId: CORPUS_CLIENT_ORG,
                  serverOrgId: CORPUS_SERVER_ORG,
                  ...(role === 'CLIENT' ? { clientSSId: CORPUS_CLIENT_SSID, endpointUriPrefix: 'https://api.bank.com.br/open' } : {}),
                  additionalInfo,
                };
          same(value, ctx);
        },
      ),
      { numRuns: RUNS },
    );
  });
});

describe('the shortcut of each shape (wellFormed) = no problem found by walking the shape', () => {
  it('on the items above, as normaliseReport copies them (own, enumerable keys)', () => {
    let wellFormed = 0;
    fc.assert(
      fc.property(item, (value) => {
        if (value === null || typeof value !== 'object' || Array.isArray(value)) return;
        const copy = { ...(value as Record<string, unknown>) };
        for (const shape of [CLIENT_SHAPE, SERVER_SHAPE, OPENDATA_SHAPE]) {
          const fast = shape.wellFormed(copy);
          if (fast) wellFormed++;
          const walked = outcome(() => walkShape(copy, shape));
          expect(fast, ordered(copy).slice(0, 2000)).toBe('result' in walked && walked.result === null);
        }
      }),
      { numRuns: RUNS },
    );
    expect(wellFormed).toBeGreaterThan(RUNS / 10);
  });
});

describe('isUuid = UUID_PATTERN', () => {
  it('on UUID-like and any other text', () => {
    fc.assert(
      fc.property(fc.oneof(uuidLike, stringLike, fc.string({ unit: UNITS, minLength: 36, maxLength: 36 })), (text) => {
        expect(isUuid(text)).toBe(UUID_PATTERN.test(text));
      }),
      { numRuns: RUNS * 4 },
    );
  });
});

describe('canonicalTimestampMs = Date.parse where toISOString reads it back', () => {
  const byDateParse = (ts: string): number => {
    const at = Date.parse(ts);
    return Number.isNaN(at) || new Date(at).toISOString() !== ts ? Number.NaN : at;
  };

  it('on any text of the canonical pattern', () => {
    fc.assert(
      fc.property(canonicalLike, (ts) => {
        expect(ts).toMatch(TIMESTAMP_PATTERN);
        expect(canonicalTimestampMs(ts)).toBe(byDateParse(ts));
      }),
      { numRuns: RUNS * 4 },
    );
  });

  it('on every day, hour, minute and second of leap and common years, centuries and the ends of the range', () => {
    for (const year of [0, 1, 4, 99, 100, 400, 1600, 1899, 1900, 1969, 1970, 2000, 2024, 2025, 2100, 2400, 9999]) {
      for (let month = 0; month <= 13; month++) {
        for (let day = 0; day <= 32; day++) {
          const ts = `${p(year, 4)}-${p(month)}-${p(day)}T12:00:00.000Z`;
          expect(canonicalTimestampMs(ts), ts).toBe(byDateParse(ts));
        }
      }
    }
    for (const time of ['00:00:00.000', '23:59:59.999', '24:00:00.000', '23:60:00.000', '23:59:60.000', '99:99:99.999']) {
      for (const date of ['0000-01-01', '9999-12-31', '1970-01-01', '2024-02-29']) {
        const ts = `${date}T${time}Z`;
        expect(canonicalTimestampMs(ts), ts).toBe(byDateParse(ts));
      }
    }
  });
});
