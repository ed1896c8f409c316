import { UNLISTED_ENDPOINT } from '../spool/endpoint-days.js';
import { additionalInfoProblems, type AdditionalInfoOptions } from './additional-info.js';
import { normaliseReport, type RepairKind } from './normalise.js';
import { jsonType as describe, shown, type ReportProblem } from './problem.js';
import { actionOf, ruleInfo, type RuleAction, type RulePolicy } from './rules.js';
import {
  CLIENT_SHAPE,
  OPENDATA_SHAPE,
  ROLES,
  SERVER_SHAPE,
  shapeProblems,
  type AnyReport,
  type ClientReport,
  type OpendataReport,
  type PrivateReport,
  type ServerReport,
} from './schema.js';
import type { EndpointTemplates } from './template.js';

export type { ReportProblem };

/**
 * From an item a gateway sent to a report the PCM will accept (pcm-rules.md §15), or the reasons it would not.
 * Pure: the clock, the catalogue and the settings come in the context. The only state kept between calls is caches
 * of pure functions of a text (the last text each report field passed its checks with, schema.ts; the JSON text of
 * listed endpoints, below), which change how fast an answer comes, never what it is.
 *
 * The checks are compiled once, at module load (schema.ts for the report's shape, additional-info.ts for the rule
 * table); a rule set (the context's rules) adds a few comparisons and decides how problems are judged, which costs
 * nothing until there is one. test/oracle keeps the zod-based implementation this replaced; test/property/differential.test.ts holds the two
 * to the same results.
 */

export interface RuleOptions extends AdditionalInfoOptions, RulePolicy {
  /** `number` (PCM-current, release 2026C) or `integer` (v1.0.2/v3.1.0 int16): §13 item 4. */
  processTimespan: 'number' | 'integer';
  /** The PCM refuses reports older than this ("Report is too old"). */
  maxAgeMs: number;
  /** … and timestamps further than this in the future (release 2025D). */
  maxFutureMs: number;
}

export interface ValidationContext {
  /**
   * Organisations this sidecar holds credentials for; a private report must be reported by one of them.
   * null skips the rule (offline `validate` without organisations).
   */
  reporterOrgIds: ReadonlySet<string> | null;
  /** The organisation whose token carries opendata reports; null when none is configured for it. */
  opendataOrgId: string | null;
  privateTemplates: EndpointTemplates;
  opendataTemplates: EndpointTemplates;
  rules: RuleOptions;
  now: number;
}

export interface ValidReport {
  ok: true;
  stream: 'private' | 'opendata';
  report: AnyReport;
  /** The exact JSON text that will go to the PCM, kept so a batch is a concatenation. */
  json: string;
  /** The organisation whose token must carry this report. */
  reporterOrgId: string;
  /** Identity for de-duplication (private: role, fapiInteractionId, endpoint, httpMethod, timestamp). */
  dedupKey: string;
  fapiInteractionId: string | null;
  /** The endpoint is in the catalogue (a policy may send reports whose endpoint is not). */
  listed: boolean;
  repairs: readonly RepairKind[];
  /** Quality findings (rules.ts): the report goes to the PCM, and these go to the participant. */
  findings: ReportProblem[];
}

export interface InvalidReport {
  ok: false;
  /** What refuses the report. */
  problems: ReportProblem[];
  /** Findings that alone would only have been remarks. */
  findings?: ReportProblem[];
}

export type ValidationResult = ValidReport | InvalidReport;

/** What the spool stores of a valid report. */
export function spoolEntry(valid: ValidReport): {
  stream: 'private' | 'opendata';
  orgId: string;
  dedupKey: string;
  fapiInteractionId: string | null;
  endpoint: string;
  at: number | undefined;
  json: string;
  repairs: readonly RepairKind[];
  findings: string | null;
} {
  const at = canonicalTimestampMs(valid.report.timestamp);
  return {
    stream: valid.stream,
    orgId: valid.reporterOrgId,
    dedupKey: valid.dedupKey,
    fapiInteractionId: valid.fapiInteractionId,
    // Counted per endpoint under the template, or all together: an endpoint not listed is the gateway's string.
    endpoint: valid.listed ? valid.report.endpoint : UNLISTED_ENDPOINT,
    at: Number.isNaN(at) ? undefined : at,
    json: valid.json,
    repairs: valid.repairs,
    findings: valid.findings.length > 0 ? JSON.stringify(valid.findings.map(({ field, rule, message }) => ({ field, rule, message }))) : null,
  };
}

/** A report larger than one PCM request could never be sent: refuse it now rather than hold it forever. */
export function withinSize<R extends { ok: boolean }>(result: R | ValidReport, maxBytes: number): R | ValidReport | InvalidReport {
  if (!result.ok) return result;
  const bytes = Buffer.byteLength((result as ValidReport).json);
  if (bytes <= maxBytes) return result;
  return { ok: false, problems: [{ field: '', rule: 'too_large', message: `Report too large: ${bytes} bytes; a PCM request holds at most ${maxBytes}`, severity: 'discard' }] };
}

/**
 * Sorts a report's problems by what the policy does with them: one `refuse` makes the report invalid, `send` ones
 * travel with it as findings, `ignore` ones go. Each problem is labelled with its rule's severity.
 */
function judged(problems: readonly ReportProblem[], policy: RulePolicy): { refused: ReportProblem[]; findings: ReportProblem[] } {
  const refused: ReportProblem[] = [];
  const findings: ReportProblem[] = [];
  for (const p of problems) {
    const action: RuleAction = actionOf(p.rule, policy);
    if (action === 'ignore') continue;
    const severity = ruleInfo(p.rule).severity;
    // The problem's own keys, then its severity (a problem has `value` only when it says what was received).
    const labelled: ReportProblem =
      'value' in p ? { field: p.field, rule: p.rule, message: p.message, value: p.value, severity } : { field: p.field, rule: p.rule, message: p.message, severity };
    if (action === 'refuse') refused.push(labelled);
    else findings.push(labelled);
  }
  return { refused, findings };
}

const NIL_UUID = '00000000-0000-0000-0000-000000000000';
const INT16_MAX = 32_767;

function nilUuid(field: 'fapiInteractionId' | 'clientOrgId' | 'serverOrgId' | 'clientSSId', problems: ReportProblem[]): void {
  const message =
    field === 'fapiInteractionId' ? `fapiInteractionId mismatch. Ensure the ID is not "${NIL_UUID}."` : `Invalid field value: ${field} must not be the nil UUID`;
  problems.push({ field, rule: 'nil_uuid', message, value: NIL_UUID });
}

/** §3.2: https://host[/prefix]. */
const URI_PREFIX_SHAPE = /^https?:\/\/[^/?#\s]+/;
const MS_PER_DAY = 86_400_000;
const DAYS_IN_MONTH = [0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** The number written by `count` ASCII digits of `text` from `at`. */
function digits(text: string, at: number, count: number): number {
  let n = 0;
  for (let i = at; i < at + count; i++) n = n * 10 + text.charCodeAt(i) - 48;
  return n;
}

/**
 * The instant of a timestamp that matches TIMESTAMP_PATTERN, or NaN when it names no real time (2026-02-30,
 * 24:00, second 60): exactly what `Date.parse` answers for a text that `toISOString` writes back the same, found by
 * arithmetic (proleptic Gregorian calendar, years 0000–9999) instead of a parse and a string.
 */
export function canonicalTimestampMs(timestamp: string): number {
  const year = digits(timestamp, 0, 4);
  const month = digits(timestamp, 5, 2);
  const day = digits(timestamp, 8, 2);
  const hour = digits(timestamp, 11, 2);
  const minute = digits(timestamp, 14, 2);
  const second = digits(timestamp, 17, 2);
  const millis = digits(timestamp, 20, 3);
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return Number.NaN;
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  if (day > (month === 2 && leap ? 29 : (DAYS_IN_MONTH[month] as number))) return Number.NaN;
  // Days from 1970-01-01 (H. Hinnant's days_from_civil; March-based years put the leap day last).
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const dayOfYear = Math.floor((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5) + day - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  const days = era * 146_097 + dayOfEra - 719_468;
  return days * MS_PER_DAY + hour * 3_600_000 + minute * 60_000 + second * 1000 + millis;
}

/** Rules beyond the schema that both roles and opendata share: listed endpoint, timespan, time window. */
function commonProblems(report: AnyReport, templates: EndpointTemplates, context: ValidationContext, problems: ReportProblem[]): void {
  if (templates.has(report.endpoint)) {
    if (!ENDPOINT_JSON.has(report.endpoint)) ENDPOINT_JSON.set(report.endpoint, JSON.stringify(report.endpoint));
  } else {
    problems.push({ field: 'endpoint', rule: 'listed_endpoint', message: `Unlisted endpoint: ${shown(report.endpoint)}`, value: report.endpoint });
  }
  const span = report.processTimespan;
  // §3.5: greater than zero; a fraction is fine when the type is `number` (the integer mode refuses it below).
  if (!(span > 0)) {
    problems.push({ field: 'processTimespan', rule: 'positive', message: 'Invalid field value: processTimespan must be greater than zero', value: span });
  } else if (context.rules.processTimespan === 'integer' && !Number.isInteger(span)) {
    problems.push({ field: 'processTimespan', rule: 'integer', message: 'Field type mismatch: processTimespan: expected integer milliseconds', value: span });
  } else if (context.rules.processTimespan === 'integer' && span > INT16_MAX) {
    // §13.4: the specs that say integer say int16.
    problems.push({ field: 'processTimespan', rule: 'int16', message: `Invalid field value: processTimespan must be at most ${INT16_MAX} (int16)`, value: span });
  }
  // The shape checked the pattern; a real calendar time is checked here (Date.parse would roll 2026-02-30 over).
  const at = canonicalTimestampMs(report.timestamp);
  if (Number.isNaN(at)) {
    problems.push({ field: 'timestamp', rule: 'format', message: 'Invalid field value: Invalid timestamp format', value: report.timestamp });
  } else if (at < context.now - context.rules.maxAgeMs) {
    problems.push({ field: 'timestamp', rule: 'max_age', message: 'Report is too old', value: report.timestamp });
  } else if (at > context.now + context.rules.maxFutureMs) {
    problems.push({
      field: 'timestamp',
      rule: 'max_future',
      message: `Invalid field value: timestamp is more than ${Math.round(context.rules.maxFutureMs / 60_000)} minutes in the future`,
      value: report.timestamp,
    });
  }
}

/** `reporterOrgId` is the reporting organisation's id as sent (clientOrgId for CLIENT, serverOrgId for SERVER), lower-cased. */
function privateProblems(report: PrivateReport, reporterOrgId: string, context: ValidationContext): ReportProblem[] {
  const problems: ReportProblem[] = [];
  commonProblems(report, context.privateTemplates, context, problems);
  // Each field by name (a loop over the names would be a keyed lookup per field).
  if (report.fapiInteractionId === NIL_UUID) nilUuid('fapiInteractionId', problems);
  if (report.clientOrgId === NIL_UUID) nilUuid('clientOrgId', problems);
  if (report.serverOrgId === NIL_UUID) nilUuid('serverOrgId', problems);
  if (report.role === 'CLIENT' && report.clientSSId === NIL_UUID) nilUuid('clientSSId', problems);
  // §3.2: https://host[/prefix]. The PCM's schema only constrains the characters, so the shape is a remark.
  if (report.role === 'CLIENT' && !URI_PREFIX_SHAPE.test(report.endpointUriPrefix)) {
    problems.push({
      field: 'endpointUriPrefix',
      rule: 'endpointUriPrefix.shape',
      message: 'Invalid format: endpointUriPrefix: must start with https://host (https://{host}/{prefixo}, §3.2)',
      value: report.endpointUriPrefix,
    });
  }
  if (context.reporterOrgIds !== null && !context.reporterOrgIds.has(reporterOrgId)) {
    const reporterField = report.role === 'CLIENT' ? 'clientOrgId' : 'serverOrgId';
    const sent = report.role === 'CLIENT' ? report.clientOrgId : report.serverOrgId;
    problems.push({
      field: reporterField,
      rule: 'reporter_org',
      message: `${reporterField} '${sent}' is invalid to role '${report.role}': not an organisation this sidecar reports for`,
      value: sent,
    });
  }
  return additionalInfoProblems(
    report.additionalInfo,
    { role: report.role, httpMethod: report.httpMethod, endpoint: report.endpoint, statusCode: report.statusCode, stream: 'private' },
    context.rules,
    problems,
  );
}

export function privateDedupKey(report: PrivateReport, fapiInteractionId: string = report.fapiInteractionId.toLowerCase()): string {
  return `${report.role}|${fapiInteractionId}|${report.endpoint}|${report.httpMethod}|${report.timestamp}`;
}

// ───────────────────────────────────────────── the report as it will be sent ─────────────────────────────────────────────

/*
 * A report is built from the item in its shape's key order (the order the PCM's models list the keys, and the order
 * the zod schemas of earlier versions rebuilt it in), with an optional key only when the item has it.
 *
 * Its JSON text is written by hand around the values that may need escaping: every other value was just checked to be
 * a UUID, a timestamp, an enum value, a safe integer, a finite number or text of [- /:_.',0-9a-zA-Z], none of which
 * JSON escapes, and a finite number is written by JSON as by String. The endpoint and additionalInfo go through
 * JSON.stringify. An additionalInfo with a toJSON method of its own (never from JSON.parse) would be called with
 * another key, and one that cannot be serialised should fail as before: both go to JSON.stringify of the whole report.
 */

function clientReport(input: Record<string, unknown>): ClientReport {
  const r = input as unknown as ClientReport;
  return 'correlationId' in input
    ? {
        role: r.role,
        fapiInteractionId: r.fapiInteractionId,
        endpoint: r.endpoint,
        statusCode: r.statusCode,
        httpMethod: r.httpMethod,
        timestamp: r.timestamp,
        processTimespan: r.processTimespan,
        clientOrgId: r.clientOrgId,
        serverOrgId: r.serverOrgId,
        correlationId: r.correlationId,
        clientSSId: r.clientSSId,
        endpointUriPrefix: r.endpointUriPrefix,
        additionalInfo: r.additionalInfo,
      }
    : {
        role: r.role,
        fapiInteractionId: r.fapiInteractionId,
        endpoint: r.endpoint,
        statusCode: r.statusCode,
        httpMethod: r.httpMethod,
        timestamp: r.timestamp,
        processTimespan: r.processTimespan,
        clientOrgId: r.clientOrgId,
        serverOrgId: r.serverOrgId,
        clientSSId: r.clientSSId,
        endpointUriPrefix: r.endpointUriPrefix,
        additionalInfo: r.additionalInfo,
      };
}

function serverReport(input: Record<string, unknown>): ServerReport {
  const r = input as unknown as ServerReport;
  const report: ServerReport = {
    role: r.role,
    fapiInteractionId: r.fapiInteractionId,
    endpoint: r.endpoint,
    statusCode: r.statusCode,
    httpMethod: r.httpMethod,
    timestamp: r.timestamp,
    processTimespan: r.processTimespan,
    clientOrgId: r.clientOrgId,
    serverOrgId: r.serverOrgId,
  };
  if ('additionalInfo' in input) report.additionalInfo = r.additionalInfo;
  return report;
}

function opendataReport(input: Record<string, unknown>): OpendataReport {
  const r = input as unknown as OpendataReport;
  return {
    endpoint: r.endpoint,
    statusCode: r.statusCode,
    httpMethod: r.httpMethod,
    timestamp: r.timestamp,
    processTimespan: r.processTimespan,
    additionalInfo: r.additionalInfo,
  };
}

/** Text JSON writes as it is: no quote, backslash, control character or surrogate (JSON escapes a lone one). */
const JSON_AS_IS = /^[^"\\\u0000-\u001f\ud800-\udfff]*$/;

/**
 * The JSON of an additionalInfo of plain strings (nearly all of them), written directly; null for anything else.
 * Keys in Object.keys order, which is JSON.stringify's; a boxed primitive or a class instance is left to it.
 */
function flatJson(info: Record<string, unknown>): string | null {
  const proto = Object.getPrototypeOf(info) as unknown;
  if (proto !== Object.prototype && proto !== null) return null;
  let json = '{';
  let comma = '';
  for (const key of Object.keys(info)) {
    const value = info[key];
    if (typeof value !== 'string' || !JSON_AS_IS.test(value) || !JSON_AS_IS.test(key)) return null;
    json += `${comma}"${key}":"${value}"`;
    comma = ',';
  }
  return `${json}}`;
}

/** `"additionalInfo":{…}` preceded by a comma, or null when JSON.stringify of the whole report must decide. */
function infoJson(info: Record<string, unknown> | undefined): string | null {
  if (info === undefined) return '';
  if (typeof info.toJSON === 'function') return null;
  const flat = flatJson(info);
  if (flat !== null) return `,"additionalInfo":${flat}`;
  try {
    return `,"additionalInfo":${JSON.stringify(info)}`;
  } catch {
    return null;
  }
}

/**
 * The JSON text of every listed endpoint a report has named, kept: an endpoint is most of a report's text that needs
 * escaping checked. Only listed ones are kept (an unlisted endpoint is refused, or sent when an override says so), so
 * the map is never larger than the catalogues.
 */
const ENDPOINT_JSON = new Map<string, string>();

/** The fields every report has, from endpoint to processTimespan, as JSON members (no leading comma). */
function commonJson(report: AnyReport): string {
  return `"endpoint":${ENDPOINT_JSON.get(report.endpoint) ?? JSON.stringify(report.endpoint)},"statusCode":${report.statusCode},"httpMethod":"${report.httpMethod}","timestamp":"${report.timestamp}","processTimespan":${report.processTimespan}`;
}

function privateJson(report: PrivateReport): string {
  const info = infoJson(report.additionalInfo);
  if (info === null) return JSON.stringify(report);
  let json = `{"role":"${report.role}","fapiInteractionId":"${report.fapiInteractionId}",${commonJson(report)},"clientOrgId":"${report.clientOrgId}","serverOrgId":"${report.serverOrgId}"`;
  if (report.role === 'CLIENT') {
    if (report.correlationId !== undefined) json += `,"correlationId":"${report.correlationId}"`;
    json += `,"clientSSId":"${report.clientSSId}","endpointUriPrefix":"${report.endpointUriPrefix}"`;
  }
  return `${json}${info}}`;
}

function opendataJson(report: OpendataReport): string {
  const info = infoJson(report.additionalInfo);
  return info === null ? JSON.stringify(report) : `{${commonJson(report)}${info}}`;
}

/** Normalises and validates one item; returns the report to spool, or every reason it cannot be sent. */
export function prepareReport(item: unknown, context: ValidationContext): ValidationResult {
  if (item === null || typeof item !== 'object' || Array.isArray(item)) {
    return {
      ok: false,
      problems: [{ field: '', rule: 'type', message: `Invalid payload format: each report must be an object, received ${describe(item)}` }],
    };
  }
  const { item: input, stream, repairs } = normaliseReport(item as Record<string, unknown>, context);

  if (stream === 'opendata') {
    const shape = shapeProblems(input, OPENDATA_SHAPE);
    if (shape !== null) return { ok: false, problems: judged(shape, context.rules).refused };
    const report = opendataReport(input);
    const problems: ReportProblem[] = [];
    commonProblems(report, context.opendataTemplates, context, problems);
    additionalInfoProblems(
      report.additionalInfo,
      { role: 'SERVER', httpMethod: report.httpMethod, endpoint: report.endpoint, statusCode: report.statusCode, stream: 'opendata' },
      context.rules,
      problems,
    );
    if (context.opendataOrgId === null && context.reporterOrgIds !== null) {
      problems.push({ field: '', rule: 'opendata_org', message: 'no organisation is configured to send opendata reports (opendataOrgId)' });
    }
    const { refused, findings } = judged(problems, context.rules);
    if (refused.length > 0) return { ok: false, problems: refused, findings };
    const clientIp = typeof report.additionalInfo.clientIp === 'string' ? report.additionalInfo.clientIp : '';
    return {
      ok: true,
      stream,
      report,
      json: opendataJson(report),
      reporterOrgId: context.opendataOrgId ?? '',
      dedupKey: `OPENDATA|${report.endpoint}|${report.httpMethod}|${report.timestamp}|${report.statusCode}|${report.processTimespan}|${clientIp}`,
      fapiInteractionId: null,
      listed: context.opendataTemplates.has(report.endpoint),
      repairs,
      findings,
    };
  }

  const role = input.role;
  if (role !== 'CLIENT' && role !== 'SERVER') {
    return {
      ok: false,
      problems: [
        {
          field: 'role',
          rule: 'enum',
          message: `Invalid enum value. Expected ${ROLES.map((r) => `'${r}'`).join(' | ')}, received '${shown(role)}'`,
          value: role,
        },
      ],
    };
  }
  const shape = shapeProblems(input, role === 'CLIENT' ? CLIENT_SHAPE : SERVER_SHAPE);
  if (shape !== null) return { ok: false, problems: judged(shape, context.rules).refused };
  const report = role === 'CLIENT' ? clientReport(input) : serverReport(input);
  const reporterOrgId = (report.role === 'CLIENT' ? report.clientOrgId : report.serverOrgId).toLowerCase();
  const { refused, findings } = judged(privateProblems(report, reporterOrgId, context), context.rules);
  if (refused.length > 0) return { ok: false, problems: refused, findings };
  const fapiInteractionId = report.fapiInteractionId.toLowerCase();
  return {
    ok: true,
    stream,
    report,
    json: privateJson(report),
    reporterOrgId,
    dedupKey: privateDedupKey(report, fapiInteractionId),
    fapiInteractionId,
    listed: context.privateTemplates.has(report.endpoint),
    repairs,
    findings,
  };
}
