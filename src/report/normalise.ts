import { KEY_FORMATS } from './additional-info-rules.js';
import { BEARER_IN_TEXT, isSecretKey, looksLikeToken, REDACTED } from './secrets.js';
import type { EndpointTemplates } from './template.js';

/**
 * Repairs that cannot change what a report means, applied before validation and counted per kind.
 * Anything else that is wrong is left for validation to refuse: guessing would hide a gateway bug.
 */

export const REPAIR_KINDS = [
  /** A concrete path or URL in `endpoint` replaced by its catalogue template. */
  'endpoint_templated',
  /** A full request URL in `endpointUriPrefix` cut to scheme, host and the path before /open-banking. */
  'uri_prefix_derived',
  /** A timestamp with another offset, precision, or as epoch ms/µs, rewritten as YYYY-MM-DDTHH:mm:ss.sssZ. */
  'timestamp_normalised',
  /** `role` or `httpMethod` in the wrong case. */
  'enum_case',
  /** A key the SERVER role must not send (clientSSId, endpointUriPrefix, correlationId) removed. */
  'server_key_removed',
  /**
   * A secret in additionalInfo replaced by "[redacted]", so it is neither sent nor stored: the value of a key named
   * like one (authorization, accessToken, …, src/report/secrets.ts), a `tokenId` that is a token rather than a hash
   * (a Bearer value, a JWT; it then gets a quality finding for its format), a `Bearer …` inside any other value. The
   * key stays, so the report means what it did: an additionalInfo that was not empty is not made empty.
   */
  'secret_redacted',
] as const;

export type RepairKind = (typeof REPAIR_KINDS)[number];

export interface NormaliseContext {
  privateTemplates: EndpointTemplates;
  opendataTemplates: EndpointTemplates;
}

export interface Normalised {
  /** The input itself when nothing was repaired (nearly always); a repaired copy otherwise, the input untouched. */
  item: Record<string, unknown>;
  stream: 'private' | 'opendata';
  /** One shared empty list when nothing was repaired: never to be changed by a caller. */
  repairs: readonly RepairKind[];
}

const NO_REPAIRS: readonly RepairKind[] = Object.freeze([]);

const CANONICAL_TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
/** ISO-8601 date-time with an explicit offset; a time without one is ambiguous and is not repaired. */
const ISO_WITH_OFFSET = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/i;
const SERVER_FORBIDDEN_KEYS = ['clientSSId', 'endpointUriPrefix', 'correlationId'];
const ROLES = new Set(['CLIENT', 'SERVER']);
const METHODS = new Set(['GET', 'POST', 'PUT', 'DELETE', 'PATCH']);
const SECURITY_ENDPOINTS = new Set(['/token', '/register', '/register/{clientId}', '/revocation', '/introspection', '/pushed-authorization-request']);

/** Epoch milliseconds or microseconds (as the two ranges that cover 2001–2286); seconds are ambiguous and refused. */
export function normaliseTimestamp(value: unknown): string | null {
  if (typeof value === 'number' && Number.isFinite(value)) {
    const ms = value >= 1e14 ? Math.floor(value / 1000) : value >= 1e12 ? Math.floor(value) : Number.NaN;
    return canonicalAt(ms);
  }
  if (typeof value === 'string' && ISO_WITH_OFFSET.test(value.trim())) {
    // Date.parse keeps milliseconds and drops finer digits; the PCM format has milliseconds only.
    const text = value.trim().replace(/(\.\d{3})\d+/, '$1');
    const ms = Date.parse(text);
    if (Number.isNaN(ms)) return null;
    // Date.parse rolls impossible dates over (02-30 → 03-02): a repair must not change the day.
    const [, y, mo, d] = /^(\d{4})-(\d{2})-(\d{2})/.exec(text) ?? [];
    const local = new Date(Date.UTC(Number(y), Number(mo) - 1, Number(d)));
    if (local.getUTCMonth() !== Number(mo) - 1 || local.getUTCDate() !== Number(d)) return null;
    return canonicalAt(ms);
  }
  return null;
}

/**
 * The canonical text of an instant, or null: beyond year 275760 a Date is invalid (toISOString would throw), and
 * outside years 0000–9999 toISOString writes `+275760-…` / `-000001-…`, which is no PCM timestamp either.
 */
function canonicalAt(ms: number): string | null {
  const date = new Date(ms);
  if (!Number.isFinite(date.getTime())) return null;
  const text = date.toISOString();
  return CANONICAL_TIMESTAMP.test(text) ? text : null;
}

/** `https://host/prefix/open-banking/...` → `https://host/prefix`; for security endpoints the whole URL without query. */
export function uriPrefixOf(url: string, endpoint: string): string | null {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return null;
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') return null;
  const origin = `${parsed.protocol}//${parsed.host}`;
  const path = parsed.pathname.replace(/\/{2,}/g, '/').replace(/\/$/, '');
  if (SECURITY_ENDPOINTS.has(endpoint)) return `${origin}${path}`;
  const at = path.indexOf('/open-banking/');
  if (at < 0) return null;
  return `${origin}${path.slice(0, at)}`;
}


/** `role` / `httpMethod` in upper case when that makes it one of `allowed`; null when there is nothing to repair. */
function upperCased(value: unknown, allowed: ReadonlySet<string>): string | null {
  // A value already in the set is upper case: nothing to do (and no toUpperCase to pay for).
  if (typeof value !== 'string' || allowed.has(value)) return null;
  const upper = value.toUpperCase();
  return upper !== value && allowed.has(upper) ? upper : null;
}

/** Whether a key names a secret, answered at load for the keys the rule table knows (no lower-casing per report). */
const KNOWN_KEY_IS_SECRET: ReadonlyMap<string, boolean> = new Map(Object.keys(KEY_FORMATS).map((key) => [key, isSecretKey(key)]));
const BEARER_WORD = /bearer\s/i;
const BASE64URL = /^[A-Za-z0-9_-]*$/;

/**
 * looksLikeToken for a tokenId, answered without its three patterns for the usual one: base64url characters have no
 * whitespace and no dot (so no JWT), and a first character other than b/B cannot begin "bearer".
 */
function tokenLike(value: string): boolean {
  const first = value.charCodeAt(0);
  if (first !== 98 && first !== 66 && BASE64URL.test(value)) return false;
  return looksLikeToken(value);
}

/** What a value of additionalInfo becomes: REDACTED for a secret, a text with its `Bearer …` redacted, or itself. */
function safeOf(key: string, value: unknown): unknown {
  if ((KNOWN_KEY_IS_SECRET.get(key) ?? isSecretKey(key)) || (key === 'tokenId' && typeof value === 'string' && tokenLike(value))) return REDACTED;
  return typeof value === 'string' && BEARER_WORD.test(value) ? value.replace(BEARER_IN_TEXT, `$1${REDACTED}`) : value;
}

/** A copy of `info` with its secrets redacted, or null when it holds none (nearly every report: look first, copy only then). */
function redacted(info: Record<string, unknown>): Record<string, unknown> | null {
  const keys = Object.keys(info);
  let i = 0;
  // Object.is: a NaN value is no change.
  while (i < keys.length && Object.is(safeOf(keys[i] as string, info[keys[i] as string]), info[keys[i] as string])) i++;
  if (i === keys.length) return null;
  const kept: Record<string, unknown> = {};
  // defineProperty: an own "__proto__" key stays an own key, as it came.
  for (const key of keys) Object.defineProperty(kept, key, { value: safeOf(key, info[key]), enumerable: true, writable: true, configurable: true });
  return kept;
}

export function normaliseReport(input: Record<string, unknown>, context: NormaliseContext): Normalised {
  // Copied on the first repair only: a clean report (nearly all) costs no copy, and a refused one is quarantined as
  // it came either way.
  let item = input;
  let repairs: RepairKind[] | null = null;
  const set = (key: string, value: unknown, kind: RepairKind): void => {
    if (item === input) item = { ...input };
    item[key] = value;
    repairs ??= [];
    if (!repairs.includes(kind)) repairs.push(kind);
  };

  const role = upperCased(item.role, ROLES);
  if (role !== null) set('role', role, 'enum_case');
  const method = upperCased(item.httpMethod, METHODS);
  if (method !== null) set('httpMethod', method, 'enum_case');

  // A report without a role is an opendata report (only the server reports, with its own schema and list).
  const stream = item.role === undefined ? 'opendata' : 'private';
  const templates = stream === 'private' ? context.privateTemplates : context.opendataTemplates;

  if (typeof item.endpoint === 'string' && !templates.has(item.endpoint)) {
    const template = templates.match(item.endpoint);
    if (template !== null) {
      // A full URL in `endpoint` also tells the prefix, when the prefix was not given.
      if (stream === 'private' && item.role === 'CLIENT' && item.endpointUriPrefix === undefined && /^https?:\/\//i.test(item.endpoint)) {
        const prefix = uriPrefixOf(item.endpoint, template);
        if (prefix !== null) set('endpointUriPrefix', prefix, 'uri_prefix_derived');
      }
      set('endpoint', template, 'endpoint_templated');
    }
  }

  if (item.timestamp !== undefined && !(typeof item.timestamp === 'string' && CANONICAL_TIMESTAMP.test(item.timestamp))) {
    const timestamp = normaliseTimestamp(item.timestamp);
    if (timestamp !== null) set('timestamp', timestamp, 'timestamp_normalised');
  }

  if (item.role === 'CLIENT' && typeof item.endpointUriPrefix === 'string' && typeof item.endpoint === 'string') {
    const value = item.endpointUriPrefix;
    if (value.includes('/open-banking/') || value.includes('?') || value.includes('#')) {
      const prefix = uriPrefixOf(value, item.endpoint);
      if (prefix !== null && prefix !== value) set('endpointUriPrefix', prefix, 'uri_prefix_derived');
    }
  }

  const info = item.additionalInfo;
  if (info !== null && typeof info === 'object' && !Array.isArray(info)) {
    const kept = redacted(info as Record<string, unknown>);
    if (kept !== null) set('additionalInfo', kept, 'secret_redacted');
  }

  // Each key by name (a loop over the names would be a keyed lookup per key); the order is SERVER_FORBIDDEN_KEYS'.
  if (item.role === 'SERVER' && ('clientSSId' in item || 'endpointUriPrefix' in item || 'correlationId' in item)) {
    for (const key of SERVER_FORBIDDEN_KEYS) {
      if (key in item) {
        if (item === input) item = { ...input };
        delete item[key];
        repairs ??= [];
        if (!repairs.includes('server_key_removed')) repairs.push('server_key_removed');
      }
    }
  }
  return { item, stream, repairs: repairs ?? NO_REPAIRS };
}
