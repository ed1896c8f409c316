import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * The emulator's own item validation, written apart from the sidecar's (src/report/) on purpose, from the OpenAPI
 * models and pcm-rules.md §8 — so that each can catch the other's mistakes. Messages follow the PCM's wording
 * (`<type>: <detail>`, several joined by `; `).
 */

const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const NIL_UUID = '00000000-0000-0000-0000-000000000000';
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const SAFE_TEXT_200 = /^[- /:_.',0-9a-zA-Z]{0,200}$/;
const SAFE_TEXT_100 = /^[- /:_.',0-9a-zA-Z]{0,100}$/;
const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];
const SEVEN_DAYS_MS = 7 * 24 * 60 * 60 * 1000;
const FUTURE_TOLERANCE_MS = 5 * 60 * 1000;

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

export interface CheckContext {
  /** Reception time, for the 7-day and 5-minute rules. */
  now: number;
  endpoints: AcceptedEndpoints;
}

/** Returns the DISCARDED message for `item`, or null when the PCM would accept it. */
export function discardReason(item: unknown, context: CheckContext): string | null {
  if (item === null || typeof item !== 'object' || Array.isArray(item)) return 'Invalid payload format: item must be an object';
  const report = item as Record<string, unknown>;
  const errors: string[] = [];

  const role = report.role;
  if (role !== 'CLIENT' && role !== 'SERVER') {
    if (role === undefined) return 'Missing fields: role';
    return `Invalid enum value. Expected 'SERVER' | 'CLIENT', received '${String(role)}'`;
  }
  const required = role === 'CLIENT' ? CLIENT_REQUIRED : SERVER_REQUIRED;
  const allowed = new Set([...required, ...(role === 'CLIENT' ? CLIENT_OPTIONAL : SERVER_OPTIONAL)]);

  const missing = required.filter((key) => report[key] === undefined || report[key] === null);
  if (missing.length > 0) errors.push(`Missing fields: ${missing.join(', ')}`);
  const unknown = Object.keys(report).filter((key) => !allowed.has(key));
  if (unknown.length > 0) errors.push(`Invalid format: : Unrecognized key(s) in object: ${unknown.map((k) => `'${k}'`).join(', ')}`);

  const has = (key: string): boolean => report[key] !== undefined && report[key] !== null;
  for (const key of ['fapiInteractionId', 'clientOrgId', 'serverOrgId', 'clientSSId']) {
    if (!has(key) || !allowed.has(key)) continue;
    const value = report[key];
    if (typeof value !== 'string' || !UUID.test(value)) errors.push(`Invalid format: ${key}: Invalid uuid`);
    else if (key === 'fapiInteractionId' && value === NIL_UUID) {
      errors.push(`fapiInteractionId mismatch. Ensure the ID is not "${NIL_UUID}."`);
    }
  }
  if (has('endpoint')) {
    if (typeof report.endpoint !== 'string' || !context.endpoints.private.has(report.endpoint)) {
      errors.push(`Unlisted endpoint: ${String(report.endpoint)}`);
    }
  }
  if (has('statusCode')) {
    const code = report.statusCode;
    if (typeof code !== 'number') errors.push(`Field type mismatch: statusCode: Expected number, received ${typeof code}`);
    else if (!Number.isInteger(code) || code < 200 || code > 599) errors.push('Invalid field value: statusCode must be between 200 and 599');
  }
  if (has('httpMethod') && !METHODS.includes(report.httpMethod as string)) {
    errors.push(`Invalid enum value. Expected 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', received '${String(report.httpMethod)}'`);
  }
  if (has('processTimespan')) {
    const span = report.processTimespan;
    if (typeof span !== 'number') errors.push(`Field type mismatch: processTimespan: Expected number, received ${typeof span}`);
    else if (!(span > 0)) errors.push('Invalid field value: processTimespan must be greater than zero');
  }
  if (has('timestamp')) timestampErrors(report.timestamp, context.now, errors);
  if (role === 'CLIENT' && has('endpointUriPrefix')) {
    const prefix = report.endpointUriPrefix;
    if (typeof prefix !== 'string' || prefix === '' || !SAFE_TEXT_200.test(prefix)) {
      errors.push('Invalid field value: endpointUriPrefix');
    }
  }
  if (has('correlationId') && allowed.has('correlationId')) {
    if (typeof report.correlationId !== 'string' || !SAFE_TEXT_100.test(report.correlationId)) errors.push('Invalid correlationId format');
  }
  if (has('additionalInfo')) {
    const info = report.additionalInfo;
    if (typeof info !== 'object' || Array.isArray(info)) {
      errors.push(`Invalid type: additionalInfo: Expected object, received ${Array.isArray(info) ? 'array' : typeof info}`);
    } else {
      errors.push(...additionalInfoErrors(info as Record<string, unknown>, report.endpoint));
    }
  }
  return errors.length > 0 ? errors.join('; ') : null;
}

/** §4.1: leaf values are strings, but for these (objects, a list). */
const NON_STRING_KEYS: Record<string, 'object' | 'array'> = { companyProfileInfo: 'object', statusSummary: 'object', paymentList: 'array' };
/** Enumerations the discard catalogue (§8.3) shows the PCM checking. */
const ADDITIONAL_INFO_ENUMS: Record<string, readonly string[]> = {
  dropReason: ['NONE', 'NO_CREDENTIAL', 'NO_AUTHORITY', 'NO_AUTHORITY_PERSON_MISMATCH', 'CREDENTIAL_UNAVAILABLE'],
  grantType: ['AUTHORIZATION_CODE', 'CLIENT_CREDENTIALS', 'REFRESH_TOKEN'],
  personType: ['PF', 'PJ'],
};

function typeName(value: unknown): string {
  return value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
}

/** The additionalInfo checks the PCM's discard catalogue shows (§8.3): value types and a few enumerations. */
function additionalInfoErrors(info: Record<string, unknown>, endpoint: unknown): string[] {
  const errors: string[] = [];
  for (const [key, value] of Object.entries(info)) {
    const expected = NON_STRING_KEYS[key] ?? 'string';
    const actual = typeName(value);
    // errorCodes was a list of strings in older texts and is one string now (§13.6); the PCM took both.
    if (key === 'errorCodes' && Array.isArray(value) && value.every((v) => typeof v === 'string')) continue;
    if (actual !== expected) {
      errors.push(`Invalid type: additionalInfo.${key}: Expected ${expected}, received ${actual}`);
      continue;
    }
    const allowed = ADDITIONAL_INFO_ENUMS[key];
    if (allowed && !allowed.includes(value as string)) {
      errors.push(`Invalid enum value. Expected ${allowed.map((v) => `'${v}'`).join(' | ')}, received '${String(value)}'`);
    }
  }
  if (endpoint === '/token' && info.grantType === 'CLIENT_CREDENTIALS' && info.consentId !== undefined) {
    errors.push('Invalid field value: additionalInfo.consentId is not sent for grantType CLIENT_CREDENTIALS');
  }
  return errors;
}

function timestampErrors(ts: unknown, now: number, errors: string[]): void {
  const at = typeof ts === 'string' && TIMESTAMP.test(ts) ? Date.parse(ts) : Number.NaN;
  if (Number.isNaN(at)) errors.push('Invalid field value: Invalid timestamp format');
  else if (at < now - SEVEN_DAYS_MS) errors.push('Report is too old');
  else if (at > now + FUTURE_TOLERANCE_MS) errors.push('Invalid field value: timestamp is more than 5 minutes in the future');
}

const OPENDATA_KEYS = ['endpoint', 'statusCode', 'httpMethod', 'timestamp', 'processTimespan', 'additionalInfo'];

/** Opendata (`OpendataReportRequest`): all six fields required, nothing else; `additionalInfo.clientIp` the caller. */
export function opendataDiscardReason(item: unknown, context: CheckContext): string | null {
  if (item === null || typeof item !== 'object' || Array.isArray(item)) return 'Invalid payload format: item must be an object';
  const report = item as Record<string, unknown>;
  const errors: string[] = [];
  const missing = OPENDATA_KEYS.filter((key) => report[key] === undefined || report[key] === null);
  if (missing.length > 0) errors.push(`Missing fields: ${missing.map((k) => `'${k}'`).join(', ')}`);
  const unknown = Object.keys(report).filter((key) => !OPENDATA_KEYS.includes(key));
  if (unknown.length > 0) errors.push(`Invalid format: : Unrecognized key(s) in object: ${unknown.map((k) => `'${k}'`).join(', ')}`);
  if (typeof report.endpoint === 'string' && !context.endpoints.opendata.has(report.endpoint)) {
    errors.push(`Unlisted endpoint: ${report.endpoint}`);
  }
  const code = report.statusCode;
  if (code !== undefined && (typeof code !== 'number' || !Number.isInteger(code) || code < 200 || code > 599)) {
    errors.push('Invalid field value: statusCode must be between 200 and 599');
  }
  if (report.httpMethod !== undefined && !METHODS.includes(report.httpMethod as string)) {
    errors.push(`Invalid enum value. Expected 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', received '${String(report.httpMethod)}'`);
  }
  const span = report.processTimespan;
  if (span !== undefined && span !== null && (typeof span !== 'number' || !(span > 0))) {
    errors.push('Invalid field value: processTimespan must be greater than zero');
  }
  if (report.timestamp !== undefined && report.timestamp !== null) timestampErrors(report.timestamp, context.now, errors);
  const info = report.additionalInfo;
  if (info !== undefined && info !== null) {
    if (typeof info !== 'object' || Array.isArray(info)) errors.push('Invalid type: additionalInfo: Expected object');
    else if (typeof (info as Record<string, unknown>).clientIp !== 'string') errors.push('Missing property: additionalInfo.clientIp');
  }
  return errors.length > 0 ? errors.join('; ') : null;
}
