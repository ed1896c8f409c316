import { jsonType, type ReportProblem } from './problem.js';

/**
 * What a gateway knows about one interaction, before it is a PCM report: role, method, full URL, status, start
 * time, duration, the x-fapi-interaction-id, the counterparty, and whatever additionalInfo inputs it has.
 * `buildReport` (src/report/build.ts) turns it into a PCM report; gateway mappings (src/ingest/gateways/) produce it.
 */
export interface RawInteraction {
  /** CLIENT: this participant called another; SERVER: another participant called this one. */
  role: string;
  method: string;
  /** Full request URL (scheme, host, path, optional query). For SERVER a path alone is enough. */
  url: string;
  /** HTTP status answered; ignored when `timedOut` (the PCM wants 408). */
  status?: number | undefined;
  /** The call ended in a timeout (client waited ≥15 s, or the server gave up on an incomplete request). */
  timedOut?: boolean | undefined;
  /** When the call started: ISO-8601 with any offset, or epoch milliseconds / microseconds. */
  startTime: string | number;
  /** Milliseconds until the first response byte (CLIENT) / until the response was sent (SERVER). */
  durationMs?: number | undefined;
  /**
   * The same duration in seconds (nginx's `$request_time`, `0.250`), as a number or a numeric string. Exactly one of
   * durationMs / durationSeconds: a bare number with no unit is never guessed.
   */
  durationSeconds?: number | string | undefined;
  fapiInteractionId: string;
  /** The other organisation: serverOrgId for CLIENT, clientOrgId for SERVER. */
  counterpartyOrgId: string;
  /** This participant's organisation; may be omitted when exactly one organisation is configured. */
  orgId?: string | undefined;
  /** CLIENT only: the software statement the call was made with; defaults to the organisation's configured one. */
  clientSSId?: string | undefined;
  correlationId?: string | undefined;
  additionalInfo?: Record<string, unknown> | undefined;
  /**
   * CLIENT: the access token the call carried (or the whole `Authorization: Bearer …` value). Only its tokenId
   * (pcm-rules.md §4.5) is kept; the token itself is never stored, logged or counted.
   */
  accessToken?: string | undefined;
  /** Log shippers' own metadata, tolerated and ignored (Fluent Bit's http output adds `date` to every record). */
  date?: unknown;
}

/** The JSON types a field takes; `integer` is a number with no fraction, `object` a JSON object (not null or array). */
type Kind = 'string' | 'number' | 'integer' | 'boolean' | 'object' | 'unknown';

interface InteractionField {
  key: keyof RawInteraction;
  kinds: readonly Kind[];
  optional?: true;
  /** A string must not be empty. */
  nonEmpty?: true;
  /** A string must match. */
  pattern?: { regex: RegExp; message: string };
}

/** The interaction's shape as data, in the order its problems are reported; strict, like the PCM's own models. */
const FIELDS: readonly InteractionField[] = [
  { key: 'role', kinds: ['string'] },
  { key: 'method', kinds: ['string'] },
  { key: 'url', kinds: ['string'], nonEmpty: true },
  { key: 'status', kinds: ['integer'], optional: true },
  { key: 'timedOut', kinds: ['boolean'], optional: true },
  { key: 'startTime', kinds: ['string', 'number'] },
  { key: 'durationMs', kinds: ['number'], optional: true },
  { key: 'durationSeconds', kinds: ['number', 'string'], optional: true, pattern: { regex: /^\d+(\.\d+)?$/, message: 'a number of seconds such as 0.250' } },
  { key: 'fapiInteractionId', kinds: ['string'] },
  { key: 'counterpartyOrgId', kinds: ['string'] },
  { key: 'orgId', kinds: ['string'], optional: true },
  { key: 'clientSSId', kinds: ['string'], optional: true },
  { key: 'correlationId', kinds: ['string'], optional: true },
  { key: 'additionalInfo', kinds: ['object'], optional: true },
  { key: 'accessToken', kinds: ['string'], optional: true },
  { key: 'date', kinds: ['unknown'], optional: true },
];

const KEYS: ReadonlySet<string> = new Set(FIELDS.map((f) => f.key));

function isKind(value: unknown, kind: Kind): boolean {
  switch (kind) {
    case 'string':
      return typeof value === 'string';
    case 'number':
      // JSON.parse gives Infinity for 1e400; no duration or time is infinite.
      return typeof value === 'number' && Number.isFinite(value);
    case 'integer':
      return Number.isSafeInteger(value);
    case 'boolean':
      return typeof value === 'boolean';
    case 'object':
      return typeof value === 'object' && value !== null && !Array.isArray(value);
    case 'unknown':
      return true;
  }
}

/** The words of the zod schema this table replaced (test/oracle/interaction.ts), kept for the people who read them. */
const KIND_NAME: Readonly<Record<Kind, string>> = { string: 'string', number: 'number', integer: 'int', boolean: 'boolean', object: 'record', unknown: 'unknown' };

function received(value: unknown): string {
  return typeof value === 'number' && !Number.isFinite(value) ? String(value) : jsonType(value);
}

/** Why `value` (present, of none of the field's kinds) is refused. */
function typeMessage(field: InteractionField, value: unknown): string {
  if (field.kinds.length > 1) return 'Invalid input';
  const kind = field.kinds[0] as Kind;
  if (kind === 'integer' && typeof value === 'number' && Number.isInteger(value)) {
    return value > 0 ? `Too big: expected int to be <=${Number.MAX_SAFE_INTEGER}` : `Too small: expected int to be >=${Number.MIN_SAFE_INTEGER}`;
  }
  // An int is first a number: what is not one is refused as such, a fraction as not an int.
  if (kind === 'integer') return typeof value === 'number' && Number.isFinite(value) ? 'Invalid input: expected int, received number' : `Invalid input: expected number, received ${received(value)}`;
  return `Invalid input: expected ${KIND_NAME[kind]}, received ${received(value)}`;
}

function problem(field: string, message: string): ReportProblem {
  return { field, rule: 'interaction', message: `Invalid interaction: ${field || '(item)'}: ${message}` };
}

/**
 * Every problem of `raw` as an interaction, in the table's order then unknown keys, or null when it is one. Own keys
 * only (a `constructor` or `__proto__` key in the body is a key like others, never the prototype's), no `String()`
 * of a value: total over every JSON value.
 */
export function interactionProblems(raw: unknown): ReportProblem[] | null {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return [problem('', `Invalid input: expected object, received ${received(raw)}`)];
  const input = raw as Record<string, unknown>;
  let problems: ReportProblem[] | null = null;
  for (const field of FIELDS) {
    const value = Object.hasOwn(input, field.key) ? input[field.key] : undefined;
    if (value === undefined) {
      if (field.optional !== true) (problems ??= []).push(problem(field.key, typeMessage(field, undefined)));
      continue;
    }
    if (!field.kinds.some((kind) => isKind(value, kind))) {
      (problems ??= []).push(problem(field.key, typeMessage(field, value)));
    } else if (typeof value === 'string' && field.nonEmpty === true && value === '') {
      (problems ??= []).push(problem(field.key, 'Too small: expected string to have >=1 characters'));
    } else if (typeof value === 'string' && field.pattern !== undefined && !field.pattern.regex.test(value)) {
      (problems ??= []).push(problem(field.key, field.pattern.message));
    }
  }
  let unknown: string[] | null = null;
  for (const key of Object.keys(input)) if (!KEYS.has(key)) (unknown ??= []).push(`"${key}"`);
  if (unknown !== null) (problems ??= []).push(problem('', `Unrecognized key${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')}`));
  return problems;
}
