import { jsonType as describe, shown, type ReportProblem } from './problem.js';

/**
 * PCM private report models (`ClientReportRequest`, `ServerReportRequest` in pcm-openapi-current.yaml), strict:
 * the PCM refuses unknown keys ("Unrecognized key(s) in object"), so we do too.
 * `fapiInteractionId` is required for both roles: the current rule (pcm-rules.md §3.4) discards reports without it,
 * and it is the key the PCM pairs on.
 *
 * The shapes are data (CLIENT_SHAPE, SERVER_SHAPE, OPENDATA_SHAPE), compiled once at module load into tables that
 * shapeProblems walks. They say what the zod schemas of earlier versions said, and raise the same problems with the
 * same wording (zod's checks in zod's order, its messages, its treatment of absent, null and mistyped values);
 * test/oracle keeps those schemas, and test/property/differential.test.ts holds the two to the same answers.
 */

export const UUID_PATTERN = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
export const TIMESTAMP_PATTERN = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
export const URI_PREFIX_PATTERN = /^[- /:_.',0-9a-zA-Z]{0,200}$/;
export const CORRELATION_ID_PATTERN = /^[- /:_.',0-9a-zA-Z]{0,100}$/;

export const HTTP_METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH'] as const;
export const ROLES = ['CLIENT', 'SERVER'] as const;

export type HttpMethod = (typeof HTTP_METHODS)[number];

interface CommonFields {
  fapiInteractionId: string;
  endpoint: string;
  statusCode: number;
  httpMethod: HttpMethod;
  timestamp: string;
  processTimespan: number;
  clientOrgId: string;
  serverOrgId: string;
}

export interface ClientReport extends CommonFields {
  role: 'CLIENT';
  correlationId?: string | undefined;
  clientSSId: string;
  endpointUriPrefix: string;
  /** A JSON object, kept as it came (an own `__proto__` key stays a key); checked by additional-info.ts. */
  additionalInfo: Record<string, unknown>;
}

export interface ServerReport extends CommonFields {
  role: 'SERVER';
  additionalInfo?: Record<string, unknown> | undefined;
}

export type PrivateReport = ClientReport | ServerReport;

/** Opendata (`OpendataReportRequest`): only the server reports; no role, org ids or fapiInteractionId. */
export interface OpendataReport {
  endpoint: string;
  statusCode: number;
  httpMethod: HttpMethod;
  timestamp: string;
  processTimespan: number;
  additionalInfo: Record<string, unknown>;
}

export type AnyReport = PrivateReport | OpendataReport;

// ───────────────────────────────────────────── shapes as data ─────────────────────────────────────────────

/**
 * One check of a string, applied in the order listed. A pattern may come with `matches`, a test that answers
 * exactly what the pattern does, only faster (checked against it in test/property/differential.test.ts).
 */
export type StringCheck = { min: number } | { max: number } | { pattern: RegExp; message?: string; matches?: (text: string) => boolean };

export type FieldType =
  | { type: 'string'; checks: readonly StringCheck[] }
  | { type: 'number'; int?: boolean; min?: number; max?: number }
  /** One of these strings (`role` is the one-value case). */
  | { type: 'enum'; values: readonly string[] }
  /** A JSON object: not null, not an array. */
  | { type: 'object' };

export interface FieldSpec {
  key: string;
  type: FieldType;
  /** Absent (or undefined) is fine; otherwise the value is checked. */
  optional?: boolean;
}

const HEX_DIGIT = new Uint8Array(128);
for (const c of '0123456789abcdefABCDEF') HEX_DIGIT[c.charCodeAt(0)] = 1;

/** UUID_PATTERN without the regular expression engine: 8-4-4-4-12 hexadecimal digits, nothing else. */
export function isUuid(text: string): boolean {
  if (text.length !== 36) return false;
  let ok = 1;
  for (let i = 0; i < 36; i++) {
    const c = text.charCodeAt(i);
    ok &= i === 8 || i === 13 || i === 18 || i === 23 ? (c === 45 ? 1 : 0) : c < 128 ? (HEX_DIGIT[c] as number) : 0;
  }
  return ok === 1;
}

const uuid: FieldType = { type: 'string', checks: [{ max: 36 }, { pattern: UUID_PATTERN, message: 'must be a UUID', matches: isUuid }] };

const COMMON: readonly FieldSpec[] = [
  { key: 'fapiInteractionId', type: uuid },
  { key: 'endpoint', type: { type: 'string', checks: [{ min: 1 }] } },
  { key: 'statusCode', type: { type: 'number', int: true, min: 200, max: 599 } },
  { key: 'httpMethod', type: { type: 'enum', values: HTTP_METHODS } },
  { key: 'timestamp', type: { type: 'string', checks: [{ max: 28 }, { pattern: TIMESTAMP_PATTERN, message: 'must be YYYY-MM-DDTHH:mm:ss.sssZ' }] } },
  { key: 'processTimespan', type: { type: 'number' } },
  { key: 'clientOrgId', type: uuid },
  { key: 'serverOrgId', type: uuid },
];

const byKey = (key: string): FieldSpec => COMMON.find((f) => f.key === key) as FieldSpec;

export const CLIENT_FIELDS: readonly FieldSpec[] = [
  { key: 'role', type: { type: 'enum', values: ['CLIENT'] } },
  ...COMMON,
  { key: 'correlationId', optional: true, type: { type: 'string', checks: [{ max: 100 }, { pattern: CORRELATION_ID_PATTERN }] } },
  { key: 'clientSSId', type: uuid },
  // §3.2: the PCM discards an empty one ("should not be empty"); the https://host shape is checked as a remark.
  { key: 'endpointUriPrefix', type: { type: 'string', checks: [{ min: 1 }, { max: 200 }, { pattern: URI_PREFIX_PATTERN }] } },
  { key: 'additionalInfo', type: { type: 'object' } },
];

export const SERVER_FIELDS: readonly FieldSpec[] = [
  { key: 'role', type: { type: 'enum', values: ['SERVER'] } },
  ...COMMON,
  { key: 'additionalInfo', optional: true, type: { type: 'object' } },
];

export const OPENDATA_FIELDS: readonly FieldSpec[] = [
  byKey('endpoint'),
  byKey('statusCode'),
  byKey('httpMethod'),
  byKey('timestamp'),
  byKey('processTimespan'),
  { key: 'additionalInfo', type: { type: 'object' } },
];

// ───────────────────────────────────────────── compiled shapes ─────────────────────────────────────────────

const STRING = 0;
const NUMBER = 1;
const ENUM = 2;
const OBJECT = 3;

/** A field flattened for the walk: one class, so every field has the same hidden class. */
class CompiledField {
  readonly kind: number;
  /** Strings: the checks in order, as parallel arrays (0 = min, 1 = max, 2 = pattern; the pattern's matcher). */
  readonly checkKinds: readonly number[];
  readonly checkLimits: readonly number[];
  readonly checkMatchers: readonly ((text: string) => boolean)[];
  readonly checkMessages: readonly string[];
  /** Numbers. */
  readonly int: boolean;
  readonly min: number;
  readonly max: number;
  /** Enums. */
  readonly values: readonly string[];
  readonly valueSet: ReadonlySet<unknown>;
  /** "Invalid enum value. Expected 'A' | 'B'" */
  readonly enumExpected: string;
  /**
   * The last string that passed every check of this field. The checks are a function of the text alone, so a value
   * equal to it passes without them: org ids, clientSSId and endpointUriPrefix repeat from report to report, and
   * comparing two texts is cheaper than matching a pattern.
   */
  lastPassed: string | null = null;

  constructor(
    readonly key: string,
    readonly optional: boolean,
    type: FieldType,
  ) {
    const kinds: number[] = [];
    const limits: number[] = [];
    const matchers: ((text: string) => boolean)[] = [];
    const messages: string[] = [];
    this.int = false;
    this.min = Number.NEGATIVE_INFINITY;
    this.max = Number.POSITIVE_INFINITY;
    this.values = [];
    switch (type.type) {
      case 'string':
        this.kind = STRING;
        for (const check of type.checks) {
          if ('pattern' in check) {
            kinds.push(2);
            limits.push(0);
            const pattern = check.pattern;
            matchers.push(check.matches ?? ((text) => pattern.test(text)));
            // zod's default wording for a regex without a message of its own.
            messages.push(check.message ?? `Invalid string: must match pattern ${String(check.pattern)}`);
          } else {
            kinds.push('min' in check ? 0 : 1);
            limits.push('min' in check ? check.min : check.max);
            matchers.push(() => true);
            messages.push('');
          }
        }
        break;
      case 'number':
        this.kind = NUMBER;
        this.int = type.int === true;
        if (type.min !== undefined) this.min = type.min;
        if (type.max !== undefined) this.max = type.max;
        break;
      case 'enum':
        this.kind = ENUM;
        this.values = type.values;
        break;
      case 'object':
        this.kind = OBJECT;
        break;
    }
    this.checkKinds = kinds;
    this.checkLimits = limits;
    this.checkMatchers = matchers;
    this.checkMessages = messages;
    this.valueSet = new Set<unknown>(this.values);
    this.enumExpected = this.values.map((v) => `'${v}'`).join(' | ');
  }
}

export interface CompiledShape {
  readonly fields: readonly CompiledField[];
  readonly keys: ReadonlySet<string>;
  /**
   * True when the item raises no problem at all: the fields read by name (inline caches, not the keyed lookup a walk
   * of the table would do), each checked by its table entry, and for-in visiting exactly the keys read, which with
   * an item whose own keys are all enumerable means it has no other key. False sends the item to the walk.
   */
  readonly wellFormed: (input: Record<string, unknown>) => boolean;
}

function compileFields(fields: readonly FieldSpec[]): Readonly<Record<string, CompiledField>> {
  return Object.fromEntries(fields.map((f) => [f.key, new CompiledField(f.key, f.optional === true, f.type)]));
}

function compileShape(fields: Readonly<Record<string, CompiledField>>, wellFormed: (input: Record<string, unknown>) => boolean): CompiledShape {
  const list = Object.values(fields);
  return { fields: list, keys: new Set(list.map((f) => f.key)), wellFormed };
}

/** How many keys for-in visits: the ones zod's unknown-key walk visited. */
function keyCount(input: object): number {
  let count = 0;
  for (const _key in input) count++;
  return count;
}

const C = compileFields(CLIENT_FIELDS);
const S = compileFields(SERVER_FIELDS);
const O = compileFields(OPENDATA_FIELDS);

export const CLIENT_SHAPE: CompiledShape = compileShape(C, (o) => {
  const correlationId = o.correlationId;
  return (
    passes(C.role as CompiledField, o.role) &&
    passes(C.fapiInteractionId as CompiledField, o.fapiInteractionId) &&
    passes(C.endpoint as CompiledField, o.endpoint) &&
    passes(C.statusCode as CompiledField, o.statusCode) &&
    passes(C.httpMethod as CompiledField, o.httpMethod) &&
    passes(C.timestamp as CompiledField, o.timestamp) &&
    passes(C.processTimespan as CompiledField, o.processTimespan) &&
    passes(C.clientOrgId as CompiledField, o.clientOrgId) &&
    passes(C.serverOrgId as CompiledField, o.serverOrgId) &&
    (correlationId === undefined || passes(C.correlationId as CompiledField, correlationId)) &&
    passes(C.clientSSId as CompiledField, o.clientSSId) &&
    passes(C.endpointUriPrefix as CompiledField, o.endpointUriPrefix) &&
    passes(C.additionalInfo as CompiledField, o.additionalInfo) &&
    keyCount(o) === (correlationId === undefined ? 12 : 13)
  );
});

export const SERVER_SHAPE: CompiledShape = compileShape(S, (o) => {
  const additionalInfo = o.additionalInfo;
  return (
    passes(S.role as CompiledField, o.role) &&
    passes(S.fapiInteractionId as CompiledField, o.fapiInteractionId) &&
    passes(S.endpoint as CompiledField, o.endpoint) &&
    passes(S.statusCode as CompiledField, o.statusCode) &&
    passes(S.httpMethod as CompiledField, o.httpMethod) &&
    passes(S.timestamp as CompiledField, o.timestamp) &&
    passes(S.processTimespan as CompiledField, o.processTimespan) &&
    passes(S.clientOrgId as CompiledField, o.clientOrgId) &&
    passes(S.serverOrgId as CompiledField, o.serverOrgId) &&
    (additionalInfo === undefined || passes(S.additionalInfo as CompiledField, additionalInfo)) &&
    keyCount(o) === (additionalInfo === undefined ? 9 : 10)
  );
});

export const OPENDATA_SHAPE: CompiledShape = compileShape(
  O,
  (o) =>
    passes(O.endpoint as CompiledField, o.endpoint) &&
    passes(O.statusCode as CompiledField, o.statusCode) &&
    passes(O.httpMethod as CompiledField, o.httpMethod) &&
    passes(O.timestamp as CompiledField, o.timestamp) &&
    passes(O.processTimespan as CompiledField, o.processTimespan) &&
    passes(O.additionalInfo as CompiledField, o.additionalInfo) &&
    keyCount(o) === 6,
);

/** A string's length in code points (zod measures lengths so; a surrogate pair is one). */
function codePointLength(text: string): number {
  let count = text.length;
  for (let i = 0; i < text.length - 1; i++) {
    if ((text.charCodeAt(i) & 0xfc00) === 0xd800 && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      count--;
      i++;
    }
  }
  return count;
}

/** True when `value` raises no problem at all: the path every well-formed report takes, without allocating. */
function passes(field: CompiledField, value: unknown): boolean {
  switch (field.kind) {
    case STRING: {
      if (typeof value !== 'string') return false;
      if (value === field.lastPassed) return true;
      const kinds = field.checkKinds;
      for (let i = 0; i < kinds.length; i++) {
        const kind = kinds[i];
        if (kind === 2) {
          if (!(field.checkMatchers[i] as (text: string) => boolean)(value)) return false;
        } else {
          const limit = field.checkLimits[i] as number;
          const units = value.length;
          if (kind === 0 ? units < limit || (units < limit * 2 && codePointLength(value) < limit) : units > limit && codePointLength(value) > limit) {
            return false;
          }
        }
      }
      field.lastPassed = value;
      return true;
    }
    case NUMBER:
      return (
        typeof value === 'number' &&
        Number.isFinite(value) &&
        (!field.int || Number.isSafeInteger(value)) &&
        value >= field.min &&
        value <= field.max
      );
    case ENUM:
      return field.valueSet.has(value);
    default:
      return value !== null && typeof value === 'object' && !Array.isArray(value);
  }
}

/** What zod's issues carried that the problems need. */
type Issue =
  | { code: 'invalid_type'; key: string; expected: string }
  | { code: 'invalid_value'; key: string; field: CompiledField }
  | { code: 'too_small' | 'too_big' | 'invalid_format' | 'custom'; key: string; message: string };

/**
 * What a relational comparison makes of a non-number (zod compared `length` as it came): the same coercion, except
 * that a value JavaScript cannot convert ({"toString": {}, "valueOf": {}}) is NaN instead of a TypeError.
 */
function comparableNumber(value: unknown): number {
  try {
    return Number(value);
  } catch {
    return Number.NaN;
  }
}

/** zod's name for where a length came from. */
function lengthOrigin(value: unknown): string {
  if (Array.isArray(value)) return 'array';
  return typeof value === 'string' ? 'string' : 'unknown';
}

function tooSmall(origin: string, minimum: number): string {
  if (origin === 'string') return `Too small: expected string to have >=${minimum} characters`;
  if (origin === 'array') return `Too small: expected array to have >=${minimum} items`;
  return `Too small: expected ${origin} to be >=${minimum}`;
}

function tooBig(origin: string, maximum: number): string {
  if (origin === 'string') return `Too big: expected string to have <=${maximum} characters`;
  if (origin === 'array') return `Too big: expected array to have <=${maximum} items`;
  return `Too big: expected ${origin} to be <=${maximum}`;
}

/**
 * The issues of one field, as zod raised them: a type issue stops the checks that need the type (patterns, number
 * bounds), but not the length checks, which run on anything non-null with a numeric `length` (an array,
 * `{"length": 99}`).
 * A non-integer stops the bounds; an unsafe integer does not.
 */
function fieldIssues(field: CompiledField, value: unknown, issues: Issue[]): void {
  const key = field.key;
  switch (field.kind) {
    case STRING: {
      const isString = typeof value === 'string';
      if (!isString) issues.push({ code: 'invalid_type', key, expected: 'string' });
      const kinds = field.checkKinds;
      for (let i = 0; i < kinds.length; i++) {
        const kind = kinds[i];
        if (kind === 2) {
          if (isString && !(field.checkMatchers[i] as (text: string) => boolean)(value)) {
            issues.push({ code: 'invalid_format', key, message: field.checkMessages[i] as string });
          }
          continue;
        }
        if (value === null || value === undefined) continue;
        const raw = (value as { length?: unknown }).length;
        if (raw === undefined) continue;
        const units = typeof raw === 'number' ? raw : comparableNumber(raw);
        const limit = field.checkLimits[i] as number;
        if (kind === 0) {
          const length = isString && units >= limit && units < limit * 2 ? codePointLength(value) : units;
          if (!(length >= limit)) issues.push({ code: 'too_small', key, message: tooSmall(lengthOrigin(value), limit) });
        } else {
          const length = isString && units > limit ? codePointLength(value) : units;
          if (!(length <= limit)) issues.push({ code: 'too_big', key, message: tooBig(lengthOrigin(value), limit) });
        }
      }
      return;
    }
    case NUMBER: {
      if (typeof value !== 'number' || !Number.isFinite(value)) {
        issues.push({ code: 'invalid_type', key, expected: 'number' });
        return;
      }
      if (field.int) {
        if (!Number.isInteger(value)) {
          issues.push({ code: 'invalid_type', key, expected: 'int' });
          return;
        }
        if (!Number.isSafeInteger(value)) {
          if (value > 0) issues.push({ code: 'too_big', key, message: tooBig('int', Number.MAX_SAFE_INTEGER) });
          else issues.push({ code: 'too_small', key, message: tooSmall('int', Number.MIN_SAFE_INTEGER) });
        }
      }
      if (!(value >= field.min)) issues.push({ code: 'too_small', key, message: tooSmall('number', field.min) });
      if (!(value <= field.max)) issues.push({ code: 'too_big', key, message: tooBig('number', field.max) });
      return;
    }
    case ENUM:
      if (!field.valueSet.has(value)) issues.push({ code: 'invalid_value', key, field });
      return;
    default:
      if (!(value !== null && typeof value === 'object' && !Array.isArray(value))) issues.push({ code: 'custom', key, message: 'expected object' });
  }
}

/** The problems of one issue, in the PCM's wording; an absent key is only named (all together, first). */
function issueProblem(issue: Issue, input: Record<string, unknown>, problems: ReportProblem[], missing: string[]): void {
  const field = issue.key;
  const value = input[field];
  if (value === undefined) {
    // Whatever the schema expected there (a type, an enum, a literal), the PCM calls an absent key missing.
    missing.push(field);
  } else if (value === null) {
    problems.push({ field, rule: 'not_null', message: `Missing property, ${field} can't be empty (null)`, value });
  } else if (issue.code === 'custom') {
    problems.push({ field, rule: 'type', message: `Field type mismatch: ${field}: expected object, received ${describe(value)}`, value });
  } else if (issue.code === 'invalid_type') {
    problems.push({ field, rule: 'type', message: `Field type mismatch: ${field}: expected ${issue.expected}, received ${describe(value)}`, value });
  } else if (issue.code === 'invalid_value') {
    problems.push({ field, rule: 'enum', message: `Invalid enum value. Expected ${issue.field.enumExpected}, received '${shown(value)}'`, value });
  } else if (issue.code === 'too_small' && value === '') {
    problems.push({ field, rule: 'range', message: `Invalid field value: ${field} should not be empty`, value });
  } else if (issue.code === 'too_small' || issue.code === 'too_big') {
    const rule = field === 'statusCode' ? 'statusCode must be between 200 and 599' : issue.message;
    problems.push({ field, rule: 'range', message: `Invalid field value: ${field}: ${rule}`, value });
  } else {
    problems.push({ field, rule: 'format', message: `Invalid format: ${field}: ${issue.message}`, value });
  }
}

/**
 * Every problem of `input` against `shape` (not yet judged: no severity), or null when there is none. The fields in
 * the shape's order, then the keys the shape does not have (in the input's order); absent keys lead, as one problem.
 * `input` is a plain object whose own keys are all enumerable data properties (JSON.parse's or a mapping's output, or
 * normaliseReport's repaired copy of it).
 */
export function shapeProblems(input: Record<string, unknown>, shape: CompiledShape): ReportProblem[] | null {
  return shape.wellFormed(input) ? null : walkShape(input, shape);
}

/** shapeProblems without the shortcut: every field through its checks, every key against the shape. */
export function walkShape(input: Record<string, unknown>, shape: CompiledShape): ReportProblem[] | null {
  const fields = shape.fields;
  let issues: Issue[] | null = null;
  for (let i = 0; i < fields.length; i++) {
    const field = fields[i] as CompiledField;
    const value = input[field.key];
    if (field.optional && value === undefined) continue;
    if (passes(field, value)) continue;
    issues ??= [];
    fieldIssues(field, value, issues);
  }
  let unknown: string[] | null = null;
  const keys = shape.keys;
  for (const key in input) {
    if (!keys.has(key)) (unknown ??= []).push(key);
  }
  if (issues === null && unknown === null) return null;

  const problems: ReportProblem[] = [];
  const missing: string[] = [];
  if (issues !== null) for (const issue of issues) issueProblem(issue, input, problems, missing);
  if (unknown !== null) {
    for (const key of unknown) problems.push({ field: key, rule: 'unrecognized_key', message: `Additional property not allowed: '${key}'`, value: input[key] });
  }
  if (missing.length > 0) problems.unshift({ field: missing.join(','), rule: 'required', message: `Missing fields: ${missing.join(', ')}` });
  return problems;
}
