import { isIP } from 'node:net';
import {
  CURRENT_RULES,
  DISCARD_DOMAINS,
  DROP_REASON_ENDPOINTS,
  DROP_REASONS,
  KEY_FORMATS,
  OPENDATA_KEYS,
  SERVER_KEYS,
  V12_RULES,
  type Condition,
  type EndpointRule,
  type HttpMethod,
  type KeyGroup,
  type RuleMatch,
  type ValueFormat,
} from '../../src/report/additional-info-rules.js';
import { jsonType, type ReportProblem } from '../../src/report/problem.js';

/*
 * The oracle's copy of src/report/additional-info.ts as it was before issue #9 (for the differential test), with the
 * rule lookup it used (a search of the tables) in place of the lookup map src builds now.
 */

/** The rule for a private CLIENT call: §4.3 first, then the v12 rows still listed; undefined when neither has one. */
function clientRuleFor(method: HttpMethod, endpoint: string): RuleMatch | undefined {
  const matches = (r: EndpointRule): boolean => r.methods.includes(method) && r.endpoints.includes(endpoint);
  const current = CURRENT_RULES.find(matches);
  if (current) return { rule: current, from: 'current' };
  const legacy = V12_RULES.find(matches);
  return legacy ? { rule: legacy, from: 'v12' } : undefined;
}

/**
 * additionalInfo checks (pcm-rules.md §4, §15): is the object there and of the right type, does it carry the keys the
 * PCM wants for this (role, method, endpoint, statusCode), and is every value in the documented format.
 * Pure: no I/O, no clock. The rule table lives in additional-info-rules.ts.
 *
 * Unknown keys (pcm-rules.md §4.1, §8):
 *   - CLIENT: allowed. The PCM-current ClientReportRequest.additionalInfo is an open object (no
 *     `additionalProperties: false`, unlike the report itself), the "Unrecognized key(s)" discards in §8.3 are all
 *     top-level fields, and the per-domain pages say "Se o campo não está listado, é porque não existe a
 *     obrigatoriedade de enviá-lo" (not listed = not required, not forbidden). Their values must still be strings:
 *     DC "Campos additionalInfo — Valida se o campo é do tipo string" applies to every additionalInfo field.
 *   - SERVER: refused; dropReason is the only key the server schema defines (§2.3, §4.1).
 *   - opendata: refused; §15 "additionalInfo {clientIp}; nothing else", tokenId removed in 2026B (§4.3 DA).
 *
 * Choices on the contradictions of §13:
 *   - item 5 (empty additionalInfo): an object is always required (never an array). `{}` is accepted where nothing
 *     is required for the call ("enviar como um objeto vazio"), and refused with "additionalInfo should not be
 *     empty" where a key is required.
 *   - item 6 (errorCodes): one code string by default (changelog 23/01/2026, SV discard "Expected string");
 *     `errorCodesAs: 'array'` accepts the older list form, holding at most one code ("devendo constar apenas um").
 *   - item 7 (enums narrower in the discard catalogue): the documented domains are used (dropReason with
 *     NO_AUTHORITY, NO_AUTHORITY_PERSON_MISMATCH, CREDENTIAL_UNAVAILABLE; paymentType with AUTOMATIC, WITHDRAW,
 *     CHANGE; cancelledFrom INICIADORA/DETENTORA): the catalogue records messages from older validator versions, and
 *     the narrow domains would make Pix Automático and 2025B/2026C drop reasons impossible to report.
 *   - item 9 (personType): PF | PJ only.
 */

export interface AdditionalInfoContext {
  role: 'CLIENT' | 'SERVER';
  httpMethod: HttpMethod;
  /** The templated endpoint, e.g. /open-banking/accounts/v2/accounts/{accountId}. */
  endpoint: string;
  statusCode: number;
  stream: 'private' | 'opendata';
}

export interface AdditionalInfoOptions {
  /** §13 item 6: `string` (newest rule, changelog 23/01/2026) or `array` (xlsx, v3.1.0, SG discard `errorCodes.0`). */
  errorCodesAs: 'string' | 'array';
  /** §4.5: tokenId on private CLIENT reports with statusCode < 400 (except /register, security and common APIs). */
  requireTokenId: boolean;
}

export const ADDITIONAL_INFO_DEFAULTS: AdditionalInfoOptions = Object.freeze({ errorCodesAs: 'string', requireTokenId: true });

/** Every reason the PCM would refuse (or mis-read) this additionalInfo; empty when it is fine. */
export function additionalInfoProblems(
  info: unknown,
  context: AdditionalInfoContext,
  options: AdditionalInfoOptions = ADDITIONAL_INFO_DEFAULTS,
): ReportProblem[] {
  if (context.stream === 'opendata') return opendataProblems(info, options);
  if (context.role === 'SERVER') return serverProblems(info, context, options);
  return clientProblems(info, context, options);
}

// ───────────────────────────────────────────── per stream / role ─────────────────────────────────────────────

type Info = Record<string, unknown>;

function clientProblems(info: unknown, context: AdditionalInfoContext, options: AdditionalInfoOptions): ReportProblem[] {
  // §4.1: required object for CLIENT ("Invalid type: additionalInfo: Required").
  if (info === undefined) return [requiredProblem()];
  if (!isRecord(info)) return [objectTypeProblem(info)];

  const rule = clientRuleFor(context.httpMethod, context.endpoint)?.rule;
  const status = context.statusCode;
  const required = (rule?.required ?? []).filter((r) => holds(r.when, info, status)).map((r) => r.key);
  // §4.5: tokenId on every private CLIENT report except 4xx/5xx and the exempted endpoints.
  if (options.requireTokenId && status < 400 && (rule?.tokenId ?? 'required') === 'required' && !required.includes('tokenId')) {
    required.push('tokenId');
  }
  const groups = (rule?.groups ?? []).filter((g) => holds(g.when, info, status));

  const problems: ReportProblem[] = [];
  const keys = presentKeys(info);
  // §8.3 "should not be empty" only where a key is required whatever the status and the other keys (tokenId aside:
  // whether a token existed is not the PCM's schema): those are the calls for which `{}` can never be right.
  if (keys.length === 0 && (rule?.required ?? []).some((r) => r.when === undefined)) problems.push(emptyProblem());
  for (const key of required) if (!has(info, key)) problems.push(key === 'tokenId' ? tokenIdMissingProblem() : missingProblem(key));
  for (const group of groups) problems.push(...groupProblems(group, info));
  for (const forbidden of rule?.forbidden ?? []) {
    if (!holds(forbidden.when, info, status)) continue;
    for (const key of forbidden.keys) {
      if (has(info, key)) problems.push(problem(`additionalInfo.${key}`, 'additionalInfo.forbiddenKey', `Invalid field value: additionalInfo.${key}: ${forbidden.reason}`, info[key]));
    }
  }
  for (const key of keys) {
    const format = ownValue(rule?.formats, key) ?? ownValue(KEY_FORMATS, key) ?? ANY_STRING;
    problems.push(...keyProblems(key, info[key], format, options));
  }
  return problems;
}

/** One key's value: the catalogue's enum at discard level first, then its documented format. */
function keyProblems(key: string, value: unknown, format: ValueFormat, options: AdditionalInfoOptions): ReportProblem[] {
  const path = `additionalInfo.${key}`;
  const domain = ownValue(DISCARD_DOMAINS, key);
  if (domain !== undefined && typeof value === 'string' && !domain.includes(value)) {
    const allowed = domain.map((v) => `'${v}'`).join(' | ');
    return [problem(path, 'additionalInfo.enum', `Invalid enum value: ${path}: Expected ${allowed}, received '${value}'`, value)];
  }
  return valueProblems(path, value, format, options);
}

function serverProblems(info: unknown, context: AdditionalInfoContext, options: AdditionalInfoOptions): ReportProblem[] {
  // §4.4: dropReason on the consent-creation POSTs; elsewhere additionalInfo is optional (§2.3).
  const dropReasonRequired = context.httpMethod === 'POST' && DROP_REASON_ENDPOINTS.includes(context.endpoint);
  if (info === undefined) return dropReasonRequired ? [missingProblem('dropReason')] : [];
  if (!isRecord(info)) return [objectTypeProblem(info)];

  const problems: ReportProblem[] = [];
  const keys = presentKeys(info);
  if (keys.length === 0 && dropReasonRequired) problems.push(emptyProblem());
  if (dropReasonRequired && !has(info, 'dropReason')) problems.push(missingProblem('dropReason'));
  for (const key of keys) {
    if (SERVER_KEYS.includes(key)) continue;
    problems.push(unrecognizedProblem(key, info[key]), ...keyProblems(key, info[key], ownValue(KEY_FORMATS, key) ?? ANY_STRING, options));
  }
  if (has(info, 'dropReason')) {
    const value = info.dropReason;
    const formatProblems = keyProblems('dropReason', value, DROP_REASON, options);
    problems.push(...formatProblems);
    if (formatProblems.length === 0 && !dropReasonRequired) {
      problems.push(
        problem(
          'additionalInfo.dropReason',
          'additionalInfo.dropReason.outsideCreation',
          `Invalid field value: additionalInfo.dropReason: sent only on POST to ${DROP_REASON_ENDPOINTS.join(', ')}`,
          value,
        ),
      );
    }
    // §4.4: "NO_CREDENTIAL … quando o HTTP response code for diferente de 201".
    if (formatProblems.length === 0 && dropReasonRequired && context.statusCode !== 201 && value !== 'NO_CREDENTIAL') {
      problems.push(
        problem(
          'additionalInfo.dropReason',
          'additionalInfo.dropReason.noCredential',
          `Invalid field value: additionalInfo.dropReason: must be 'NO_CREDENTIAL' when statusCode is not 201, received '${String(value)}' with statusCode ${context.statusCode}`,
          value,
        ),
      );
    }
  }
  return problems;
}

function opendataProblems(info: unknown, options: AdditionalInfoOptions): ReportProblem[] {
  // §5: additionalInfo is required in OpendataReportRequest; §4.3 DA: clientIp for every opendata endpoint.
  if (info === undefined) return [requiredProblem()];
  if (!isRecord(info)) return [objectTypeProblem(info)];

  const problems: ReportProblem[] = [];
  const keys = presentKeys(info);
  if (keys.length === 0) problems.push(emptyProblem());
  if (!has(info, 'clientIp')) problems.push(missingProblem('clientIp'));
  for (const key of keys) {
    // Leaves are strings here too (§4.1); which keys belong is a quality matter.
    if (key !== 'clientIp') problems.push(...valueProblems(`additionalInfo.${key}`, info[key], ANY_STRING, options));
    if (key === 'tokenId') {
      problems.push(
        problem(
          'additionalInfo.tokenId',
          'additionalInfo.tokenId.opendata',
          "Invalid format: additionalInfo: Unrecognized key(s) in object: 'tokenId' (removed from Dados Abertos in 2026B)",
          info[key],
        ),
      );
    } else if (!OPENDATA_KEYS.includes(key)) {
      problems.push(unrecognizedProblem(key, info[key]));
    }
  }
  if (has(info, 'clientIp')) problems.push(...valueProblems('additionalInfo.clientIp', info.clientIp, { kind: 'ip' }, options));
  return problems;
}

// ───────────────────────────────────────────── conditions and groups ─────────────────────────────────────────────

function holds(condition: Condition | undefined, info: Info, statusCode: number): boolean {
  if (condition === undefined) return true;
  const { status, keyIn } = condition;
  if (status === 'ok' && statusCode >= 400) return false;
  if (status === 'error' && statusCode < 400) return false;
  if (status === 'answered-error' && (statusCode < 400 || statusCode === 408)) return false;
  if (typeof status === 'object' && !status.includes(statusCode)) return false;
  if (keyIn !== undefined) {
    const value = info[keyIn.key];
    if (typeof value !== 'string' || !keyIn.values.includes(value)) return false;
  }
  return true;
}

function groupProblems(group: KeyGroup, info: Info): ReportProblem[] {
  const present = group.keys.filter((k) => has(info, k));
  const field = `additionalInfo.${group.keys.join('|')}`;
  if (present.length === 0 && group.mode !== 'atMostOne') {
    return [problem(field, 'additionalInfo.keyGroup', `Missing property: ${group.keys.map((k) => `additionalInfo.${k}`).join(' or ')}`)];
  }
  if (present.length > 1 && group.mode !== 'atLeastOne') {
    const values = Object.fromEntries(present.map((k) => [k, info[k]]));
    return [problem(field, 'additionalInfo.keyGroup', `Invalid field value: additionalInfo: ${present.join(' and ')} are mutually exclusive, send only one`, values)];
  }
  return [];
}

// ───────────────────────────────────────────── value formats ─────────────────────────────────────────────

const ANY_STRING: ValueFormat = { kind: 'string' };
const DROP_REASON: ValueFormat = { kind: 'string', enum: DROP_REASONS };
const PORTE_EMPRESA: ValueFormat = { kind: 'string', enum: ['00', '01', '03', '05'] };
const NATUREZA_JURIDICA: ValueFormat = { kind: 'string', pattern: /^\d{4}$/, patternText: 'a 4-digit code (^\\d{4}$)' };
const COUNT_PATTERN = /^\d+$/;
/** PCM-current paymentList.maxItems: "Para o mesmo consentId não podem ser reportados … mais do que 60 paymentId". */
const PAYMENT_LIST_MAX = 60;

function valueProblems(path: string, value: unknown, format: ValueFormat, options: AdditionalInfoOptions): ReportProblem[] {
  switch (format.kind) {
    case 'string': {
      if (typeof value !== 'string') return [typeProblem(path, 'string', value)];
      if (format.nonEmpty && value === '') return [problem(path, 'additionalInfo.format', `Missing property, ${path} can't be empty`, value)];
      if (format.enum && !format.enum.includes(value)) {
        const allowed = format.enum.map((v) => `'${v}'`).join(' | ');
        return [problem(path, 'additionalInfo.domain', `Invalid enum value: ${path}: Expected ${allowed}, received '${value}'`, value)];
      }
      if (format.maxLength !== undefined && value.length > format.maxLength) {
        return [problem(path, 'additionalInfo.format', `Invalid format: ${path}: must be at most ${format.maxLength} characters, received ${value.length}`, value)];
      }
      if (format.pattern && !format.pattern.test(value)) {
        return [problem(path, 'additionalInfo.format', `Invalid format: ${path}: must be ${format.patternText ?? format.pattern.source}`, value)];
      }
      return [];
    }
    case 'ip': {
      if (typeof value !== 'string') return [typeProblem(path, 'string', value)];
      if (isIP(value) === 0) return [problem(path, 'additionalInfo.format', `Invalid format: ${path}: must be an IPv4 or IPv6 address`, value)];
      return [];
    }
    case 'errorCodes': {
      if (options.errorCodesAs === 'string') return valueProblems(path, value, ANY_STRING, options);
      if (!Array.isArray(value)) return [typeProblem(path, 'array', value)];
      const problems = value.flatMap((item: unknown, i) => valueProblems(`${path}.${i}`, item, ANY_STRING, options));
      if (value.length > 1) {
        problems.push(problem(path, 'additionalInfo.errorCodes.single', `Invalid field value: ${path}: must hold a single error code, received ${value.length}`, value));
      }
      return problems;
    }
    case 'companyProfileInfo': {
      if (!isRecord(value)) return [typeProblem(path, 'object', value)];
      const problems: ReportProblem[] = [];
      for (const [key, format] of [
        ['naturezaJuridica', NATUREZA_JURIDICA],
        ['porteEmpresa', PORTE_EMPRESA],
      ] as const) {
        if (!has(value, key)) problems.push(problem(`${path}.${key}`, 'additionalInfo.missingKey', `Missing property: ${path}.${key}`));
        else problems.push(...valueProblems(`${path}.${key}`, value[key], format, options));
      }
      for (const key of presentKeys(value)) {
        if (key !== 'naturezaJuridica' && key !== 'porteEmpresa') problems.push(...valueProblems(`${path}.${key}`, value[key], ANY_STRING, options));
      }
      return problems;
    }
    case 'statusSummary': {
      if (!isRecord(value)) return [typeProblem(path, 'object', value)];
      return presentKeys(value).flatMap((key) => {
        const count = value[key];
        if (typeof count === 'string' && COUNT_PATTERN.test(count)) return [];
        return [problem(`${path}.${key}`, 'additionalInfo.statusSummary.count', `Invalid format: ${path}.${key}: must be a count written as a string of digits`, count)];
      });
    }
    case 'paymentList': {
      if (!Array.isArray(value)) return [typeProblem(path, 'array', value)];
      const problems: ReportProblem[] = [];
      if (value.length > PAYMENT_LIST_MAX) {
        problems.push(problem(path, 'additionalInfo.paymentList.maxItems', `Invalid field value: ${path}: at most ${PAYMENT_LIST_MAX} items, received ${value.length}`, value.length));
      }
      value.forEach((item: unknown, i) => {
        if (!isRecord(item)) problems.push(typeProblem(`${path}.${i}`, 'object', item));
        else for (const key of presentKeys(item)) problems.push(...valueProblems(`${path}.${i}.${key}`, item[key], ANY_STRING, options));
      });
      return problems;
    }
  }
}

// ───────────────────────────────────────────── problems and small helpers ─────────────────────────────────────────────

function problem(field: string, rule: string, message: string, value?: unknown): ReportProblem {
  return value === undefined ? { field, rule, message } : { field, rule, message, value };
}

const requiredProblem = (): ReportProblem => problem('additionalInfo', 'additionalInfo.required', 'Invalid type: additionalInfo: Required');

const objectTypeProblem = (value: unknown): ReportProblem =>
  problem('additionalInfo', 'additionalInfo.type', `Invalid type: additionalInfo: Expected object, received ${jsonType(value)}`, value);

const emptyProblem = (): ReportProblem => problem('additionalInfo', 'additionalInfo.notEmpty', 'additionalInfo should not be empty', {});

const missingProblem = (key: string): ReportProblem =>
  problem(`additionalInfo.${key}`, 'additionalInfo.missingKey', `Missing property: additionalInfo.${key}`);

const tokenIdMissingProblem = (): ReportProblem =>
  problem(
    'additionalInfo.tokenId',
    'additionalInfo.tokenId.missing',
    'Missing property: additionalInfo.tokenId (§4.5; post the call\'s accessToken or Authorization with PCM_TOKEN_ID_PEPPER_FILE set, and the sidecar computes it)',
  );

const unrecognizedProblem = (key: string, value: unknown): ReportProblem =>
  problem(`additionalInfo.${key}`, 'additionalInfo.unknownKey', `Invalid format: additionalInfo: Unrecognized key(s) in object: '${key}'`, value);

const typeProblem = (path: string, expected: 'string' | 'object' | 'array', value: unknown): ReportProblem =>
  problem(path, 'additionalInfo.valueType', `Invalid type: ${path}: Expected ${expected}, received ${jsonType(value)}`, value);

function isRecord(value: unknown): value is Info {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A key counts as sent when it is an own property with a value; `undefined` disappears in JSON. */
function has(info: Info, key: string): boolean {
  return Object.hasOwn(info, key) && info[key] !== undefined;
}

function presentKeys(info: Info): string[] {
  return Object.keys(info).filter((key) => info[key] !== undefined);
}

function ownValue<T>(record: Readonly<Record<string, T>> | undefined, key: string): T | undefined {
  return record !== undefined && Object.hasOwn(record, key) ? record[key] : undefined;
}
