import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { fileURLToPath } from 'node:url';

/**
 * The emulator's own item validation, written apart from the sidecar's (src/report/) on purpose, from the OpenAPI
 * models and pcm-rules.md §8 — so that each can catch the other's mistakes. Two severities, as the real PCM has:
 *
 *   - discard: the item is answered DISCARDED, with the PCM's wording (`<type>: <detail>`, several joined by `; `).
 *     Exactly the schema-level checks and the discard catalogue of §8.3 — nothing else is a discard.
 *   - quality: the item is ACCEPTED, and a finding is recorded (the PCM's data-quality dashboard; §8.3, last
 *     paragraph: the "Regras de Validação" pages are quality checks, not discards). Only computed for accepted items.
 *
 * Every lookup keyed by what a participant sent goes through Object.hasOwn, a Map or a Set: JSON.parse makes
 * `{"__proto__": …}`, `{"constructor": …}` or `{"toString": …}` ordinary own keys, and none of them may reach
 * Object.prototype. Values are never stringified without a type check (`show`).
 */

const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const NIL_UUID = '00000000-0000-0000-0000-000000000000';
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const SAFE_TEXT_200 = /^[- /:_.',0-9a-zA-Z]{0,200}$/;
const SAFE_TEXT_100 = /^[- /:_.',0-9a-zA-Z]{0,100}$/;
const METHODS: ReadonlySet<string> = new Set(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']);
const METHODS_TEXT = "'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'";
const SEVEN_DAYS_MS = 7 * 24 * 60 * 60 * 1000;
const FUTURE_TOLERANCE_MS = 5 * 60 * 1000;
/** §4.1 (quality): consentId / enrollmentId / recurringConsentId. */
const URN = /^urn:[a-zA-Z0-9][a-zA-Z0-9-]{0,31}:[a-zA-Z0-9()+,\-.:=@;$_!*'%/?#]+$/;
/** §4.5 (quality): base64url of 9 bytes. */
const TOKEN_ID = /^[A-Za-z0-9_-]{12}$/;
const NOT_AN_OBJECT = 'Invalid payload format: item must be an object';
const NOT_EMPTY = 'additionalInfo should not be empty';

const CLIENT_REQUIRED = [
  'fapiInteractionId', 'endpoint', 'statusCode', 'httpMethod', 'additionalInfo', 'timestamp', 'processTimespan',
  'clientSSId', 'clientOrgId', 'serverOrgId', 'endpointUriPrefix', 'role',
];
const CLIENT_OPTIONAL = ['correlationId'];
const SERVER_REQUIRED = [
  'fapiInteractionId', 'endpoint', 'statusCode', 'httpMethod', 'timestamp', 'processTimespan', 'clientOrgId', 'serverOrgId', 'role',
];
// ServerReportRequest defines correlationId ("Não utilizado pelo server"): unused, but a schema-strict validator built
// from that model accepts it, and the discard catalogue (§8.3) lists no "Unrecognized key(s) … 'correlationId'".
const SERVER_OPTIONAL = ['additionalInfo', 'correlationId'];
const CLIENT_ALLOWED: ReadonlySet<string> = new Set([...CLIENT_REQUIRED, ...CLIENT_OPTIONAL]);
const SERVER_ALLOWED: ReadonlySet<string> = new Set([...SERVER_REQUIRED, ...SERVER_OPTIONAL]);

/**
 * UUID-valued keys, and what the PCM says when one is the nil UUID: fapiInteractionId has its own message (§3.4);
 * an all-zeros organisation or software statement is not in the Directory (§2.4, §8.3). The serverOrgId wording is
 * by analogy with the clientOrgId one (the catalogue shows no server-side variant).
 */
const UUID_KEYS: ReadonlyMap<string, string> = new Map([
  ['fapiInteractionId', `fapiInteractionId mismatch. Ensure the ID is not "${NIL_UUID}."`],
  ['clientOrgId', 'invalid value: Client organization ID not in directory'],
  ['serverOrgId', 'invalid value: Server organization ID not in directory'],
  ['clientSSId', 'Invalid value: Client SSID not found in combined org IDs'],
]);

type EndpointData = { private: { template: string }[]; opendata: { template: string }[] };

/** The accepted lists as data (the same file operators update), read here without the sidecar's code. */
export const DEFAULT_ENDPOINTS_FILE = fileURLToPath(new URL('../../data/catalog/endpoints.json', import.meta.url));

export interface AcceptedEndpoints {
  private: Set<string>;
  opendata: Set<string>;
}

export function loadAcceptedEndpoints(file = DEFAULT_ENDPOINTS_FILE): AcceptedEndpoints {
  const data = JSON.parse(readFileSync(file, 'utf8')) as EndpointData;
  return { private: new Set(data.private.map((e) => e.template)), opendata: new Set(data.opendata.map((e) => e.template)) };
}

/** §13 item 6: `string` (one code, changelog 23/01/2026, SV discard "Expected string") or `array` (SG `errorCodes.0`). */
export type ErrorCodesAs = 'string' | 'array';

export interface CheckContext {
  /** Reception time, for the 7-day and 5-minute rules. */
  now: number;
  endpoints: AcceptedEndpoints;
  /** How additionalInfo.errorCodes must be sent; `string` when absent. */
  errorCodesAs?: ErrorCodesAs | undefined;
}

/** The emulator's quality rules (stable ids, served at GET /emulator/quality). */
export const QUALITY_RULES = {
  /** §4.1: consentId / enrollmentId / recurringConsentId follow the URN pattern. */
  urn: 'consentId, enrollmentId and recurringConsentId are URNs',
  /** §4.5: tokenId on CLIENT reports below 400, except /register*, /revocation, /introspection, PAR, admin, discovery. */
  'tokenId.missing': 'tokenId on private CLIENT reports with statusCode < 400',
  /** §4.5: base64url of the first 9 bytes of a SHA-256 → 12 characters. */
  'tokenId.format': 'tokenId is 12 base64url characters',
  /** §4.1 "Nota sobre consentId no endpoint /token": never for client_credentials. */
  'token.clientCredentials': 'no consentId / enrollmentId on /token with grantType CLIENT_CREDENTIALS',
  /** §4.4: the server sends dropReason on the consent-creation POSTs. */
  'dropReason.missing': 'SERVER dropReason on the consent-creation POSTs',
  /** §4.4: NO_CREDENTIAL when the answer is not 201. */
  'dropReason.noCredential': 'dropReason NO_CREDENTIAL when statusCode is not 201',
  /** §4.4: dropReason belongs to the consent-creation POSTs only. */
  'dropReason.outsideCreation': 'dropReason only on the consent-creation POSTs',
  /** §2.3 / §4.1: dropReason is the only key the server schema defines. */
  'server.unknownKey': 'SERVER additionalInfo holds dropReason only',
  /** §4.3: companyProfileInfo for PJ on consent creation (consents v3, payments v4/v5, enrollments v2). */
  'companyProfileInfo.missing': 'companyProfileInfo when personType is PJ on consent creation',
  /** §4.3 DA: clientIp on every opendata report. */
  'opendata.clientIp.missing': 'opendata additionalInfo.clientIp',
  /** §4.2: clientIp is the caller's IPv4 or IPv6 address. */
  'opendata.clientIp.format': 'opendata clientIp is an IP address',
} as const;

export type QualityRule = keyof typeof QUALITY_RULES;

export interface Finding {
  rule: QualityRule;
  field: string;
  message: string;
}

export interface CheckResult {
  /** The DISCARDED message, or null when the PCM accepts the item. */
  discard: string | null;
  /** Quality findings of an accepted item (always empty for a discarded one). */
  quality: Finding[];
}

// ───────────────────────────────────────────── small helpers ─────────────────────────────────────────────

type Json = Record<string, unknown>;

function isRecord(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** An own property's value; never one inherited from Object.prototype. */
function own(object: Json, key: string): unknown {
  return Object.hasOwn(object, key) ? object[key] : undefined;
}

/** The keys that survive JSON serialisation (an `undefined` value disappears), with their values. */
function sentEntries(object: Json): [string, unknown][] {
  return Object.entries(object).filter(([, value]) => value !== undefined);
}

/** zod's names for JSON types, as the PCM prints them ("received boolean", "received array", "received null"). */
function typeName(value: unknown): string {
  return value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
}

/** A value for a message, without calling anything the sender controls (`String(x)` can throw on an object). */
function show(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value !== 'object' && typeof value !== 'function') return String(value);
  try {
    const text = JSON.stringify(value);
    if (typeof text === 'string') return text;
  } catch {
    // a cycle or a throwing toJSON: fall back to the type
  }
  return typeName(value);
}

const quoted = (values: Iterable<string>): string => [...values].map((v) => `'${v}'`).join(' | ');

// ───────────────────────────────────────────── (method, endpoint) tables ─────────────────────────────────────────────

/** An anchored alternation of endpoint patterns, `{` and `}` written as themselves. */
function endpoints(...patterns: string[]): RegExp {
  return new RegExp(`^(?:${patterns.map((p) => p.replace(/[{}]/g, (c) => `\\${c}`)).join('|')})$`);
}

/**
 * §4.3: the CLIENT calls that have a key required unconditionally, so `additionalInfo: {}` is "additionalInfo should
 * not be empty". Everything else (/register GET/DELETE, /revocation, /introspection, PAR, admin, discovery, the
 * per-consent payment lists, methods not listed) takes `{}`.
 */
const NON_EMPTY_CLIENT: ReadonlyMap<string, RegExp> = new Map([
  [
    'GET',
    endpoints(
      // DC data: consentId on every call.
      '/open-banking/accounts/v2/accounts(/{accountId}(/(balances|transactions|transactions-current|overdraft-limits))?)?',
      '/open-banking/credit-cards-accounts/v2/accounts(/{creditCardAccountId}(/(limits|transactions|transactions-current|bills|bills/{billId}/transactions))?)?',
      '/open-banking/customers/v2/(personal|business)/(identifications|qualifications|financial-relations)',
      '/open-banking/(loans|financings|invoice-financings|unarranged-accounts-overdraft)/v2/contracts(/{contractId}(/(payments|scheduled-instalments|warranties))?)?',
      '/open-banking/(funds|bank-fixed-incomes|credit-fixed-incomes|variable-incomes|treasure-titles)/v1/investments(/{investmentId}(/(balances|transactions|transactions-current))?)?',
      '/open-banking/variable-incomes/v1/broker-notes/{brokerNoteId}',
      '/open-banking/exchanges/v1/operations(/{operationId}(/events)?)?',
      '/open-banking/resources/v3/resources',
      // Consents, payments, enrollments, Pix Automático.
      '/open-banking/consents/v3/consents/{consentId}(/extensions)?',
      '/open-banking/payments/v[45]/(consents/{consentId}|pix/payments/{paymentId})',
      '/open-banking/enrollments/v2/enrollments/{enrollmentId}',
      '/open-banking/automatic-payments/v2/(recurring-consents/{recurringConsentId}|pix/recurring-payments(/{recurringPaymentId})?)',
    ),
  ],
  [
    'POST',
    endpoints(
      '/open-banking/consents/v3/consents(/{consentId}/extends)?',
      '/open-banking/payments/v[45]/(consents|pix/payments)',
      '/open-banking/enrollments/v2/(enrollments(/{enrollmentId}/(risk-signals|fido-registration-options|fido-registration|fido-sign-options))?|consents/{consentId}/authorise|recurring-consents/{recurringConsentId}/authorise)',
      '/open-banking/automatic-payments/v2/(recurring-consents|pix/recurring-payments(/{originalRecurringPaymentId}/retry)?)',
      '/token',
      '/register',
    ),
  ],
  ['PUT', endpoints('/register(/{clientId})?')],
  [
    'PATCH',
    endpoints(
      '/open-banking/payments/v[45]/pix/payments/{paymentId}',
      '/open-banking/enrollments/v2/enrollments/{enrollmentId}',
      '/open-banking/automatic-payments/v2/(recurring-consents/{recurringConsentId}|pix/recurring-payments/{recurringPaymentId})',
    ),
  ],
  ['DELETE', endpoints('/open-banking/consents/v3/consents/{consentId}')],
]);

/** §4.4: the consent-creation POSTs, where the server reports dropReason. */
const CONSENT_CREATION: ReadonlySet<string> = new Set([
  '/open-banking/consents/v3/consents',
  '/open-banking/payments/v4/consents',
  '/open-banking/payments/v5/consents',
  '/open-banking/enrollments/v2/enrollments',
  '/open-banking/automatic-payments/v2/recurring-consents',
]);

/** §4.3: the consent creations whose PJ reports carry companyProfileInfo (consents v3, payments v4/v5, enrollments v2). */
const COMPANY_PROFILE_CREATION: ReadonlySet<string> = new Set([
  '/open-banking/consents/v3/consents',
  '/open-banking/payments/v4/consents',
  '/open-banking/payments/v5/consents',
  '/open-banking/enrollments/v2/enrollments',
]);

/** §4.5: no tokenId is owed on these (no access token of the transmitter is involved, or the API is public). */
const TOKEN_ID_EXEMPT = endpoints('/register(/{clientId})?', '/revocation', '/introspection', '/pushed-authorization-request', '/open-banking/(admin|discovery)/.*');

function mustNotBeEmpty(role: 'CLIENT' | 'SERVER', method: unknown, endpoint: unknown): boolean {
  if (typeof method !== 'string' || typeof endpoint !== 'string') return false;
  if (role === 'SERVER') return method === 'POST' && CONSENT_CREATION.has(endpoint);
  return NON_EMPTY_CLIENT.get(method)?.test(endpoint) ?? false;
}

// ───────────────────────────────────────────── private reports ─────────────────────────────────────────────

/** Discard and quality verdict of a private report (`POST /report-api/v1/private/report`). */
export function checkReport(item: unknown, context: CheckContext): CheckResult {
  const errors = privateErrors(item, context);
  if (errors.length > 0) return { discard: errors.join('; '), quality: [] };
  return { discard: null, quality: privateQuality(item as Json) };
}

/** Returns the DISCARDED message for `item`, or null when the PCM would accept it. */
export function discardReason(item: unknown, context: CheckContext): string | null {
  return privateErrors(item, context).join('; ') || null;
}

function privateErrors(item: unknown, context: CheckContext): string[] {
  if (!isRecord(item)) return [NOT_AN_OBJECT];
  const report = item;
  const value = (key: string): unknown => own(report, key);
  const has = (key: string): boolean => value(key) !== undefined && value(key) !== null;

  const role = value('role');
  if (role === undefined || role === null) return ['Missing fields: role'];
  if (role !== 'CLIENT' && role !== 'SERVER') return [`Invalid enum value. Expected 'SERVER' | 'CLIENT', received '${show(role)}'`];
  const required = role === 'CLIENT' ? CLIENT_REQUIRED : SERVER_REQUIRED;
  const allowed = role === 'CLIENT' ? CLIENT_ALLOWED : SERVER_ALLOWED;
  const errors: string[] = [];

  const missing = required.filter((key) => !has(key));
  if (missing.length > 0) errors.push(`Missing fields: ${missing.join(', ')}`);
  const unknown = sentEntries(report).map(([key]) => key).filter((key) => !allowed.has(key));
  if (unknown.length > 0) errors.push(`Invalid format: : Unrecognized key(s) in object: ${unknown.map((k) => `'${k}'`).join(', ')}`);

  for (const [key, nilMessage] of UUID_KEYS) {
    if (!allowed.has(key) || !has(key)) continue;
    const id = value(key);
    if (typeof id !== 'string' || !UUID.test(id)) errors.push(`Invalid format: ${key}: Invalid uuid`);
    else if (id === NIL_UUID) errors.push(nilMessage);
  }
  if (has('endpoint')) endpointErrors(value('endpoint'), context.endpoints.private, errors);
  if (has('statusCode')) statusCodeErrors(value('statusCode'), errors);
  if (has('httpMethod')) methodErrors(value('httpMethod'), errors);
  if (has('processTimespan')) timespanErrors(value('processTimespan'), errors);
  if (has('timestamp')) timestampErrors(value('timestamp'), context.now, errors);
  if (role === 'CLIENT' && has('endpointUriPrefix')) {
    const prefix = value('endpointUriPrefix');
    if (typeof prefix !== 'string' || prefix === '' || !SAFE_TEXT_200.test(prefix)) errors.push('Invalid field value: endpointUriPrefix');
  }
  // Allowed for both roles; null is a discard like every null value.
  const correlationId = value('correlationId');
  if (correlationId !== undefined && (typeof correlationId !== 'string' || !SAFE_TEXT_100.test(correlationId))) {
    errors.push('Invalid correlationId format');
  }
  const info = value('additionalInfo');
  if (info === null && role === 'SERVER') errors.push('Invalid type: additionalInfo: Expected object, received null'); // CLIENT: missing above
  else if (info !== undefined && info !== null) {
    if (!isRecord(info)) errors.push(`Invalid type: additionalInfo: Expected object, received ${typeName(info)}`);
    else {
      if (sentEntries(info).length === 0 && mustNotBeEmpty(role, value('httpMethod'), value('endpoint'))) errors.push(NOT_EMPTY);
      additionalInfoErrors(info, context.errorCodesAs ?? 'string', errors);
    }
  }
  return errors;
}

/** §4.1: leaf values are strings, but for these. */
const LEAF_SHAPES: ReadonlyMap<string, 'companyProfileInfo' | 'statusSummary' | 'paymentList' | 'errorCodes'> = new Map([
  ['companyProfileInfo', 'companyProfileInfo'],
  ['statusSummary', 'statusSummary'],
  ['paymentList', 'paymentList'],
  ['errorCodes', 'errorCodes'],
] as const);

/**
 * Enumerations the discard catalogue (§8.3) shows the PCM checking, wherever the key appears in additionalInfo, with
 * the documented domains (§13 item 7: the catalogue's narrower lists are messages of older validator versions).
 */
const ADDITIONAL_INFO_ENUMS: ReadonlyMap<string, ReadonlySet<string>> = new Map([
  ['personType', new Set(['PF', 'PJ'])],
  ['grantType', new Set(['AUTHORIZATION_CODE', 'CLIENT_CREDENTIALS', 'REFRESH_TOKEN'])],
  ['dropReason', new Set(['NONE', 'NO_CREDENTIAL', 'NO_AUTHORITY', 'NO_AUTHORITY_PERSON_MISMATCH', 'CREDENTIAL_UNAVAILABLE'])],
  ['paymentType', new Set(['IMMEDIATE', 'SCHEDULED', 'RECURRENT', 'SWEEPING', 'AUTOMATIC', 'WITHDRAW', 'CHANGE'])],
  ['cancelledFrom', new Set(['REJECTED', 'REVOKED', 'INICIADORA', 'DETENTORA'])],
]);

function expectString(path: string, value: unknown, errors: string[]): boolean {
  if (typeof value === 'string') return true;
  errors.push(`Invalid type: ${path}: Expected string, received ${typeName(value)}`);
  return false;
}

function stringValues(path: string, object: Json, errors: string[]): void {
  for (const [key, value] of sentEntries(object)) expectString(`${path}.${key}`, value, errors);
}

/** The additionalInfo checks the discard catalogue shows (§8.3): value types and five enumerations. Unknown keys are fine. */
function additionalInfoErrors(info: Json, errorCodesAs: ErrorCodesAs, errors: string[]): void {
  for (const [key, value] of sentEntries(info)) {
    const path = `additionalInfo.${key}`;
    const shape = LEAF_SHAPES.get(key);
    if (shape === 'companyProfileInfo' || shape === 'statusSummary') {
      if (!isRecord(value)) errors.push(`Invalid type: ${path}: Expected object, received ${typeName(value)}`);
      // statusSummary's counts are strings since 2025D, numbers before: not a discard either way.
      else if (shape === 'companyProfileInfo') stringValues(path, value, errors);
    } else if (shape === 'paymentList') {
      if (!Array.isArray(value)) errors.push(`Invalid type: ${path}: Expected array, received ${typeName(value)}`);
      else {
        for (let i = 0; i < value.length; i++) {
          const entry: unknown = value[i];
          if (!isRecord(entry)) errors.push(`Invalid type: ${path}.${i}: Expected object, received ${typeName(entry)}`);
          else stringValues(`${path}.${i}`, entry, errors);
        }
      }
    } else if (shape === 'errorCodes' && errorCodesAs === 'array') {
      if (!Array.isArray(value)) errors.push(`Invalid type: ${path}: Expected array, received ${typeName(value)}`);
      else for (let i = 0; i < value.length; i++) expectString(`${path}.${i}`, value[i], errors);
    } else if (expectString(path, value, errors)) {
      const domain = ADDITIONAL_INFO_ENUMS.get(key);
      if (domain && !domain.has(value as string)) errors.push(`Invalid enum value. Expected ${quoted(domain)}, received '${value as string}'`);
    }
  }
}

/** The emulator's quality checks of an accepted private report (its shape is valid, so the casts hold). */
function privateQuality(report: Json): Finding[] {
  const findings: Finding[] = [];
  const add = (rule: QualityRule, field: string, message: string): void => void findings.push({ rule, field, message });
  const role = own(report, 'role') as 'CLIENT' | 'SERVER';
  const endpoint = own(report, 'endpoint') as string;
  const method = own(report, 'httpMethod') as string;
  const statusCode = own(report, 'statusCode') as number;
  const rawInfo = own(report, 'additionalInfo');
  const info: Json = isRecord(rawInfo) ? rawInfo : {};
  const get = (key: string): unknown => own(info, key);

  for (const key of ['consentId', 'enrollmentId', 'recurringConsentId']) {
    const id = get(key);
    if (typeof id === 'string' && !URN.test(id)) add('urn', `additionalInfo.${key}`, `Invalid format: additionalInfo.${key}: must be a URN (${URN.source})`);
  }
  const tokenId = get('tokenId');
  if (role === 'CLIENT' && statusCode < 400 && tokenId === undefined && !TOKEN_ID_EXEMPT.test(endpoint)) {
    add('tokenId.missing', 'additionalInfo.tokenId', 'Missing property: additionalInfo.tokenId');
  }
  if (typeof tokenId === 'string' && !TOKEN_ID.test(tokenId)) {
    add('tokenId.format', 'additionalInfo.tokenId', 'Invalid format: additionalInfo.tokenId: must be 12 base64url characters');
  }
  if (endpoint === '/token' && get('grantType') === 'CLIENT_CREDENTIALS') {
    for (const key of ['consentId', 'enrollmentId']) {
      if (get(key) !== undefined) {
        add('token.clientCredentials', `additionalInfo.${key}`, `Invalid field value: additionalInfo.${key} is not sent for grantType CLIENT_CREDENTIALS`);
      }
    }
  }
  const creation = method === 'POST' && CONSENT_CREATION.has(endpoint);
  const dropReason = get('dropReason');
  if (role === 'SERVER' && creation) {
    if (dropReason === undefined) add('dropReason.missing', 'additionalInfo.dropReason', 'Missing property: additionalInfo.dropReason');
    else if (statusCode !== 201 && dropReason !== 'NO_CREDENTIAL') {
      add('dropReason.noCredential', 'additionalInfo.dropReason', `Invalid field value: additionalInfo.dropReason must be 'NO_CREDENTIAL' when statusCode is ${statusCode}`);
    }
  }
  if (dropReason !== undefined && !creation) {
    add('dropReason.outsideCreation', 'additionalInfo.dropReason', 'Invalid field value: additionalInfo.dropReason is only sent on consent-creation POSTs');
  }
  if (role === 'SERVER') {
    for (const [key] of sentEntries(info)) {
      if (key !== 'dropReason') add('server.unknownKey', `additionalInfo.${key}`, `Invalid format: additionalInfo: Unrecognized key(s) in object: '${key}'`);
    }
  }
  if (role === 'CLIENT' && method === 'POST' && COMPANY_PROFILE_CREATION.has(endpoint) && get('personType') === 'PJ' && get('companyProfileInfo') === undefined) {
    add('companyProfileInfo.missing', 'additionalInfo.companyProfileInfo', 'Missing property: additionalInfo.companyProfileInfo (personType PJ)');
  }
  return findings;
}

// ───────────────────────────────────────────── fields shared by both streams ─────────────────────────────────────────────

function endpointErrors(endpoint: unknown, accepted: ReadonlySet<string>, errors: string[]): void {
  if (typeof endpoint !== 'string' || !accepted.has(endpoint)) errors.push(`Unlisted endpoint: ${show(endpoint)}`);
}

function statusCodeErrors(code: unknown, errors: string[]): void {
  if (typeof code !== 'number') errors.push(`Field type mismatch: statusCode: Expected number, received ${typeName(code)}`);
  else if (!Number.isInteger(code) || code < 200 || code > 599) errors.push('Invalid field value: statusCode must be between 200 and 599');
}

function methodErrors(method: unknown, errors: string[]): void {
  if (typeof method !== 'string' || !METHODS.has(method)) errors.push(`Invalid enum value. Expected ${METHODS_TEXT}, received '${show(method)}'`);
}

function timespanErrors(span: unknown, errors: string[]): void {
  if (typeof span !== 'number') errors.push(`Field type mismatch: processTimespan: Expected number, received ${typeName(span)}`);
  else if (!(span > 0)) errors.push('Invalid field value: processTimespan must be greater than zero');
}

/** §3.6: `YYYY-MM-DDTHH:mm:ss.sssZ`, a real instant (no 31 November, no 24:00), within [now − 7 days, now + 5 min]. */
function timestampErrors(ts: unknown, now: number, errors: string[]): void {
  if (typeof ts !== 'string' || !TIMESTAMP.test(ts)) return void errors.push('Invalid field value: Invalid timestamp format');
  const at = Date.parse(ts);
  if (Number.isNaN(at) || new Date(at).toISOString() !== ts) return void errors.push('Invalid field value: Invalid date');
  if (at < now - SEVEN_DAYS_MS) errors.push('Report is too old');
  else if (at > now + FUTURE_TOLERANCE_MS) errors.push('Invalid field value: timestamp is more than 5 minutes in the future');
}

// ───────────────────────────────────────────── opendata ─────────────────────────────────────────────

const OPENDATA_KEYS = ['endpoint', 'statusCode', 'httpMethod', 'timestamp', 'processTimespan', 'additionalInfo'];
const OPENDATA_ALLOWED: ReadonlySet<string> = new Set(OPENDATA_KEYS);

/** Discard and quality verdict of an opendata report (`OpendataReportRequest`: all six fields, nothing else). */
export function checkOpendataReport(item: unknown, context: CheckContext): CheckResult {
  const errors = opendataErrors(item, context);
  if (errors.length > 0) return { discard: errors.join('; '), quality: [] };
  return { discard: null, quality: opendataQuality(item as Json) };
}

/** Returns the DISCARDED message for an opendata `item`, or null when the PCM would accept it. */
export function opendataDiscardReason(item: unknown, context: CheckContext): string | null {
  return opendataErrors(item, context).join('; ') || null;
}

function opendataErrors(item: unknown, context: CheckContext): string[] {
  if (!isRecord(item)) return [NOT_AN_OBJECT];
  const report = item;
  const value = (key: string): unknown => own(report, key);
  const has = (key: string): boolean => value(key) !== undefined && value(key) !== null;
  const errors: string[] = [];
  const missing = OPENDATA_KEYS.filter((key) => !has(key));
  if (missing.length > 0) errors.push(`Missing fields: ${missing.map((k) => `'${k}'`).join(', ')}`);
  const unknown = sentEntries(report).map(([key]) => key).filter((key) => !OPENDATA_ALLOWED.has(key));
  if (unknown.length > 0) errors.push(`Invalid format: : Unrecognized key(s) in object: ${unknown.map((k) => `'${k}'`).join(', ')}`);
  if (has('endpoint')) endpointErrors(value('endpoint'), context.endpoints.opendata, errors);
  if (has('statusCode')) statusCodeErrors(value('statusCode'), errors);
  if (has('httpMethod')) methodErrors(value('httpMethod'), errors);
  if (has('processTimespan')) timespanErrors(value('processTimespan'), errors);
  if (has('timestamp')) timestampErrors(value('timestamp'), context.now, errors);
  const info = value('additionalInfo');
  if (has('additionalInfo')) {
    if (!isRecord(info)) errors.push(`Invalid type: additionalInfo: Expected object, received ${typeName(info)}`);
    else if (sentEntries(info).length === 0) errors.push(NOT_EMPTY);
    else stringValues('additionalInfo', info, errors);
  }
  return errors;
}

function opendataQuality(report: Json): Finding[] {
  const clientIp = own(own(report, 'additionalInfo') as Json, 'clientIp');
  if (clientIp === undefined) return [{ rule: 'opendata.clientIp.missing', field: 'additionalInfo.clientIp', message: 'Missing property: additionalInfo.clientIp' }];
  if (isIP(clientIp as string) === 0) {
    return [{ rule: 'opendata.clientIp.format', field: 'additionalInfo.clientIp', message: 'Invalid format: additionalInfo.clientIp: must be an IPv4 or IPv6 address' }];
  }
  return [];
}
