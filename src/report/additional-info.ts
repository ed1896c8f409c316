import { isIP } from 'node:net';
import {
  clientRuleFor,
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
  type KeyForbidden,
  type KeyGroup,
  type KeyRequirement,
  type ValueFormat,
} from './additional-info-rules.js';
import { jsonType, type ReportProblem } from './problem.js';

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

/** Every reason the PCM would refuse (or mis-read) this additionalInfo, added to `problems`; none when it is fine. */
export function additionalInfoProblems(
  info: unknown,
  context: AdditionalInfoContext,
  options: AdditionalInfoOptions = ADDITIONAL_INFO_DEFAULTS,
  problems: ReportProblem[] = [],
): ReportProblem[] {
  if (context.stream === 'opendata') opendataProblems(info, options, problems);
  else if (context.role === 'SERVER') serverProblems(info, context, options, problems);
  else clientProblems(info, context, options, problems);
  return problems;
}

// ───────────────────────────────────────────── the rule table, compiled ─────────────────────────────────────────────

type Info = Record<string, unknown>;

const NONE: readonly never[] = [];

/** One endpoint rule as the checks read it, built once at load. */
interface CompiledRule {
  required: readonly KeyRequirement[];
  /** A key is required whatever the status and the other keys: `{}` can never be right for the call. */
  requiresUnconditionally: boolean;
  /** §4.5 applies (the rule does not exempt the endpoint from tokenId). */
  tokenId: boolean;
  groups: readonly KeyGroup[];
  forbidden: readonly KeyForbidden[];
  /** The format of every key the rule or the table defines, the rule's own first. */
  formats: ReadonlyMap<string, ValueFormat>;
}

const KEY_FORMAT_MAP: ReadonlyMap<string, ValueFormat> = new Map(Object.entries(KEY_FORMATS));
const DISCARD_DOMAIN_MAP: ReadonlyMap<string, readonly string[]> = new Map(Object.entries(DISCARD_DOMAINS));

function compileRule(rule: EndpointRule | undefined): CompiledRule {
  const required = rule?.required ?? NONE;
  return {
    required,
    requiresUnconditionally: required.some((r) => r.when === undefined),
    tokenId: (rule?.tokenId ?? 'required') === 'required',
    groups: rule?.groups ?? NONE,
    forbidden: rule?.forbidden ?? NONE,
    formats: rule?.formats === undefined ? KEY_FORMAT_MAP : new Map([...KEY_FORMAT_MAP, ...Object.entries(rule.formats)]),
  };
}

const COMPILED: ReadonlyMap<EndpointRule, CompiledRule> = new Map([...CURRENT_RULES, ...V12_RULES].map((rule) => [rule, compileRule(rule)]));
/** A call no rule names: tokenId (§4.5) and the key formats still apply. */
const NO_RULE: CompiledRule = compileRule(undefined);

// ───────────────────────────────────────────── per stream / role ─────────────────────────────────────────────

function clientProblems(info: unknown, context: AdditionalInfoContext, options: AdditionalInfoOptions, problems: ReportProblem[]): void {
  // §4.1: required object for CLIENT ("Invalid type: additionalInfo: Required").
  if (info === undefined) {
    problems.push(requiredProblem());
    return;
  }
  if (!isRecord(info)) {
    problems.push(objectTypeProblem(info));
    return;
  }

  const found = clientRuleFor(context.httpMethod, context.endpoint)?.rule;
  const rule = (found === undefined ? undefined : COMPILED.get(found)) ?? NO_RULE;
  const status = context.statusCode;
  const keys = presentKeys(info);
  // §8.3 "should not be empty" only where a key is required whatever the status and the other keys (tokenId aside:
  // whether a token existed is not the PCM's schema): those are the calls for which `{}` can never be right.
  if (keys.length === 0 && rule.requiresUnconditionally) problems.push(emptyProblem());
  let tokenIdListed = false;
  for (const requirement of rule.required) {
    if (!holds(requirement.when, info, status)) continue;
    const key = requirement.key;
    if (key === 'tokenId') tokenIdListed = true;
    if (!has(info, key)) problems.push(key === 'tokenId' ? tokenIdMissingProblem() : missingProblem(key));
  }
  // §4.5: tokenId on every private CLIENT report except 4xx/5xx and the exempted endpoints.
  if (options.requireTokenId && status < 400 && rule.tokenId && !tokenIdListed && !has(info, 'tokenId')) problems.push(tokenIdMissingProblem());
  for (const group of rule.groups) if (holds(group.when, info, status)) groupProblems(group, info, problems);
  for (const forbidden of rule.forbidden) {
    if (!holds(forbidden.when, info, status)) continue;
    for (const key of forbidden.keys) {
      if (has(info, key)) problems.push(problem(`additionalInfo.${key}`, 'additionalInfo.forbiddenKey', `Invalid field value: additionalInfo.${key}: ${forbidden.reason}`, info[key]));
    }
  }
  const formats = rule.formats;
  for (const key of keys) keyProblems(key, info[key], formats.get(key) ?? ANY_STRING, options, problems);
}

/** One key's value: the catalogue's enum at discard level first, then its documented format. */
function keyProblems(key: string, value: unknown, format: ValueFormat, options: AdditionalInfoOptions, problems: ReportProblem[]): void {
  const domain = DISCARD_DOMAIN_MAP.get(key);
  if (typeof value === 'string') {
    if (domain !== undefined && !domain.includes(value)) {
      const path = `additionalInfo.${key}`;
      const allowed = domain.map((v) => `'${v}'`).join(' | ');
      problems.push(problem(path, 'additionalInfo.enum', `Invalid enum value: ${path}: Expected ${allowed}, received '${value}'`, value));
      return;
    }
    // The common case, without building the field's path: a string that is fine.
    if ((format.kind === 'string' && textFits(format, value)) || (format.kind === 'ip' && isIP(value) !== 0)) return;
  }
  valueProblems(`additionalInfo.${key}`, value, format, options, problems);
}

function serverProblems(info: unknown, context: AdditionalInfoContext, options: AdditionalInfoOptions, problems: ReportProblem[]): void {
  // §4.4: dropReason on the consent-creation POSTs; elsewhere additionalInfo is optional (§2.3).
  const dropReasonRequired = context.httpMethod === 'POST' && DROP_REASON_ENDPOINTS.includes(context.endpoint);
  if (info === undefined) {
    if (dropReasonRequired) problems.push(missingProblem('dropReason'));
    return;
  }
  if (!isRecord(info)) {
    problems.push(objectTypeProblem(info));
    return;
  }

  const keys = presentKeys(info);
  if (keys.length === 0 && dropReasonRequired) problems.push(emptyProblem());
  if (dropReasonRequired && !has(info, 'dropReason')) problems.push(missingProblem('dropReason'));
  for (const key of keys) {
    if (SERVER_KEYS.includes(key)) continue;
    problems.push(unrecognizedProblem(key, info[key]));
    keyProblems(key, info[key], KEY_FORMAT_MAP.get(key) ?? ANY_STRING, options, problems);
  }
  if (has(info, 'dropReason')) {
    const value = info.dropReason;
    const before = problems.length;
    keyProblems('dropReason', value, DROP_REASON, options, problems);
    const wellFormed = problems.length === before;
    if (wellFormed && !dropReasonRequired) {
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
    if (wellFormed && dropReasonRequired && context.statusCode !== 201 && value !== 'NO_CREDENTIAL') {
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
}

function opendataProblems(info: unknown, options: AdditionalInfoOptions, problems: ReportProblem[]): void {
  // §5: additionalInfo is required in OpendataReportRequest; §4.3 DA: clientIp for every opendata endpoint.
  if (info === undefined) {
    problems.push(requiredProblem());
    return;
  }
  if (!isRecord(info)) {
    problems.push(objectTypeProblem(info));
    return;
  }

  const keys = presentKeys(info);
  if (keys.length === 0) problems.push(emptyProblem());
  if (!has(info, 'clientIp')) problems.push(missingProblem('clientIp'));
  for (const key of keys) {
    // Leaves are strings here too (§4.1); which keys belong is a quality matter.
    if (key !== 'clientIp' && typeof info[key] !== 'string') valueProblems(`additionalInfo.${key}`, info[key], ANY_STRING, options, problems);
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
  if (has(info, 'clientIp')) {
    const clientIp = info.clientIp;
    if (!(typeof clientIp === 'string' && isIP(clientIp) !== 0)) valueProblems('additionalInfo.clientIp', clientIp, IP, options, problems);
  }
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

function groupProblems(group: KeyGroup, info: Info, problems: ReportProblem[]): void {
  const present: string[] = [];
  for (const key of group.keys) if (has(info, key)) present.push(key);
  const field = `additionalInfo.${group.keys.join('|')}`;
  if (present.length === 0 && group.mode !== 'atMostOne') {
    problems.push(problem(field, 'additionalInfo.keyGroup', `Missing property: ${group.keys.map((k) => `additionalInfo.${k}`).join(' or ')}`));
  } else if (present.length > 1 && group.mode !== 'atLeastOne') {
    const values = Object.fromEntries(present.map((k) => [k, info[k]]));
    problems.push(problem(field, 'additionalInfo.keyGroup', `Invalid field value: additionalInfo: ${present.join(' and ')} are mutually exclusive, send only one`, values));
  }
}

// ───────────────────────────────────────────── value formats ─────────────────────────────────────────────

const ANY_STRING: ValueFormat = { kind: 'string' };
const IP: ValueFormat = { kind: 'ip' };
const DROP_REASON: ValueFormat = { kind: 'string', enum: DROP_REASONS };
const PORTE_EMPRESA: ValueFormat = { kind: 'string', enum: ['00', '01', '03', '05'] };
const NATUREZA_JURIDICA: ValueFormat = { kind: 'string', pattern: /^\d{4}$/, patternText: 'a 4-digit code (^\\d{4}$)' };
const COMPANY_PROFILE_KEYS = [
  ['naturezaJuridica', NATUREZA_JURIDICA],
  ['porteEmpresa', PORTE_EMPRESA],
] as const;
const COUNT_PATTERN = /^\d+$/;
/** PCM-current paymentList.maxItems: "Para o mesmo consentId não podem ser reportados … mais do que 60 paymentId". */
const PAYMENT_LIST_MAX = 60;

/** A string that raises nothing under a `string` format (what valueProblems checks, in its order, as one test). */
function textFits(format: Extract<ValueFormat, { kind: 'string' }>, value: string): boolean {
  return (
    !(format.nonEmpty && value === '') &&
    !(format.enum && !format.enum.includes(value)) &&
    !(format.maxLength !== undefined && value.length > format.maxLength) &&
    !(format.pattern && !format.pattern.test(value))
  );
}

function valueProblems(path: string, value: unknown, format: ValueFormat, options: AdditionalInfoOptions, problems: ReportProblem[]): void {
  switch (format.kind) {
    case 'string': {
      if (typeof value !== 'string') problems.push(typeProblem(path, 'string', value));
      else if (format.nonEmpty && value === '') problems.push(problem(path, 'additionalInfo.format', `Missing property, ${path} can't be empty`, value));
      else if (format.enum && !format.enum.includes(value)) {
        const allowed = format.enum.map((v) => `'${v}'`).join(' | ');
        problems.push(problem(path, 'additionalInfo.domain', `Invalid enum value: ${path}: Expected ${allowed}, received '${value}'`, value));
      } else if (format.maxLength !== undefined && value.length > format.maxLength) {
        problems.push(problem(path, 'additionalInfo.format', `Invalid format: ${path}: must be at most ${format.maxLength} characters, received ${value.length}`, value));
      } else if (format.pattern && !format.pattern.test(value)) {
        problems.push(problem(path, 'additionalInfo.format', `Invalid format: ${path}: must be ${format.patternText ?? format.pattern.source}`, value));
      }
      return;
    }
    case 'ip': {
      if (typeof value !== 'string') problems.push(typeProblem(path, 'string', value));
      else if (isIP(value) === 0) problems.push(problem(path, 'additionalInfo.format', `Invalid format: ${path}: must be an IPv4 or IPv6 address`, value));
      return;
    }
    case 'errorCodes': {
      if (options.errorCodesAs === 'string') {
        valueProblems(path, value, ANY_STRING, options, problems);
        return;
      }
      if (!Array.isArray(value)) {
        problems.push(typeProblem(path, 'array', value));
        return;
      }
      // Indices as forEach visits them (a hole is skipped, as flatMap skipped it).
      for (let i = 0; i < value.length; i++) if (i in value) valueProblems(`${path}.${i}`, value[i], ANY_STRING, options, problems);
      if (value.length > 1) {
        problems.push(problem(path, 'additionalInfo.errorCodes.single', `Invalid field value: ${path}: must hold a single error code, received ${value.length}`, value));
      }
      return;
    }
    case 'companyProfileInfo': {
      if (!isRecord(value)) {
        problems.push(typeProblem(path, 'object', value));
        return;
      }
      for (const [key, format] of COMPANY_PROFILE_KEYS) {
        if (!has(value, key)) problems.push(problem(`${path}.${key}`, 'additionalInfo.missingKey', `Missing property: ${path}.${key}`));
        else valueProblems(`${path}.${key}`, value[key], format, options, problems);
      }
      for (const key of presentKeys(value)) {
        if (key !== 'naturezaJuridica' && key !== 'porteEmpresa') valueProblems(`${path}.${key}`, value[key], ANY_STRING, options, problems);
      }
      return;
    }
    case 'statusSummary': {
      if (!isRecord(value)) {
        problems.push(typeProblem(path, 'object', value));
        return;
      }
      for (const key of presentKeys(value)) {
        const count = value[key];
        if (typeof count === 'string' && COUNT_PATTERN.test(count)) continue;
        problems.push(problem(`${path}.${key}`, 'additionalInfo.statusSummary.count', `Invalid format: ${path}.${key}: must be a count written as a string of digits`, count));
      }
      return;
    }
    case 'paymentList': {
      if (!Array.isArray(value)) {
        problems.push(typeProblem(path, 'array', value));
        return;
      }
      if (value.length > PAYMENT_LIST_MAX) {
        problems.push(problem(path, 'additionalInfo.paymentList.maxItems', `Invalid field value: ${path}: at most ${PAYMENT_LIST_MAX} items, received ${value.length}`, value.length));
      }
      for (let i = 0; i < value.length; i++) {
        if (!(i in value)) continue;
        const item: unknown = value[i];
        if (!isRecord(item)) problems.push(typeProblem(`${path}.${i}`, 'object', item));
        else for (const key of presentKeys(item)) valueProblems(`${path}.${i}.${key}`, item[key], ANY_STRING, options, problems);
      }
      return;
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

/** The keys that count as sent, in order (one array; a second only when some key holds undefined). */
function presentKeys(info: Info): string[] {
  const keys = Object.keys(info);
  for (const key of keys) if (info[key] === undefined) return keys.filter((k) => info[k] !== undefined);
  return keys;
}
